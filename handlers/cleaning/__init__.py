"""/cleanday (set up, edit, skip, cancel), /cleaning (the next days and who's coming), RSVP buttons,
and recording attendance after the day. Glue only: the rules are in bot/services/cleaning/, the words in
bot/notices/cleaning.py. The routers are included in the order their handlers were written in (the
/cleanday conversation's steps before /cleaning, which is before the after-the-day steps)."""

from __future__ import annotations

from aiogram import Router

from handlers.cleaning import days, new, record

router = Router(name=__name__)
router.include_routers(new.router, days.router, record.router)

__all__ = ["router"]
