"""/members and /invite (filled in by the members slice)."""

from aiogram import Router

router = Router(name=__name__)
