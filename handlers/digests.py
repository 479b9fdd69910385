"""/digest: today's digest now, another day's, or the weekly/monthly report, in a private chat. The digest
is built by the job worker (bot/worker.py, job kind "digest" in bot/notices/digests.py) and sent through the
outbox; the handler answers at once."""

from __future__ import annotations

from datetime import date

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.digests import DigestCb, pack_day, pick_kb, unpack_day
from bot.services.access import Actor, Level, NotAllowed
from bot.services.background import BackgroundService
from bot.services.digests import DigestService, parse_request
from handlers.ledger import still_running
from models import Member

router = Router(name=__name__)


class DigestStates(StatesGroup):
    date = State()


def _ask_date() -> str:
    return _("Which day's digest would you like? Send a date like 2026-11-18 (or 11-18), or choose:")


async def _queue(message: Message, background: BackgroundService, member: Member, locale: str, kind: str,
                 day: date, area: int | None) -> None:
    """Answer at once and let the job worker build the digest (bot/worker.py)."""
    running = await background.running_for(member.id)
    if running is not None:
        await message.answer(still_running(running))
        return
    progress = await message.answer(_("⏳ Preparing the digest…"))
    job = await background.submit(kind="digest", member_id=member.id, chat_id=message.chat.id, locale=locale,
                                  message_id=progress.message_id,
                                  params={"kind": kind, "day": pack_day(day), "area": area or 0})
    if job is None:  # another update of the same person queued one meanwhile
        await progress.edit_text(still_running(await background.running_for(member.id)))


@router.message(Command("digest"), F.chat.type == "private")
async def digest_command(message: Message, command: CommandObject, actor: Actor, member: Member,
                         digests: DigestService, locale: str, state: FSMContext,
                         background: BackgroundService) -> None:
    await state.clear()
    communities = await digests.communities_for(actor, member)
    today = digests.today(communities[0] if communities else None)
    wanted = parse_request(command.args or "", today)
    if wanted is None:
        await message.answer(_("I couldn't read that date."))
        await state.set_state(DigestStates.date)
        await message.answer(_ask_date(), reply_markup=pick_kb(today, None))
        return
    if not communities:
        raise NotAllowed("digest", None, Level.AREA_HEAD)
    kind, day = wanted
    await _queue(message, background, member, locale, kind, day, None)


@router.message(Command("digest"))
async def digest_in_group(message: Message) -> None:
    await message.reply(_("I send digests in a private chat: open a chat with me and send /digest."))


@router.message(StateFilter(DigestStates.date), F.chat.type == "private", F.text)
async def digest_date(message: Message, actor: Actor, member: Member, digests: DigestService, locale: str,
                      state: FSMContext, background: BackgroundService) -> None:
    communities = await digests.communities_for(actor, member)
    today = digests.today(communities[0] if communities else None)
    wanted = parse_request(message.text or "", today)
    if wanted is None or wanted[0] != "daily":
        await message.answer(_("Please send a date like 2026-11-18 (or 11-18)."))
        await message.answer(_ask_date(), reply_markup=pick_kb(today, None))
        return
    await state.clear()
    if not communities:
        raise NotAllowed("digest", None, Level.AREA_HEAD)
    await _queue(message, background, member, locale, "daily", wanted[1], None)


@router.message(StateFilter(DigestStates.date), F.chat.type == "private")
async def digest_date_not_text(message: Message, digests: DigestService) -> None:
    await message.answer(_("Please send a date like 2026-11-18 (or 11-18)."))
    await message.answer(_ask_date(), reply_markup=pick_kb(digests.today(), None))


@router.callback_query(DigestCb.filter(F.kind == "pick"))
async def digest_pick(query: CallbackQuery, callback_data: DigestCb, actor: Actor, member: Member,
                      digests: DigestService, state: FSMContext) -> None:
    communities = await digests.communities_for(actor, member)
    if not communities:
        await query.answer(_("Only the area head or office staff can do this."), show_alert=True)
        return
    await state.set_state(DigestStates.date)
    if isinstance(query.message, Message):
        await query.message.answer(_ask_date(), reply_markup=pick_kb(digests.today(communities[0]),
                                                                     callback_data.area or None))
    await query.answer()


@router.callback_query(DigestCb.filter(F.kind.in_({"daily", "weekly", "monthly"})))
async def digest_button(query: CallbackQuery, callback_data: DigestCb, actor: Actor, member: Member,
                        digests: DigestService, locale: str, state: FSMContext,
                        background: BackgroundService) -> None:
    await state.clear()
    # Callback data is untrusted: requested() re-checks the person's rights for the scope asked.
    communities = await digests.communities_for(actor, member)
    if not communities:
        raise NotAllowed("digest", None, Level.AREA_HEAD)
    day = unpack_day(callback_data.day) or digests.today(communities[0])
    await query.answer()
    if isinstance(query.message, Message):
        await _queue(query.message, background, member, locale, callback_data.kind, day, callback_data.area or None)
