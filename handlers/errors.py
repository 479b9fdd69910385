"""Last lines of defence: a friendly answer for refused actions and unexpected errors (never a
traceback, never silence), and a fallback for input nothing else understood."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.i18n import _, current_locale, ngettext
from bot.notices.cards import fmt_when
from bot.services.access import Actor, Level, NotAllowed
from bot.services.limits import ANNOUNCEMENTS, ANSWERS, INVITES, RELAYS, URGENT_REPORTS, DailyLimitReached
from bot.services.members import MembersService
from handlers.start import ask_join
from models import Member

log = logging.getLogger(__name__)
router = Router(name=__name__)


def not_allowed_text(exc: NotAllowed) -> str:
    needed = exc.needed
    if needed is None or needed <= Level.RESIDENT:
        return _("Sorry, you can't do this here.")
    if needed == Level.VOLUNTEER:
        return _("Only volunteers of this community can do this.")
    if needed == Level.CAPTAIN:
        return _("Only the building's captains (or the area head and office) can do this.")
    if needed == Level.AREA_HEAD:
        return _("Only the area head or office staff can do this.")
    if needed == Level.STAFF:
        return _("Only office staff can do this.")
    return _("Only an admin can do this.")


def limit_text(exc: DailyLimitReached) -> str:
    """One friendly line for a daily cap: what the cap is and when it resets (local midnight)."""
    n, when = exc.limit, fmt_when(exc.resets_at, exc.tz, exc.now)
    sep = "" if current_locale().startswith("zh") else " "  # Chinese sentences run on without a space
    if exc.kind == URGENT_REPORTS:
        text = ngettext("You have sent %(num)d urgent report today, the most one person can send in a day.",
                        "You have sent %(num)d urgent reports today, the most one person can send in a day.", n)
        return text + sep + _("You can send more from {when}. If anyone is in danger, call 119 (fire) or 110 "
                              "(police) now.").format(when=when)
    if exc.kind == ANNOUNCEMENTS:
        text = ngettext("You have sent %(num)d announcement today, the most one person can send in a day.",
                        "You have sent %(num)d announcements today, the most one person can send in a day.", n)
        return text + sep + _("You can send more from {when}.").format(when=when)
    if exc.kind == INVITES:
        text = ngettext("You have made %(num)d invite today, the most one person can make in a day.",
                        "You have made %(num)d invites today, the most one person can make in a day.", n)
        return text + sep + _("You can make more from {when}.").format(when=when)
    if exc.kind == ANSWERS:
        text = ngettext("You have answered %(num)d time about this report today, the most in one day.",
                        "You have answered %(num)d times about this report today, the most in one day.", n)
        return text + sep + _("You can answer again from {when}.").format(when=when)
    if exc.kind == RELAYS:
        text = ngettext("You have sent %(num)d message through the bot today, the most one person can send in a day.",
                        "You have sent %(num)d messages through the bot today, the most one person can send in a "
                        "day.", n)
        return text + sep + _("You can write again from {when}.").format(when=when)
    return _("You have reached today's limit. Please try again from {when}.").format(when=when)


async def _reply(event: ErrorEvent, text: str) -> None:
    update = event.update
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.message is not None:
            await update.message.answer(text)
    except Exception:  # the chat may be gone; nothing more to do
        log.debug("could not tell the user about an error", exc_info=True)


@router.error(ExceptionTypeFilter(NotAllowed))
async def on_not_allowed(event: ErrorEvent) -> None:
    assert isinstance(event.exception, NotAllowed)
    await _reply(event, not_allowed_text(event.exception))


@router.error(ExceptionTypeFilter(DailyLimitReached))
async def on_daily_limit(event: ErrorEvent) -> None:
    assert isinstance(event.exception, DailyLimitReached)
    await _reply(event, limit_text(event.exception))


@router.error(ExceptionTypeFilter(LookupError))
async def on_missing(event: ErrorEvent) -> None:
    await _reply(event, _("I can't find that any more. It may have been removed."))


@router.error()
async def on_error(event: ErrorEvent) -> None:
    log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
    await _reply(event, _("Sorry, something went wrong on my side. Please try again in a moment."))


fallback = Router(name=f"{__name__}.fallback")


@fallback.message(F.chat.type == "private")
async def unknown_private(message: Message, member: Member, actor: Actor, members: MembersService,
                          state: FSMContext) -> None:
    if message.text and message.text.startswith("/"):
        await message.answer(_("I don't know that command. Send /help to see what I can do."))
    elif not actor.grants and not actor.is_admin and await members.pending_join(member) is None \
            and await members.communities():
        # Someone who has not joined yet is at the first step of joining: ask that question.
        await ask_join(message, state, members)
    else:
        await message.answer(_("I'm not sure what to do with that. Send /help to see what I can do, "
                               "or /report to report a problem."))


@fallback.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    await query.answer(_("This button is no longer active."), show_alert=False)
