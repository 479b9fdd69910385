"""/export: staff (the community) and area heads (their area) choose a period and a format and get the
ledger as a file in their private chat. Glue only: bot/services/ledger.py writes the files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.config import Settings
from bot.i18n import _
from bot.keyboards.common import CancelCb, cancel_kb
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.background import BackgroundService
from bot.services.campaigns import CampaignsService
from bot.services.ledger import LedgerError, LedgerService, Scope, parse_range, period
from models import BackgroundJob, Member

log = logging.getLogger(__name__)
router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

PERIODS = ("tm", "lm", "30", "ty")


class LedgerCb(CallbackData, prefix="lg"):
    """s: scope (c<community id> / a<area id>); p: period (tm, lm, 30, ty, or YYYYMMDD-YYYYMMDD);
    f: format (xlsx, csv, zip). Empty = still to choose."""

    s: str = ""
    p: str = ""
    f: str = ""


class LedgerFlow(StatesGroup):
    dates = State()


def period_label(p: str) -> str:
    return {"tm": _("This month"), "lm": _("Last month"), "30": _("Last 30 days"), "ty": _("This year")}.get(p, p)


def error_text(exc: LedgerError | None) -> str:
    """The real reason a period was refused, with the limit when it is the limit."""
    if exc is not None and exc.reason == "order":
        return _("The first day must not be after the last one.")
    if exc is not None and exc.reason == "range":
        return _("That is {days} days; an export here covers at most {limit} days. Please choose a shorter "
                  "period (the office can export any period from the command line).").format(
            days=exc.days, limit=exc.limit)
    return _("I couldn't read those dates. Please write them like 2026-11-01 2026-11-30.")


def scope_kb(scopes: list[Scope]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for s in scopes[:20]:
        kb.button(text=s.name[:60], callback_data=LedgerCb(s=s.token))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def period_kb(scope: str, campaigns: Sequence[tuple[int, str]] = ()) -> InlineKeyboardMarkup:
    """The periods, and the community's campaigns (专项整治): "p=cg<id>" is every issue of that campaign."""
    kb = InlineKeyboardBuilder()
    for p in PERIODS:
        kb.button(text=period_label(p), callback_data=LedgerCb(s=scope, p=p))
    kb.button(text=_("📅 Other dates…"), callback_data=LedgerCb(s=scope, p="pick"))
    for campaign_id, name in campaigns:
        kb.button(text=f"🎯 {name}"[:60], callback_data=LedgerCb(s=scope, p=f"cg{campaign_id}"))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(2, 2, *([1] * (len(campaigns) + 2)))
    return kb.as_markup()


def format_kb(scope: str, p: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📊 Spreadsheet (XLSX)"), callback_data=LedgerCb(s=scope, p=p, f="xlsx"))
    kb.button(text=_("📄 CSV"), callback_data=LedgerCb(s=scope, p=p, f="csv"))
    kb.button(text=_("🗂 XLSX with photos (zip)"), callback_data=LedgerCb(s=scope, p=p, f="zip"))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(2, 1, 1)
    return kb.as_markup()


async def resolve_period(ledger: LedgerService, scope: Scope, p: str, max_days: int) -> tuple[date, date]:
    if p in PERIODS:
        community = await ledger.community(scope.community_id)
        return period(p, ledger.clock(), community.timezone)
    try:
        a, b = p.split("-")
    except ValueError:
        raise LedgerError("dates") from None
    # Callback data is untrusted: the period is checked against the limit again.
    return parse_range(f"{a[:4]}-{a[4:6]}-{a[6:]} {b[:4]}-{b[4:6]}-{b[6:]}", max_days)


@router.message(Command("export"))
async def export_cmd(message: Message, actor: Actor, ledger: LedgerService, state: FSMContext,
                     campaigns: CampaignsService) -> None:
    await state.clear()
    scopes = await ledger.scopes(actor)
    if not scopes:
        await message.answer(_("Exporting the ledger is for area heads (their area) and office staff."))
        return
    if len(scopes) == 1:
        await message.answer(_("📊 Ledger of {scope}: which period?").format(scope=esc(scopes[0].name)),
                             reply_markup=period_kb(scopes[0].token, await campaigns.for_export(scopes[0])))
        return
    await message.answer(_("📊 Which ledger?"), reply_markup=scope_kb(scopes))


@router.callback_query(LedgerCb.filter())
async def export_step(query: CallbackQuery, callback_data: LedgerCb, actor: Actor, ledger: LedgerService,
                      state: FSMContext, background: BackgroundService, member: Member, locale: str,
                      settings: Settings, campaigns: CampaignsService) -> None:
    message = query.message
    if not isinstance(message, Message):
        await query.answer()
        return
    scope = await ledger.scope(actor, callback_data.s)  # NotAllowed → polite alert (handlers/errors.py)
    if not callback_data.p:
        await query.answer()
        await message.edit_text(_("📊 Ledger of {scope}: which period?").format(scope=esc(scope.name)),
                                reply_markup=period_kb(scope.token, await campaigns.for_export(scope)))
        return
    if callback_data.p == "pick":
        await state.set_state(LedgerFlow.dates)
        await state.set_data({"scope": scope.token})
        await query.answer()
        await message.edit_text(_("Send the first and the last day, like 2026-11-01 2026-11-30 (both included, "
                                  "local time)."), reply_markup=cancel_kb())
        return
    campaign = None
    try:
        if callback_data.p.startswith("cg"):
            # Callback data is untrusted: the campaign must be one of the scope's community.
            campaign, start, end = await campaigns.export_span(scope, callback_data.p[2:])
        else:
            start, end = await resolve_period(ledger, scope, callback_data.p, settings.export_max_days)
    except LedgerError as exc:
        await query.answer(error_text(exc)[:200], show_alert=True)
        return
    span = f"{start.isoformat()} – {end.isoformat()}"
    if campaign is not None:
        span = f"🎯 {esc(campaign.name)}, {span}"
    if not callback_data.f:
        await query.answer()
        await message.edit_text(_("📊 Ledger of {scope}, {span}: which format?").format(scope=esc(scope.name),
                                                                                        span=span),
                                reply_markup=format_kb(scope.token, callback_data.p))
        return
    await query.answer()
    if callback_data.f not in ("xlsx", "csv", "zip"):  # callback data is untrusted: only the offered formats
        return
    await run_export(message, background, member, scope, start, end, callback_data.f, locale,
                     campaign.id if campaign is not None else None)


@router.message(LedgerFlow.dates)
async def export_dates(message: Message, state: FSMContext, actor: Actor, ledger: LedgerService,
                       settings: Settings) -> None:
    data = await state.get_data()
    if not message.text or message.text.startswith("/"):
        await message.answer(error_text(None), reply_markup=cancel_kb())
        return
    try:
        start, end = parse_range(message.text, settings.export_max_days)
    except LedgerError as exc:
        await message.answer(error_text(exc) + "\n" + _("Which days? (first and last, both included)"),
                             reply_markup=cancel_kb())
        return
    scope = await ledger.scope(actor, str(data.get("scope") or ""))
    await state.clear()
    p = f"{start:%Y%m%d}-{end:%Y%m%d}"
    await message.answer(_("📊 Ledger of {scope}, {span}: which format?").format(
        scope=esc(scope.name), span=f"{start.isoformat()} – {end.isoformat()}"), reply_markup=format_kb(scope.token, p))


async def run_export(message: Message, background: BackgroundService, member: Member, scope: Scope,
                     start: date, end: date, fmt: str, locale: str, campaign_id: int | None = None) -> None:
    """Queue the export and answer at once: the job worker writes the file, edits this message with its
    progress and sends the file (a ledger with photos takes minutes; nobody else waits for it)."""
    span = f"{start.isoformat()} – {end.isoformat()}"
    job = await background.submit(
        kind="ledger_export", member_id=member.id, chat_id=message.chat.id, locale=locale,
        message_id=message.message_id,
        params={"scope": scope.token, "start": start.isoformat(), "end": end.isoformat(), "fmt": fmt,
                **({"campaign": campaign_id} if campaign_id else {})})
    if job is None:
        await message.edit_text(still_running(await background.running_for(member.id)))
        return
    await message.edit_text(_("⏳ Preparing the ledger of {scope}, {span}… I'll show the progress here and send "
                              "the file when it is ready; you can go on using the bot meanwhile.").format(
        scope=esc(scope.name), span=span))


def still_running(job: BackgroundJob | None) -> str:
    """One job per person: the second request is told about the first."""
    text = _("⏳ I'm still working on your previous request; one at a time, please. I'll send it here when it "
             "is ready.")
    progress = str((job.progress or {}).get("text") or "") if job is not None else ""
    return text + ("\n" + progress if progress else "")
