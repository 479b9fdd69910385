"""/inspect, the office's side: this week's spot checks (drawn at random, given to inspectors), the
checklists staff and area heads edit, and the record exported as XLSX. Included by handlers/inspections.py
(its router). Glue only: bot/services/inspections/ holds the rules."""

from __future__ import annotations

import base64
from datetime import timedelta

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, ngettext
from bot.keyboards.inspections import InspCb
from bot.notices.inspections import records_xlsx, text_of
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place, can
from bot.services.inspections import DEFAULT_SPOT_CHECKS, Checklist, InspectionError, InspectionsService
from bot.services.reporting import categories
from handlers.inspect_states import InspectFlow
from models import Community, Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


# --- spot checks ---------------------------------------------------------------------------------------


async def _community_by_id(inspections: InspectionsService, community_id: int) -> Community:
    return await inspections.community(community_id)


async def spot_screen(inspections: InspectionsService, community: Community) -> tuple[str, InlineKeyboardMarkup]:
    spots = await inspections.week(community)
    lines = [_("🎲 <b>This week's spot checks</b> (unannounced)")]
    kb = InlineKeyboardBuilder()
    for s in spots:
        b = await inspections.building_named(s.building_id)
        who = await inspections.person(s.inspector_id)
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
    spot = await inspections.spot(callback_data.i)
    if spot is None:
        raise LookupError("spot_check")
    if not can(actor, "spot_checks", Place(spot.community_id)):
        raise NotAllowed("spot_checks", Place(spot.community_id))
    community = await _community_by_id(inspections, spot.community_id)
    kb = InlineKeyboardBuilder()
    for m in (await inspections.inspectors(community))[:30]:
        kb.button(text=m.display_name[:40], callback_data=InspCb(a="ai", i=spot.id, n=m.id))
    kb.adjust(2)
    b = await inspections.building_named(spot.building_id)
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
