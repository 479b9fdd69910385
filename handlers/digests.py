"""/digest: today's digest now, another day's, or the weekly/monthly report, in a private chat. The digest
is built by the job worker (bot/worker.py) and sent through the outbox; the handler answers at once."""

from __future__ import annotations

import asyncio
from datetime import date

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.digests import DigestCb, digest_nav, pack_day, pick_kb, unpack_day
from bot.services.access import Actor, Level, NotAllowed
from bot.services.background import BackgroundService, JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.digests import DigestService, OnDemand, parse_request
from handlers.errors import not_allowed_text
from handlers.ledger import still_running
from models import Member

router = Router(name=__name__)


class DigestStates(StatesGroup):
    date = State()


def _ask_date() -> str:
    return _("Which day's digest would you like? Send a date like 2026-11-18 (or 11-18), or choose:")


def _nav_rows(result: OnDemand) -> list[list[tuple[str, str]]]:
    nav = digest_nav(result.day, result.area_id, reports=result.reports,
                     issues=result.issues if result.kind == "daily" else None)
    return [[(b.text, b.callback_data or "") for b in row] for row in nav.inline_keyboard]


@job_kind("digest")
async def digest_job(run: JobRun) -> JobOutcome:
    """A digest on demand, built off the update path (its chart and tables take a while on a big
    community); the rights are checked again now by DigestService.requested()."""
    from bot.services import build_services

    p = run.params
    day = unpack_day(int(p["day"]))
    if day is None:
        raise JobFailed(_("I couldn't read that date."))
    async with run.sessions() as session:
        services = build_services(session, run.clock, run.settings)
        member = await session.get(Member, run.member_id)
        if member is None:
            raise JobFailed(_("Sorry, you can't do this here."))
        actor = await services.members.actor(member)
        try:
            result = await services.digests.requested(actor, member, str(p["kind"]), day, p.get("area") or None,
                                                         run.locale)
        except NotAllowed as exc:
            raise JobFailed(not_allowed_text(exc)) from None
    nav = _nav_rows(result)
    messages: list[JobMessage] = []
    for i, text in enumerate(result.texts):
        last = i == len(result.texts) - 1 and result.chart is None and not result.files
        messages.append(JobMessage(text=text, buttons=nav if last else None))
    if result.chart is not None:
        messages.append(JobMessage(text=_("New vs. resolved in the last 14 days, and open issues by category."),
                                   photo=result.chart, buttons=nav if not result.files else None))
    for n, (name, content) in enumerate(result.files):
        path = run.folder / name
        await asyncio.to_thread(path.write_bytes, content)
        messages.append(JobMessage(document=path, buttons=nav if n == len(result.files) - 1 else None))
    return JobOutcome(_("📊 Here it is:"), messages, {"texts": len(result.texts), "files": len(result.files)})


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
