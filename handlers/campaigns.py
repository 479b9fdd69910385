"""/campaign: the list of campaigns and each one's progress; for staff a wizard (name, categories, places,
dates, phases with instructions, target, preview, Start). The card's 🎯 Campaign menu adds an issue to a
campaign or takes it out. Glue only: the rules are in bot/services/campaigns.py, the words sent by the
tick in bot/notices/campaigns.py."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _, current_locale, ngettext
from bot.keyboards import campaigns as kb
from bot.notices.campaigns import categories_text, phase_instruction, phase_name, progress_text
from bot.notices.dates import day_label
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place, can
from bot.services.background import BackgroundService
from bot.services.campaigns import (
    MAX_INSTRUCTION,
    MAX_NAME,
    MAX_TARGET,
    CampaignError,
    CampaignsService,
    CampDraft,
    default_phases,
)
from bot.services.reporting import categories
from bot.services.triage import InvalidInput, TriageService, parse_date
from handlers.steps import show_choice
from handlers.triage import denied, show
from models import Community, Member

router = Router(name=__name__)


class NewCamp(StatesGroup):
    name = State()
    categories = State()
    places = State()
    start = State()
    end = State()
    phases = State()
    phase_text = State()
    target = State()
    confirm = State()


async def _draft(state: FSMContext) -> CampDraft:
    data = await state.get_data()
    if "camp" not in data:
        raise LookupError("draft")
    return CampDraft.from_dict(data["camp"])


async def _save(state: FSMContext, draft: CampDraft, step: State) -> None:
    await state.set_state(step)
    await state.update_data(camp=draft.to_dict())


async def _say(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None,
               edit: bool = True) -> None:
    """Edit the pressed message (one message through the flow), or answer a typed one."""
    if isinstance(event, CallbackQuery):
        await event.answer()
        if isinstance(event.message, Message):
            if edit:
                await event.message.edit_text(text, reply_markup=markup)
            else:
                await event.message.answer(text, reply_markup=markup)
        return
    await event.answer(text, reply_markup=markup)


def reason_text(reason: str) -> str:
    return {
        "name": _("Please give the campaign a name."),
        "categories": _("Tap at least one category."),
        "places": _("Choose the whole community, an area or at least one building."),
        "dates": _("Please give the first and the last day."),
        "order": _("The last day must not be before the first day."),
        "phases": _("The phases must start in order, within the campaign's days."),
    }.get(reason, _("I couldn't use that. Please try again."))


# ---------------------------------------------------------------------------- /campaign: list and screens


@router.message(Command("campaign"), F.chat.type != "private")
async def campaign_in_group(message: Message) -> None:
    await message.answer(_("Please use /campaign in a private chat with me."))


@router.message(Command("campaign"))
async def campaign_cmd(message: Message, state: FSMContext, actor: Actor, member: Member,
                       campaigns: CampaignsService) -> None:
    await state.clear()
    await _list(message, state, actor, member, campaigns)


async def _list(event: Message | CallbackQuery, state: FSMContext, actor: Actor, member: Member,
                campaigns: CampaignsService) -> None:
    community = await campaigns.viewing_community(actor, member)
    creator = await campaigns.creating_community(actor, member)
    if community is None and creator is None:
        await _say(event, _("Campaigns are for building captains, area heads and office staff."))
        return
    community = community or creator
    assert community is not None
    rows = await campaigns.listing(actor, community.id)
    may_create = creator is not None and creator.id == community.id
    if not rows and may_create:
        await _new(event, state, community, edit=False)
        return
    if not rows:
        await _say(event, _("There are no campaigns yet. The office starts them."))
        return
    await _say(event, _("🎯 <b>Campaigns</b> of {community}. Tap one to see its progress.").format(
        community=esc(community.name)), kb.list_kb(rows, may_create))


@router.callback_query(kb.CampCb.filter(), F.message.chat.type != "private")
async def campaign_button_in_group(query: CallbackQuery) -> None:
    """The /campaign screens live in private chats; a (forged) press in a group shows nothing there."""
    await query.answer(_("Please use /campaign in a private chat with me."), show_alert=True)


@router.callback_query(kb.CampCb.filter(F.step == "list"))
async def on_list(query: CallbackQuery, state: FSMContext, actor: Actor, member: Member,
                  campaigns: CampaignsService) -> None:
    await _list(query, state, actor, member, campaigns)


@router.callback_query(kb.CampCb.filter(F.step == "view"))
async def on_view(query: CallbackQuery, callback_data: kb.CampCb, actor: Actor,
                  campaigns: CampaignsService) -> None:
    campaign = await campaigns.get(callback_data.id)
    if not await campaigns.may_view(actor, campaign.community_id):
        raise NotAllowed("campaign_view", Place(campaign.community_id))
    text = await progress_text(campaigns, await campaigns.progress(campaign), current_locale())
    await _say(query, text, kb.campaign_kb(campaign, can(actor, "campaign", Place(campaign.community_id))))


@router.callback_query(kb.CampCb.filter(F.step == "xlsx"))
async def on_xlsx(query: CallbackQuery, callback_data: kb.CampCb, actor: Actor, member: Member,
                  campaigns: CampaignsService, background: BackgroundService) -> None:
    campaign = await campaigns.get(callback_data.id)
    if not can(actor, "campaign", Place(campaign.community_id)):
        raise NotAllowed("campaign", Place(campaign.community_id))
    if not isinstance(query.message, Message):
        await query.answer()
        return
    job = await background.submit(kind="campaign_xlsx", member_id=member.id, chat_id=query.message.chat.id,
                                  locale=current_locale(), params={"campaign_id": campaign.id})
    if job is None:
        await query.answer(_("You have an export running already; I'll send it when it's ready."), show_alert=True)
        return
    await query.answer()
    await query.message.answer(_("⏳ Preparing the spreadsheet of {name}…").format(name=esc(campaign.name)))


# ---------------------------------------------------------------------------- the wizard


@router.callback_query(kb.CampCb.filter(F.step == "new"))
async def on_new(query: CallbackQuery, state: FSMContext, actor: Actor, member: Member,
                 campaigns: CampaignsService) -> None:
    community = await campaigns.creating_community(actor, member)
    if community is None:
        raise NotAllowed("campaign", None)
    await _new(query, state, community, edit=False)


async def _new(event: Message | CallbackQuery, state: FSMContext, community: Community, edit: bool) -> None:
    draft = CampDraft(community_id=community.id, token=uuid.uuid4().hex)
    await state.clear()
    await _save(state, draft, NewCamp.name)
    await _say(event, _("🎯 New campaign (专项整治) in {community}.").format(community=esc(community.name)) + "\n" +
               _("What is it called? For example: Fire-lane clean-up."), kb.cancel_kb(), edit=edit)


@router.message(NewCamp.name)
async def got_name(message: Message, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    name = (message.text or "").strip()
    if not name or name.startswith("/") or len(name) > MAX_NAME:
        await message.answer(_("Please send a name of up to {n} characters.").format(n=MAX_NAME),
                             reply_markup=kb.cancel_kb())
        return
    draft.name = name
    await _save(state, draft, NewCamp.categories)
    community = await campaigns.community(draft.community_id)
    await message.answer(_("Which kinds of problem does it cover? Tap one or more."),
                         reply_markup=kb.categories_kb(categories(community), draft.categories, current_locale()))


@router.callback_query(NewCamp.categories, kb.CampCb.filter(F.step == "cat"))
async def toggle_category(query: CallbackQuery, callback_data: kb.CampCb, state: FSMContext,
                          campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    cats = categories(await campaigns.community(draft.community_id))
    if not callback_data.v.isdigit() or int(callback_data.v) >= len(cats):
        await query.answer(_("This button is no longer active."))
        return
    key = cats[int(callback_data.v)].key
    draft.categories = [c.key for c in cats if (c.key in draft.categories) != (c.key == key)]
    await _save(state, draft, NewCamp.categories)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=kb.categories_kb(cats, draft.categories,
                                                                            current_locale()))


@router.callback_query(NewCamp.categories, kb.CampCb.filter(F.step == "next"))
async def categories_next(query: CallbackQuery, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    if not draft.categories:
        await query.answer(reason_text("categories"), show_alert=True)
        return
    await _save(state, draft, NewCamp.places)
    areas, buildings = await campaigns.places(draft.community_id)
    await _say(query, _("Where? The whole community, or tap areas and buildings."),
               kb.places_kb(areas, buildings, draft.area_ids, draft.building_ids))


@router.callback_query(NewCamp.places, kb.CampCb.filter(F.step == "place"))
async def toggle_place(query: CallbackQuery, callback_data: kb.CampCb, state: FSMContext,
                       campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    areas, buildings = await campaigns.places(draft.community_id)
    v = callback_data.v
    if v == "c":
        draft.whole, draft.area_ids, draft.building_ids = True, [], []
        await _to_start(query, state, draft)
        return
    kind, raw = v[:1], v[1:]
    known = {a.id for a in areas} if kind == "a" else {b.id for b in buildings} if kind == "b" else set()
    if not raw.isdigit() or int(raw) not in known:
        await query.answer(_("This button is no longer active."))
        return
    if kind == "a":
        draft.area_ids = sorted(set(draft.area_ids) ^ {int(raw)})
    else:
        draft.building_ids = sorted(set(draft.building_ids) ^ {int(raw)})
    await _save(state, draft, NewCamp.places)
    await show_choice(query, kb.places_kb(areas, buildings, draft.area_ids, draft.building_ids))


@router.callback_query(NewCamp.places, kb.CampCb.filter(F.step == "next"))
async def places_next(query: CallbackQuery, state: FSMContext) -> None:
    draft = await _draft(state)
    if not (draft.area_ids or draft.building_ids):
        await query.answer(reason_text("places"), show_alert=True)
        return
    await _to_start(query, state, draft)


def start_question() -> str:
    return _("First day? Send a date like 2026-12-01 or 1.12, or tap Today.")


def end_question() -> str:
    return _("Last day? Send a date like 2026-12-28 or 28.12.")


async def _to_start(query: CallbackQuery, state: FSMContext, draft: CampDraft) -> None:
    await _save(state, draft, NewCamp.start)
    await _say(query, start_question(), kb.start_kb())


async def _typed_day(message: Message, campaigns: CampaignsService, draft: CampDraft) -> date | str:
    try:
        return parse_date(message.text or "", campaigns.clock(), await campaigns.timezone(draft.community_id))
    except InvalidInput as exc:
        from handlers.triage import input_error

        return input_error(exc.reason)


@router.callback_query(NewCamp.start, kb.CampCb.filter(F.step == "start"))
async def start_today(query: CallbackQuery, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    tz = ZoneInfo(await campaigns.timezone(draft.community_id))
    draft.start = campaigns.clock().astimezone(tz).date().isoformat()
    await _save(state, draft, NewCamp.end)
    await _say(query, _("From {day}.").format(day=day_label(date.fromisoformat(draft.start))) + "\n" +
               end_question(), kb.end_kb())


@router.message(NewCamp.start)
async def typed_start(message: Message, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    day = await _typed_day(message, campaigns, draft)
    if isinstance(day, str):
        await message.answer(day + "\n" + start_question(), reply_markup=kb.start_kb())
        return
    draft.start = day.isoformat()
    await _save(state, draft, NewCamp.end)
    await message.answer(_("From {day}.").format(day=day_label(day)) + "\n" + end_question(),
                         reply_markup=kb.end_kb())


@router.callback_query(NewCamp.end, kb.CampCb.filter(F.step == "end"))
async def end_four_weeks(query: CallbackQuery, state: FSMContext) -> None:
    draft = await _draft(state)
    assert draft.start is not None
    await _set_end(query, state, draft, date.fromisoformat(draft.start) + timedelta(days=27))


@router.message(NewCamp.end)
async def typed_end(message: Message, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    day = await _typed_day(message, campaigns, draft)
    if isinstance(day, str):
        await message.answer(day + "\n" + end_question(), reply_markup=kb.end_kb())
        return
    assert draft.start is not None
    if day < date.fromisoformat(draft.start):
        await message.answer(reason_text("order") + "\n" + end_question(), reply_markup=kb.end_kb())
        return
    await _set_end(message, state, draft, day)


def phases_text(draft: CampDraft) -> str:
    locale = current_locale()
    lines = []
    for i, p in enumerate(draft.phases):
        lines.append(_("{n}. {phase} — from {day}").format(
            n=i + 1, phase=phase_name(p["key"], locale), day=day_label(date.fromisoformat(p["start"]))))
        lines.append("   " + esc(phase_instruction(p, locale)))
    return "\n".join(lines)


async def _set_end(event: Message | CallbackQuery, state: FSMContext, draft: CampDraft, day: date) -> None:
    draft.end = day.isoformat()
    draft.phases = []
    await _save(state, draft, NewCamp.phases)
    await _say(event, _("Until {day}.").format(day=day_label(day)) + "\n" + _(
        "Phases? The template has four — publicity, residents fix it themselves, concentrated clean-up, "
        "inspection and acceptance — with the days split evenly and an instruction each, announced to the "
        "captains and residents' chats when each starts."), kb.phases_kb(False))


@router.callback_query(NewCamp.phases, kb.CampCb.filter(F.step == "phases"))
async def choose_phases(query: CallbackQuery, callback_data: kb.CampCb, state: FSMContext) -> None:
    draft = await _draft(state)
    assert draft.start is not None and draft.end is not None
    if callback_data.v == "tpl":
        draft.phases = default_phases(date.fromisoformat(draft.start), date.fromisoformat(draft.end))
        await _save(state, draft, NewCamp.phases)
        await _say(query, _("🗓 The phases:") + "\n" + phases_text(draft), kb.phases_kb(True))
        return
    if callback_data.v == "edit" and draft.phases:
        await _save(state, draft, NewCamp.phase_text)
        await _say(query, phases_text(draft) + "\n\n" + edit_question(len(draft.phases)), kb.cancel_kb())
        return
    if callback_data.v == "none":
        draft.phases = []
    await _to_target(query, state, draft)


def edit_question(n: int) -> str:
    return _("Send {n} lines, one per phase: its first day, then its instruction if you want to change it. "
             "For example:\n2026-12-08 Please check your corridors and move your e-bikes out.").format(n=n)


@router.message(NewCamp.phase_text)
async def typed_phases(message: Message, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    lines = [line.strip() for line in (message.text or "").splitlines() if line.strip()]
    tz = await campaigns.timezone(draft.community_id)
    phases = []
    problem = None
    if len(lines) != len(draft.phases):
        problem = _("I need exactly {n} lines.").format(n=len(draft.phases))
    else:
        for old, line in zip(draft.phases, lines, strict=True):
            first, _sep, rest = line.partition(" ")
            try:
                day = parse_date(first, campaigns.clock(), tz)
            except InvalidInput:
                problem = _("I couldn't read the date at the start of: {line}").format(line=esc(line[:60]))
                break
            text = rest.strip()[:MAX_INSTRUCTION] or old.get("instruction")
            phases.append({"key": old["key"], "start": day.isoformat(), "instruction": text or None})
    if problem is None:
        trial = CampDraft.from_dict({**draft.to_dict(), "phases": phases})
        try:
            campaigns.check_draft(CampDraft.from_dict({**trial.to_dict(), "name": trial.name or "x"}))
        except CampaignError as exc:
            problem = reason_text(exc.reason)
    if problem is not None:
        await message.answer(problem + "\n" + edit_question(len(draft.phases)), reply_markup=kb.cancel_kb())
        return
    draft.phases = phases
    await _save(state, draft, NewCamp.phases)
    await message.answer(_("🗓 The phases:") + "\n" + phases_text(draft), reply_markup=kb.phases_kb(True))


def target_question() -> str:
    return _("The target, in a sentence? For example: every reported case verified by the last day. Or tap Skip.")


async def _to_target(event: Message | CallbackQuery, state: FSMContext, draft: CampDraft) -> None:
    await _save(state, draft, NewCamp.target)
    await _say(event, target_question(), kb.skip_kb())


@router.callback_query(NewCamp.target, kb.CampCb.filter(F.step == "skip"))
async def skip_target(query: CallbackQuery, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    draft.target = ""
    await _preview(query, state, draft, campaigns)


@router.message(NewCamp.target)
async def typed_target(message: Message, state: FSMContext, campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    text = (message.text or "").strip()
    if not text or text.startswith("/") or len(text) > MAX_TARGET:
        await message.answer(_("Please send up to {n} characters, or tap Skip.").format(n=MAX_TARGET) + "\n" +
                             target_question(), reply_markup=kb.skip_kb())
        return
    draft.target = text
    await _preview(message, state, draft, campaigns)


async def _preview(event: Message | CallbackQuery, state: FSMContext, draft: CampDraft,
                   campaigns: CampaignsService) -> None:
    """Everything the campaign will be, and who gets its phase messages, before Start."""
    await _save(state, draft, NewCamp.confirm)
    community = await campaigns.community(draft.community_id)
    locale = current_locale()
    assert draft.start is not None and draft.end is not None
    lines = [f"🎯 <b>{esc(draft.name)}</b>",
             _("📅 {first} – {last}").format(first=day_label(date.fromisoformat(draft.start)),
                                            last=day_label(date.fromisoformat(draft.end))),
             "📍 " + esc(await campaigns.place_name(draft, locale)),
             "🏷 " + esc(categories_text(draft, community, locale))]  # type: ignore[arg-type]
    if draft.phases:
        lines += [_("🗓 The phases:"), phases_text(draft)]
    else:
        lines.append(_("No phases."))
    if draft.target:
        lines.append(_("Target: {target}").format(target=esc(draft.target)))
    buildings = await campaigns.buildings_of(draft)
    lines.append("")
    lines.append(_("Reports of these kinds in these places between these days join it by themselves; captains "
                   "and staff can add or take out a report from its card."))
    if draft.phases:
        lines.append(ngettext("Each phase is announced at 09:00 on its first day to the captain of {n} building "
                              "and its residents' chats.",
                              "Each phase is announced at 09:00 on its first day to the captains of {n} buildings and "
                              "their residents' chats.", len(buildings)).format(n=len(buildings)))
    lines.append(_("After the last day the office gets a summary with photos and a spreadsheet."))
    await _say(event, "\n".join(lines), kb.confirm_kb())


@router.callback_query(NewCamp.confirm, kb.CampCb.filter(F.step == "go"))
async def start_campaign(query: CallbackQuery, state: FSMContext, actor: Actor,
                         campaigns: CampaignsService) -> None:
    draft = await _draft(state)
    try:
        campaign, created = await campaigns.create(actor, draft)
    except CampaignError as exc:
        await query.answer(reason_text(exc.reason), show_alert=True)
        return
    await state.clear()
    if not created:
        await query.answer(_("Already started."))
        return
    await _say(query, _("✅ Campaign “{name}” started. Reports that fit join it by themselves; see its progress "
                        "any time with /campaign.").format(name=esc(campaign.name)))


@router.message(NewCamp.categories)
@router.message(NewCamp.places)
@router.message(NewCamp.phases)
@router.message(NewCamp.confirm)
async def tap_please(message: Message, state: FSMContext) -> None:
    await message.answer(_("Please tap one of the buttons, or ✖️ Cancel."), reply_markup=kb.cancel_kb())


# ---------------------------------------------------------------------------- the card's 🎯 Campaign menu


@router.callback_query(kb.IssueCampCb.filter())
async def on_issue_campaign(query: CallbackQuery, callback_data: kb.IssueCampCb, actor: Actor, member: Member,
                            campaigns: CampaignsService, triage: TriageService) -> None:
    issue_id = callback_data.i
    try:
        if callback_data.a in ("add", "rm"):
            issue, campaign, changed = await campaigns.set_member(
                actor, callback_data.c, issue_id, member.id, want=callback_data.a == "add")
            if not changed:
                note = _("Already done.")
            elif callback_data.a == "add":
                note = _("Added to {name}.").format(name=campaign.name)
            else:
                note = _("Taken out of {name}.").format(name=campaign.name)
        else:
            note = ""
        issue, choices = await campaigns.choices(actor, issue_id)
    except NotAllowed as exc:
        await denied(query, triage, issue_id, exc)
        return
    except LookupError:
        await query.answer(_("This button is no longer active."))
        return
    if not choices:
        await query.answer(_("No campaign is running."), show_alert=True)
        return
    await query.answer(note[:200])
    await show(query, triage, actor, issue, kb.issue_rows(issue_id, choices))
