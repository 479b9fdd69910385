"""/patrols for volunteers (my shifts, open shifts, take, drop, swap, check in/out, checkpoints,
calendar) and /roster for captains, area heads and staff (routes, shift times, generating, cancelling,
assigning, shift records). Glue only: the rules are in bot/services/patrols/, the words of what the bot
sends on its own in bot/notices/patrols.py.

One router for the capability (private chats only; a rule's refusal becomes a polite answer), made of one
router per seam, included in the order their handlers must be tried."""

from __future__ import annotations

from aiogram import F, Router

from handlers.patrols import duty, my_shifts, planning, routes
from handlers.patrols.common import PatrolRefusals
from handlers.patrols.planning import parse_checkpoints

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")
router.message.middleware(PatrolRefusals())
router.callback_query.middleware(PatrolRefusals())
router.include_routers(my_shifts.router, duty.router, planning.router, routes.router)

__all__ = ["parse_checkpoints", "router"]
