"""/digest: today's digest now, another day's, or the weekly/monthly report, in a private chat."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.digests import DigestCb, digest_nav, pick_kb, unpack_day
from bot.services.access import Actor
from bot.services.digests import DigestService, OnDemand, parse_request
from models import Member

router = Router(name=__name__)


class DigestStates(StatesGroup):
    date = State()


def _ask_date() -> str:
    return _("Which day's digest would you like? Send a date like 2026-11-18 (or 11-18), or choose:")


async def _send(message: Message, result: OnDemand) -> None:
    """The digest as answers to the person's own request: the texts, then the chart or the table."""
    nav = digest_nav(result.day, result.area_id, reports=result.reports,
                     issues=result.issues if result.kind == "daily" else None)
    for i, text in enumerate(result.texts):
        last = i == len(result.texts) - 1 and result.chart is None and not result.files
        await message.answer(text, reply_markup=nav if last else None)
    if result.chart is not None:
        await message.answer_photo(
            BufferedInputFile(result.chart, filename="digest.png"),
            caption=_("New vs. resolved in the last 14 days, and open issues by category."),
            reply_markup=nav if not result.files else None)
    for n, (name, content) in enumerate(result.files):
        await message.answer_document(BufferedInputFile(content, filename=name),
                                      reply_markup=nav if n == len(result.files) - 1 else None)


@router.message(Command("digest"), F.chat.type == "private")
async def digest_command(message: Message, command: CommandObject, actor: Actor, member: Member,
                         digests: DigestService, locale: str, state: FSMContext) -> None:
    await state.clear()
    communities = await digests.communities_for(actor, member)
    today = digests.today(communities[0] if communities else None)
    wanted = parse_request(command.args or "", today)
    if wanted is None:
        await message.answer(_("I couldn't read that date."))
        await state.set_state(DigestStates.date)
        await message.answer(_ask_date(), reply_markup=pick_kb(today, None))
        return
    kind, day = wanted
    await _send(message, await digests.requested(actor, member, kind, day, None, locale))


@router.message(Command("digest"))
async def digest_in_group(message: Message) -> None:
    await message.reply(_("I send digests in a private chat: open a chat with me and send /digest."))


@router.message(StateFilter(DigestStates.date), F.chat.type == "private", F.text)
async def digest_date(message: Message, actor: Actor, member: Member, digests: DigestService, locale: str,
                      state: FSMContext) -> None:
    communities = await digests.communities_for(actor, member)
    today = digests.today(communities[0] if communities else None)
    wanted = parse_request(message.text or "", today)
    if wanted is None or wanted[0] != "daily":
        await message.answer(_("Please send a date like 2026-11-18 (or 11-18)."))
        await message.answer(_ask_date(), reply_markup=pick_kb(today, None))
        return
    await state.clear()
    await _send(message, await digests.requested(actor, member, "daily", wanted[1], None, locale))


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
                        digests: DigestService, locale: str, state: FSMContext) -> None:
    await state.clear()
    # Callback data is untrusted: requested() re-checks the person's rights for the scope asked.
    communities = await digests.communities_for(actor, member)
    day = unpack_day(callback_data.day) or digests.today(communities[0] if communities else None)
    result = await digests.requested(actor, member, callback_data.kind, day, callback_data.area or None, locale)
    await query.answer()
    if isinstance(query.message, Message):
        await _send(query.message, result)
