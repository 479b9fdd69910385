"""/inspect: walk a checklist through a building on the phone — pick the building (or share a location),
tap ✅ Pass or ❌ Fail per item, send photos and a note for a failure, finish: every failure becomes an
issue. Staff draw this week's spot checks and give them to inspectors; staff and area heads edit
checklists; the record is exported as XLSX. Glue only: bot/services/inspections.py holds the rules."""

from __future__ import annotations

import base64
from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, ngettext
from bot.notices.inspections import failure_words, records_xlsx, text_of
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place, can
from bot.services.inspections import (
    DEFAULT_SPOT_CHECKS,
    Checklist,
    InspectionError,
    InspectionsService,
    checklists,
)
from bot.services.reporting import TooFar, categories
from models import Building, Community, Inspection, Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class InspCb(CallbackData, prefix="in"):
    """a: b building (i) · c checklist n for building i · p pass / f fail / x next / fin finish / q cancel
    (inspection i, item n) · sp spot checks of community i · dr draw n · as spot i: who · ai give spot i to
    member n · cl checklists of community i · ce edit the n-th · ca add an item · cc category n · cr remove
    item n · cn new checklist · cd delete · ex export."""

    a: str
    i: int
    n: int = 0


class InspectFlow(StatesGroup):
    choosing = State()  # a building, or a location
    walking = State()  # photos and a note for a failed item
    naming = State()  # a new checklist's name
    item_text = State()  # a new item's words


def _cb(a: str, i: int, n: int = 0) -> str:
    return InspCb(a=a, i=i, n=n).pack()


def location_kb() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=_("📍 Send my location"), request_location=True)]],
                               resize_keyboard=True, one_time_keyboard=True)


async def _community(inspections: InspectionsService, actor: Actor, member: Member) -> Community | None:
    found = await inspections.communities_for(actor, member)
    return found[0] if found else None


@router.message(Command("inspect"))
async def inspect_cmd(message: Message, member: Member, actor: Actor, inspections: InspectionsService,
                      state: FSMContext, locale: str) -> None:
    community = await _community(inspections, actor, member)
    if community is None:
        await state.clear()
        await message.answer(_("Inspections are done by area heads, the community office and whoever is given a "
                               "spot check. Nothing to inspect for you right now."))
        return
    current = await inspections.open_of(member)
    kb = InlineKeyboardBuilder()
    if current is not None:
        b = await inspections.session.get(Building, current.building_id)
        kb.button(text=_("▶️ Go on with {place}").format(place=b.name if b else "—")[:60],
                  callback_data=InspCb(a="go", i=current.id))
    spots = {s.building_id for s in await inspections.my_spot_checks(member, community)}
    buildings = await inspections.buildings_for(actor, member, community)
    for b in sorted(buildings, key=lambda b: (b.id not in spots, b.id))[:30]:
        label = _("🎯 {place} (spot check)").format(place=b.name) if b.id in spots else b.name
        kb.button(text=label[:60], callback_data=InspCb(a="b", i=b.id))
    if can(actor, "spot_checks", Place(community.id)):
        kb.button(text=_("🎲 This week's spot checks"), callback_data=InspCb(a="sp", i=community.id))
    if await inspections.editable(actor, community):
        kb.button(text=_("📝 Checklists"), callback_data=InspCb(a="cl", i=community.id))
    if any(can(actor, "export", Place(community.id, b.area_id, b.id)) for b in buildings):
        kb.button(text=_("📊 Inspection records (XLSX)"), callback_data=InspCb(a="ex", i=community.id))
    kb.adjust(1)
    # Overwritten rather than cleared first: bot/fsm_storage.py deletes a record that a clear() empties,
    # and a set_state() in the same update then writes to the deleted row (the state is lost).
    await state.set_state(InspectFlow.choosing)
    await state.set_data({"c": community.id})
    await message.answer(_("🔍 <b>Inspection</b>\nWhich building? Tap it, or share your location and I'll offer "
                           "the nearest one."), reply_markup=kb.as_markup())
    await message.answer(_("📍 Standing at the building? Share your location."), reply_markup=location_kb())


@router.message(InspectFlow.choosing, F.location)
async def by_location(message: Message, member: Member, actor: Actor, inspections: InspectionsService,
                      state: FSMContext) -> None:
    data = await state.get_data()
    loc = message.location
    assert loc is not None
    try:
        building = await inspections.reporting.locate(int(data.get("c") or 0), loc.latitude, loc.longitude)
    except TooFar:
        building = None
    if building is None or not await inspections.may_inspect(actor, member, building):
        await message.answer(_("I found no building of yours near that point. Tap the building above instead."),
                             reply_markup=ReplyKeyboardRemove())
        return
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🔍 Inspect {place}").format(place=building.name)[:60], callback_data=InspCb(a="b", i=building.id))
    await message.answer(_("📍 Nearest building: <b>{place}</b>.").format(place=esc(building.name)),
                         reply_markup=ReplyKeyboardRemove())
    await message.answer(_("Start here?"), reply_markup=kb.as_markup())


# --- walking a checklist ---------------------------------------------------------------------------------


def item_screen(inspection: Inspection, building: str, locale: str, failing: dict | None = None) -> str:
    p = inspection.position
    total = len(inspection.items)
    head = _("🔍 <b>{place}</b> · item {n} of {total}").format(place=esc(building), n=p + 1, total=total)
    label = esc(text_of(inspection.items[p], locale))
    if failing is None:
        return "\n".join([head, "", f"<b>{label}</b>"])
    photos = len(failing.get("photos") or [])
    lines = [head, "", _("❌ <b>{item}</b> — failed.").format(item=label),
             _("📷 Send photos of it (optional) and type a note if you like, then tap ➡️ Next.")]
    if photos:
        lines.append(ngettext("📷 %(num)d photo attached", "📷 %(num)d photos attached", photos))
    if failing.get("note"):
        lines.append(_("📝 Note: {note}").format(note=esc(failing["note"])))
    return "\n".join(lines)


def item_kb(inspection: Inspection, failing: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    p = inspection.position
    if failing:
        kb.button(text=_("➡️ Next"), callback_data=InspCb(a="x", i=inspection.id, n=p))
        kb.button(text=_("✅ It passes after all"), callback_data=InspCb(a="p", i=inspection.id, n=p))
    else:
        # Big buttons: one per row, so a thumb cannot miss on a phone.
        kb.button(text=_("✅ Pass"), callback_data=InspCb(a="p", i=inspection.id, n=p))
        kb.button(text=_("❌ Fail"), callback_data=InspCb(a="f", i=inspection.id, n=p))
    kb.button(text=_("✖️ Cancel"), callback_data=InspCb(a="q", i=inspection.id, n=p))
    kb.adjust(1)
    return kb.as_markup()


def summary_screen(inspection: Inspection, building: str, locale: str) -> str:
    failed = [(it, r) for it, r in zip(inspection.items, inspection.results, strict=False) if not r.get("ok")]
    total = len(inspection.items)
    passed = total - len(failed)
    lines = [_("🔍 <b>{place}</b> · all {total} items checked").format(place=esc(building), total=total),
             _("✅ {passed} passed · ❌ {failed} failed ({rate}%)").format(
                 passed=passed, failed=len(failed), rate=round(100 * passed / total) if total else 0)]
    if failed:
        lines += ["", _("Each failure becomes an issue in the ledger, with its photos:")]
        for it, r in failed:
            n = len(r.get("photos") or [])
            extra = ngettext(" (%(num)d photo)", " (%(num)d photos)", n) if n else ""
            lines.append(f"· {esc(text_of(it, locale))}{extra}")
    return "\n".join(lines)


def summary_kb(inspection: Inspection) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    n = sum(1 for r in inspection.results if not r.get("ok"))
    text = ngettext("✅ Finish and file %(num)d issue", "✅ Finish and file %(num)d issues", n) if n else \
        _("✅ Finish")
    kb.button(text=text, callback_data=InspCb(a="fin", i=inspection.id))
    kb.button(text=_("✖️ Cancel"), callback_data=InspCb(a="q", i=inspection.id))
    kb.adjust(1)
    return kb.as_markup()


async def show(query_or_message: CallbackQuery | Message, inspections: InspectionsService, inspection: Inspection,
               locale: str, *, edit: bool = True) -> None:
    building = await inspections.session.get(Building, inspection.building_id)
    name = building.name if building else "—"
    if inspection.position >= len(inspection.items):
        text, kb = summary_screen(inspection, name, locale), summary_kb(inspection)
    else:
        failing = inspections.failing(inspection)
        text, kb = item_screen(inspection, name, locale, failing), item_kb(inspection, failing is not None)
    if isinstance(query_or_message, CallbackQuery):
        message = query_or_message.message
        if isinstance(message, Message):
            if edit:
                await message.edit_text(text, reply_markup=kb)
            else:
                await message.answer(text, reply_markup=kb)
    else:
        await query_or_message.answer(text, reply_markup=kb)


async def _begin(query: CallbackQuery, inspections: InspectionsService, inspection: Inspection, state: FSMContext,
                 locale: str) -> None:
    await state.set_state(InspectFlow.walking)
    await state.set_data({"i": inspection.id})
    await query.answer()
    await show(query, inspections, inspection, locale, edit=False)


@router.callback_query(InspCb.filter(F.a == "b"))
async def pick_building(query: CallbackQuery, callback_data: InspCb, member: Member, actor: Actor,
                        inspections: InspectionsService, state: FSMContext, locale: str) -> None:
    building = await inspections.session.get(Building, callback_data.i)
    if building is None:
        raise LookupError("building")
    if not await inspections.may_inspect(actor, member, building):
        raise NotAllowed("inspect", Place(building.community_id, building.area_id, building.id))
    community = await inspections.session.get(Community, building.community_id)
    assert community is not None
    lists = checklists(community, await inspections.area_key(building))
    if len(lists) > 1:
        kb = InlineKeyboardBuilder()
        for n, c in enumerate(lists[:10]):
            kb.button(text=text_of(c.name, locale)[:60], callback_data=InspCb(a="c", i=building.id, n=n))
        kb.adjust(1)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(_("🔍 {place}: which checklist?").format(place=esc(building.name)),
                                       reply_markup=kb.as_markup())
        return
    inspection = await inspections.start(actor, member, building.id, lists[0].key)
    await _begin(query, inspections, inspection, state, locale)


@router.callback_query(InspCb.filter(F.a == "c"))
async def pick_checklist(query: CallbackQuery, callback_data: InspCb, member: Member, actor: Actor,
                         inspections: InspectionsService, state: FSMContext, locale: str) -> None:
    building = await inspections.session.get(Building, callback_data.i)
    if building is None:
        raise LookupError("building")
    community = await inspections.session.get(Community, building.community_id)
    assert community is not None
    lists = checklists(community, await inspections.area_key(building))
    if not 0 <= callback_data.n < len(lists):
        raise LookupError("checklist")
    inspection = await inspections.start(actor, member, building.id, lists[callback_data.n].key)
    await _begin(query, inspections, inspection, state, locale)


@router.callback_query(InspCb.filter(F.a == "go"))
async def go_on(query: CallbackQuery, callback_data: InspCb, member: Member, inspections: InspectionsService,
                state: FSMContext, locale: str) -> None:
    inspection = await inspections.get(callback_data.i)
    if inspection.inspector_id != member.id or inspection.status != "open":
        await query.answer(_("That inspection is no longer open."), show_alert=True)
        return
    await _begin(query, inspections, inspection, state, locale)


@router.callback_query(InspCb.filter(F.a.in_({"p", "f", "x"})))
async def answer_item(query: CallbackQuery, callback_data: InspCb, member: Member, inspections: InspectionsService,
                      state: FSMContext, locale: str) -> None:
    try:
        if callback_data.a == "x":
            inspection, changed = await inspections.advance(member, callback_data.i, callback_data.n)
        else:
            inspection, changed = await inspections.answer(member, callback_data.i, callback_data.n,
                                                           callback_data.a == "p")
    except InspectionError:
        await query.answer(_("That inspection is no longer open."), show_alert=True)
        return
    if not changed:
        await query.answer(_("That item is no longer on screen."))
        return
    await state.set_state(InspectFlow.walking)
    await state.set_data({"i": inspection.id})
    await query.answer()
    await show(query, inspections, inspection, locale)


@router.message(InspectFlow.walking, F.photo)
async def failure_photo(message: Message, member: Member, inspections: InspectionsService, state: FSMContext,
                        locale: str) -> None:
    data = await state.get_data()
    assert message.photo
    try:
        await inspections.add_photo(member, int(data.get("i") or 0), message.photo[-1].file_id)
    except InspectionError:
        await message.answer(_("Photos go with a failed item: tap ❌ Fail first."))
        return
    if message.caption:
        await inspections.add_note(member, int(data["i"]), message.caption)
    # An album arrives as one message per photo: answer the first of it only.
    group = message.media_group_id
    if group and data.get("album") == group:
        return
    await state.update_data(album=group)
    await show(message, inspections, await inspections.get(int(data["i"])), locale)


@router.message(InspectFlow.walking, F.text, ~F.text.startswith("/"))
async def failure_note(message: Message, member: Member, inspections: InspectionsService, state: FSMContext,
                       locale: str) -> None:
    data = await state.get_data()
    try:
        await inspections.add_note(member, int(data.get("i") or 0), message.text or "")
    except InspectionError:
        await message.answer(_("Tap ✅ Pass or ❌ Fail for the item on screen."))
        return
    await show(message, inspections, await inspections.get(int(data["i"])), locale)


@router.callback_query(InspCb.filter(F.a == "fin"))
async def finish(query: CallbackQuery, callback_data: InspCb, member: Member, actor: Actor,
                 inspections: InspectionsService, state: FSMContext, locale: str) -> None:
    try:
        done = await inspections.finish(actor, member, callback_data.i, failure_words(locale))
    except InspectionError:
        await query.answer(_("That inspection is no longer open."), show_alert=True)
        return
    await state.clear()
    i = done.inspection
    building = await inspections.session.get(Building, i.building_id)
    total = i.passed + i.failed
    lines = [_("✅ Inspection of {place} finished: {passed} of {total} items passed ({rate}%).").format(
        place=esc(building.name if building else "—"), passed=i.passed, total=total,
        rate=round(100 * i.passed / total) if total else 0)]
    if done.issues:
        head = ngettext("Filed %(num)d issue:", "Filed %(num)d issues:", len(done.issues))
        # A Chinese full-width colon already carries its space: "已生成3条问题：#NC0002", not "： #NC0002".
        lines.append(head + ("" if head.endswith("：") else " ") + " ".join(x.hashtag for x in done.issues))
        lines.append(_("The building's captains have them now, with your photos; you follow them in /my."))
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text("\n".join(lines))


@router.callback_query(InspCb.filter(F.a == "q"))
async def cancel(query: CallbackQuery, callback_data: InspCb, member: Member, inspections: InspectionsService,
                 state: FSMContext) -> None:
    await inspections.cancel(member, callback_data.i)
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(_("✖️ Inspection cancelled. Nothing was filed."))


# --- spot checks ---------------------------------------------------------------------------------------


async def _community_by_id(inspections: InspectionsService, community_id: int) -> Community:
    community = await inspections.session.get(Community, community_id)
    if community is None:
        raise LookupError("community")
    return community


async def spot_screen(inspections: InspectionsService, community: Community) -> tuple[str, InlineKeyboardMarkup]:
    spots = await inspections.week(community)
    lines = [_("🎲 <b>This week's spot checks</b> (unannounced)")]
    kb = InlineKeyboardBuilder()
    for s in spots:
        b = await inspections.session.get(Building, s.building_id)
        who = await inspections.session.get(Member, s.inspector_id) if s.inspector_id else None
        name = b.name if b else "—"
        if s.done_at:
            state = _("done")
        elif who is not None:
            state = _("given to {name}").format(name=esc(who.display_name))
        else:
            state = _("not given to anyone yet")
        lines.append(f"· {esc(name)} — {state}")
        if not s.done_at:
            kb.button(text=_("👤 {place}: who checks it?").format(place=name)[:60],
                      callback_data=InspCb(a="as", i=s.id))
    if not spots:
        lines.append(_("None drawn yet. How many buildings should I draw at random?"))
    setting = (community.settings or {}).get("inspections") or {}
    default = setting.get("spot_checks", DEFAULT_SPOT_CHECKS) if isinstance(setting, dict) else DEFAULT_SPOT_CHECKS
    for n in sorted({1, 2, 3, 5, int(default) if isinstance(default, int) else DEFAULT_SPOT_CHECKS}):
        kb.button(text=_("🎲 Draw {n}").format(n=n), callback_data=InspCb(a="dr", i=community.id, n=n))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


@router.callback_query(InspCb.filter(F.a == "sp"))
async def spot_checks(query: CallbackQuery, callback_data: InspCb, actor: Actor,
                      inspections: InspectionsService) -> None:
    community = await _community_by_id(inspections, callback_data.i)
    if not can(actor, "spot_checks", Place(community.id)):
        raise NotAllowed("spot_checks", Place(community.id))
    text, kb = await spot_screen(inspections, community)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb)


@router.callback_query(InspCb.filter(F.a == "dr"))
async def draw(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService) -> None:
    community = await _community_by_id(inspections, callback_data.i)
    if callback_data.n not in {1, 2, 3, 5} and callback_data.n != (
            ((community.settings or {}).get("inspections") or {}).get("spot_checks")):
        raise LookupError("count")
    await inspections.draw(actor, community, callback_data.n)
    text, kb = await spot_screen(inspections, community)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=kb)


@router.callback_query(InspCb.filter(F.a == "as"))
async def who(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService) -> None:
    from models import SpotCheck

    spot = await inspections.session.get(SpotCheck, callback_data.i)
    if spot is None:
        raise LookupError("spot_check")
    if not can(actor, "spot_checks", Place(spot.community_id)):
        raise NotAllowed("spot_checks", Place(spot.community_id))
    community = await _community_by_id(inspections, spot.community_id)
    kb = InlineKeyboardBuilder()
    for m in (await inspections.inspectors(community))[:30]:
        kb.button(text=m.display_name[:40], callback_data=InspCb(a="ai", i=spot.id, n=m.id))
    kb.adjust(2)
    b = await inspections.session.get(Building, spot.building_id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("👤 Who checks {place} this week? They get a private reminder.").format(
            place=esc(b.name if b else "—")), reply_markup=kb.as_markup())


@router.callback_query(InspCb.filter(F.a == "ai"))
async def give(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService) -> None:
    spot, changed = await inspections.assign(actor, callback_data.i, callback_data.n)
    community = await _community_by_id(inspections, spot.community_id)
    text, kb = await spot_screen(inspections, community)
    await query.answer(_("Given; I've told them privately.") if changed else _("Already given to them."))
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=kb)


# --- checklists ------------------------------------------------------------------------------------------


def checklist_screen(c: Checklist, locale: str) -> tuple[str, InlineKeyboardMarkup]:
    lines = [_("📝 <b>{name}</b>").format(name=esc(text_of(c.name, locale)))]
    if not c.items:
        lines.append(_("No items yet."))
    for it in c.items:
        lines.append(f"· {esc(text_of(it, locale))}")
    lines.append("")
    lines.append(_("Tap an item to remove it, or add one."))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[])


async def _editable(inspections: InspectionsService, actor: Actor, community_id: int) -> tuple[
        Community, list[tuple[Checklist, Place]]]:
    community = await _community_by_id(inspections, community_id)
    lists = await inspections.editable(actor, community)
    if not lists:
        raise NotAllowed("checklist", Place(community.id))
    return community, lists


async def _show_checklist(query: CallbackQuery | Message, inspections: InspectionsService, actor: Actor,
                          community: Community, key: str, locale: str) -> None:
    lists = await inspections.editable(actor, community)
    index = next((n for n, (c, _p) in enumerate(lists) if c.key == key), None)
    if index is None:
        raise LookupError("checklist")
    c = lists[index][0]
    text, _kb = checklist_screen(c, locale)
    kb = InlineKeyboardBuilder()
    for n, it in enumerate(c.items):
        kb.button(text=("🗑 " + text_of(it, locale))[:60], callback_data=InspCb(a="cr", i=community.id, n=n))
    kb.button(text=_("➕ Add an item"), callback_data=InspCb(a="ca", i=community.id, n=index))
    if not c.default:
        kb.button(text=_("🗑 Delete this checklist"), callback_data=InspCb(a="cd", i=community.id, n=index))
    kb.adjust(1)
    target = query.message if isinstance(query, CallbackQuery) else query
    if isinstance(target, Message):
        await target.answer(text, reply_markup=kb.as_markup())


@router.callback_query(InspCb.filter(F.a == "cl"))
async def lists_menu(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                     locale: str) -> None:
    community, lists = await _editable(inspections, actor, callback_data.i)
    kb = InlineKeyboardBuilder()
    for n, (c, _p) in enumerate(lists[:20]):
        kb.button(text=("📝 " + text_of(c.name, locale))[:60], callback_data=InspCb(a="ce", i=community.id, n=n))
    kb.button(text=_("➕ New checklist"), callback_data=InspCb(a="cn", i=community.id))
    kb.adjust(1)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("📝 Checklists. Tap one to change it."), reply_markup=kb.as_markup())


@router.callback_query(InspCb.filter(F.a == "ce"))
async def edit_list(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                    state: FSMContext, locale: str) -> None:
    community, lists = await _editable(inspections, actor, callback_data.i)
    if not 0 <= callback_data.n < len(lists):
        raise LookupError("checklist")
    key = lists[callback_data.n][0].key
    await state.set_state(None)
    await state.set_data({"c": community.id, "k": key})
    await query.answer()
    await _show_checklist(query, inspections, actor, community, key, locale)


@router.callback_query(InspCb.filter(F.a == "cn"))
async def new_list(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                   state: FSMContext) -> None:
    community, _lists = await _editable(inspections, actor, callback_data.i)
    await state.set_state(InspectFlow.naming)
    await state.set_data({"c": community.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("📝 What is the new checklist called? (e.g. “Fire safety”) — /cancel to stop"))


@router.message(InspectFlow.naming, F.text, ~F.text.startswith("/"))
async def named(message: Message, actor: Actor, inspections: InspectionsService, state: FSMContext,
                locale: str) -> None:
    data = await state.get_data()
    community = await _community_by_id(inspections, int(data.get("c") or 0))
    area_id = None
    if not can(actor, "checklist", Place(community.id)):  # an area head makes their area's own list
        area_id = next((g.area_id for g in actor.roles("area_head") if g.community_id == community.id), None)
        if area_id is None:
            raise NotAllowed("checklist", Place(community.id))
    c = await inspections.create_checklist(actor, community, message.text or "", area_id)
    await state.set_state(InspectFlow.item_text)
    await state.set_data({"c": community.id, "k": c.key})
    await message.answer(_("✅ Created. Now type the first item, as the inspector should read it (e.g. “Exits "
                           "not locked”)."))


@router.callback_query(InspCb.filter(F.a == "ca"))
async def add_item(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                   state: FSMContext) -> None:
    community, lists = await _editable(inspections, actor, callback_data.i)
    if not 0 <= callback_data.n < len(lists):
        raise LookupError("checklist")
    await state.set_state(InspectFlow.item_text)
    await state.set_data({"c": community.id, "k": lists[callback_data.n][0].key})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("Type the item, as the inspector should read it (e.g. “Exits not locked”)."))


@router.message(InspectFlow.item_text, F.text, ~F.text.startswith("/"))
async def item_typed(message: Message, inspections: InspectionsService, state: FSMContext, locale: str) -> None:
    data = await state.get_data()
    community = await _community_by_id(inspections, int(data.get("c") or 0))
    await state.update_data(t=(message.text or "").strip()[:120])
    kb = InlineKeyboardBuilder()
    for n, cat in enumerate(categories(community)):
        kb.button(text=cat.button(locale)[:40], callback_data=InspCb(a="cc", i=community.id, n=n))
    kb.adjust(2)
    await message.answer(_("When it fails, which kind of issue is it?"), reply_markup=kb.as_markup())


@router.callback_query(InspCb.filter(F.a == "cc"))
async def item_category(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                        state: FSMContext, locale: str) -> None:
    data = await state.get_data()
    community = await _community_by_id(inspections, callback_data.i)
    cats = categories(community)
    if not data.get("t") or data.get("c") != community.id or not 0 <= callback_data.n < len(cats):
        await query.answer(_("That question is no longer open. Send /inspect to start again."), show_alert=True)
        return
    try:
        await inspections.add_item(actor, community, str(data["k"]), str(data["t"]), cats[callback_data.n].key)
    except InspectionError:
        await query.answer(_("A checklist has at most 20 items."), show_alert=True)
        return
    await state.set_state(InspectFlow.item_text)
    await state.set_data({"c": community.id, "k": data["k"]})
    await query.answer(_("Added."))
    await _show_checklist(query, inspections, actor, community, str(data["k"]), locale)
    if isinstance(query.message, Message):
        await query.message.answer(_("Type another item, or /cancel when the list is complete."))


@router.callback_query(InspCb.filter(F.a == "cr"))
async def remove_item(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                      state: FSMContext, locale: str) -> None:
    data = await state.get_data()
    community = await _community_by_id(inspections, callback_data.i)
    key = str(data.get("k") or "")
    lists = {c.key: c for c, _p in await inspections.editable(actor, community)}
    c = lists.get(key)
    if c is None or not 0 <= callback_data.n < len(c.items):
        await query.answer(_("That question is no longer open. Send /inspect to start again."), show_alert=True)
        return
    updated = await inspections.remove_item(actor, community, key, c.items[callback_data.n]["key"])
    await query.answer(_("Removed."))
    if updated is not None:
        await _show_checklist(query, inspections, actor, community, updated.key, locale)


@router.callback_query(InspCb.filter(F.a == "cd"))
async def delete_list(query: CallbackQuery, callback_data: InspCb, actor: Actor, inspections: InspectionsService,
                      state: FSMContext) -> None:
    community, lists = await _editable(inspections, actor, callback_data.i)
    if not 0 <= callback_data.n < len(lists):
        raise LookupError("checklist")
    await inspections.delete_checklist(actor, community, lists[callback_data.n][0].key)
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(_("🗑 Checklist deleted."))


# --- the record -----------------------------------------------------------------------------------------


@router.callback_query(InspCb.filter(F.a == "ex"))
async def export(query: CallbackQuery, callback_data: InspCb, member: Member, actor: Actor,
                 inspections: InspectionsService, locale: str) -> None:
    community = await _community_by_id(inspections, callback_data.i)
    now = inspections.clock()
    rows = await inspections.records(actor, community, now - timedelta(days=92), now + timedelta(seconds=1))
    if not any(can(actor, "export", Place(community.id, b.area_id, b.id))
               for b in await inspections.members.buildings(community_id=community.id)):
        raise NotAllowed("export", Place(community.id))
    data = records_xlsx(rows, community.timezone, locale)
    name = f"inspections-{community.code}-{now.date().isoformat()}.xlsx"
    # Asked for just now: sent at once (no quiet hours), through the outbox like every file.
    await inspections.outbox.enqueue(key=f"inspections_xlsx:{member.id}:{now.isoformat()}",
                                     kind="inspections_export", chat_id=member.telegram_id, member_id=member.id,
                                     community_id=community.id, text=ngettext(
                                         "📊 %(num)d inspection in the last three months.",
                                         "📊 %(num)d inspections in the last three months.", len(rows)),
                                     document={"b64": base64.b64encode(data).decode(), "filename": name})
    await query.answer(_("Preparing the table; it comes in a moment."))
