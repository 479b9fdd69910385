"""/inspect: walk a checklist through a building on the phone — pick the building (or share a location),
tap ✅ Pass or ❌ Fail per item, send photos and a note for a failure, finish: every failure becomes an
issue. The office's screens (spot checks, checklists, the record) are in handlers/inspect_office.py.
Glue only: bot/services/inspections/ holds the rules."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, ngettext
from bot.keyboards.inspections import InspCb, location_kb
from bot.notices.inspections import failure_words, text_of
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place, can
from bot.services.inspections import (
    InspectionError,
    InspectionsService,
    checklists,
)
from bot.services.reporting import TooFar
from handlers.inspect_office import router as office_router
from handlers.inspect_states import InspectFlow
from models import Community, Inspection, Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


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
        b = await inspections.building_named(current.building_id)
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
    lines = [ngettext("🔍 <b>{place}</b> · {total} item checked", "🔍 <b>{place}</b> · all {total} items checked",
                      total).format(place=esc(building), total=total),
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
    building = await inspections.building_named(inspection.building_id)
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
    building = await inspections.building_named(callback_data.i)
    if building is None:
        raise LookupError("building")
    if not await inspections.may_inspect(actor, member, building):
        raise NotAllowed("inspect", Place(building.community_id, building.area_id, building.id))
    community = await inspections.community(building.community_id)
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
    building = await inspections.building_named(callback_data.i)
    if building is None:
        raise LookupError("building")
    community = await inspections.community(building.community_id)
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
    building = await inspections.building_named(i.building_id)
    total = i.passed + i.failed
    lines = [ngettext("✅ Inspection of {place} finished: {passed} of {total} item passed ({rate}%).",
                      "✅ Inspection of {place} finished: {passed} of {total} items passed ({rate}%).", total).format(
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


# The office's screens (handlers/inspect_office.py): after this router's own handlers, as when they were one module.
router.include_router(office_router)

