"""/roster, continued: a route's card and its edits (name, description, checkpoints, shift times off,
archive), and the shifts: the list, a shift's card, cancel, assign, take off, and its record."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards import patrols as kb
from bot.keyboards.patrols import RosterCb
from bot.notices.patrols import when
from bot.rendering import esc, render
from bot.services.access import Actor
from bot.services.patrols import PatrolService
from handlers.patrols.common import EditForm, _labels, _show
from handlers.patrols.planning import _checkpoints_question, _text_or_none, parse_checkpoints
from models import ShiftStatus

router = Router(name=__name__)


async def _route_screen(patrols: PatrolService, actor: Actor, route_id: int) -> tuple[str, Any]:
    route = await patrols.planned_route(actor, route_id)
    upcoming = [v for v in await patrols.planner_shifts(actor, days=90, limit=500) if v.route.id == route.id]
    text = render("patrols_route.html.j2", name=route.name, place=await patrols.place_name(route),
                  description=route.description,
                  checkpoints=" → ".join(c.name for c in route.checkpoints),
                  templates=[kb.template_label(t) for t in route.templates if t.active], upcoming=len(upcoming))
    return text, kb.route_kb(route)


@router.callback_query(RosterCb.filter(F.action == "route"))
async def route_card(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor,
                     state: FSMContext) -> None:
    await state.clear()
    text, markup = await _route_screen(patrols, actor, callback_data.id)
    await _show(query, text, markup)
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "tploff"))
async def template_off(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    template = await patrols.remove_template(actor, callback_data.id)
    text, markup = await _route_screen(patrols, actor, template.route_id)
    await _show(query, _("Stopped. Shifts already planned stay; cancel them one by one if needed.") + "\n\n" + text,
                markup)
    await query.answer()


_EDITS = {"rename": EditForm.name, "desc": EditForm.description, "cps": EditForm.checkpoints}


@router.callback_query(RosterCb.filter(F.action.in_(set(_EDITS))))
async def edit_route(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor,
                     state: FSMContext) -> None:
    route = await patrols.planned_route(actor, callback_data.id)
    await state.set_state(_EDITS[callback_data.action])
    await state.update_data(route_id=route.id)
    question = {"rename": _("New name for the route?"), "desc": _("New description?"),
                "cps": _checkpoints_question().replace(_("— or Skip."), "")}[callback_data.action]
    await _show(query, question, kb.rows_markup([kb.cancel_row()]), edit=False)
    await query.answer()


@router.message(EditForm.name)
async def edit_name(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    name = _text_or_none(message, 120)
    if name is None:
        await message.answer(_("Please send the route's name as text, up to 120 characters.") + "\n"
                             + _("New name for the route?"), reply_markup=kb.rows_markup([kb.cancel_row()]))
        return
    route_id = int((await state.get_data())["route_id"])
    await patrols.update_route(actor, route_id, name=name)
    await state.clear()
    text, markup = await _route_screen(patrols, actor, route_id)
    await message.answer(text, reply_markup=markup)


@router.message(EditForm.description)
async def edit_description(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    text_in = _text_or_none(message, 1000)
    if text_in is None:
        await message.answer(_("Please send the description as text.") + "\n" + _("New description?"),
                             reply_markup=kb.rows_markup([kb.cancel_row()]))
        return
    route_id = int((await state.get_data())["route_id"])
    await patrols.update_route(actor, route_id, description=text_in)
    await state.clear()
    text, markup = await _route_screen(patrols, actor, route_id)
    await message.answer(text, reply_markup=markup)


@router.message(EditForm.checkpoints)
async def edit_checkpoints(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    cps = parse_checkpoints(message.text or "") if message.text and not message.text.startswith("/") else None
    if cps is None:
        await message.answer(_("Please send up to 30 checkpoint names, one per line.") + "\n"
                             + _checkpoints_question(), reply_markup=kb.rows_markup([kb.cancel_row()]))
        return
    route_id = int((await state.get_data())["route_id"])
    await patrols.set_checkpoints(actor, route_id, cps)
    await state.clear()
    text, markup = await _route_screen(patrols, actor, route_id)
    await message.answer(text, reply_markup=markup)


@router.callback_query(RosterCb.filter(F.action == "archive"))
async def archive(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService) -> None:
    route = await patrols.route(callback_data.id)
    await _show(query, _("Archive “{name}”? Its shift times stop and future shifts are cancelled (volunteers are "
                         "told).").format(name=esc(route.name)), kb.confirm_archive_kb(route.id))
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "archiveok"))
async def archive_ok(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    route = await patrols.archive_route(actor, callback_data.id)
    await _show(query, _("🗄 “{name}” archived.").format(name=esc(route.name)), kb.back_kb())
    await query.answer()


# ---- shifts: list, card, cancel, assign, remove, record


@router.callback_query(RosterCb.filter(F.action.in_({"shifts", "past"})))
async def planner_shifts(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService,
                         actor: Actor) -> None:
    past = callback_data.action == "past"
    views = await patrols.planner_shifts(actor, past=past)
    if past:
        text = _("📄 Shifts of the last two weeks. Tap one to see its record.") if views else \
            _("No shifts in the last two weeks.")
    else:
        text = _("🗓 Shifts in the next two weeks (⚠️ = below the minimum). Tap one to manage it.") if views else \
            _("No shifts planned in the next two weeks. Open a route and generate shifts.")
    await _show(query, text, kb.shifts_kb(views, await _labels(patrols, views), past=past))
    await query.answer()


async def _planner_shift_screen(patrols: PatrolService, actor: Actor, shift_id: int) -> tuple[str, Any]:
    v = await patrols.planned_shift(actor, shift_id)
    lines = [f"🛣 <b>{esc(v.route.name)}</b>", f"🗓 {when(v, await patrols.today(v.shift.community_id))}",
             _("👥 {count} of {min}–{max}").format(count=v.shift.filled, min=v.shift.min_volunteers,
                                                   max=v.shift.max_volunteers)]
    if v.shift.status == ShiftStatus.CANCELLED:
        lines.append(_("❌ Cancelled"))
    for a, m in v.people:
        if a.status == "active":
            lines.append(f"• {esc(m.display_name)}" + (" ✅" if a.confirmed_at else ""))
        elif a.status == "invited":
            lines.append(f"• {esc(m.display_name)} · " + _("asked, not answered yet"))
    if v.needs:
        lines.append(_("⚠️ Needs {n} more.").format(n=v.needs))
    markup = kb.planner_shift_kb(v) if v.shift.status == ShiftStatus.PLANNED else kb.back_kb("shifts")
    return "\n".join(lines), markup


@router.callback_query(RosterCb.filter(F.action == "shift"))
async def planner_shift(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService,
                        actor: Actor) -> None:
    text, markup = await _planner_shift_screen(patrols, actor, callback_data.id)
    await _show(query, text, markup)
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "cancel"))
async def cancel_shift(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService) -> None:
    v = await patrols.view(callback_data.id)
    if v.shift.status == ShiftStatus.CANCELLED:
        await query.answer(_("This shift is already cancelled."), show_alert=True)
        return
    await _show(query, _("Cancel the patrol {when}, {route}? Everyone on it will be told.").format(
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
        kb.confirm_cancel_kb(v.id))
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "cancelok"))
async def cancel_ok(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    v, changed = await patrols.cancel_shift(actor, callback_data.id)
    told = len([a for a, _m in v.people if a.status == "cancelled"])
    text = ngettext("❌ Cancelled: {when}, {route}. I've told {n} volunteer.",
                    "❌ Cancelled: {when}, {route}. I've told {n} volunteers.", told).format(
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name), n=told)
    if changed:
        await _show(query, text, kb.back_kb("shifts"))
    await query.answer(None if changed else _("This shift is already cancelled."))


@router.callback_query(RosterCb.filter(F.action == "assign"))
async def assign_pick(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    v = await patrols.planned_shift(actor, callback_data.id)
    on = {m.id for a, m in v.people if a.status in ("active", "invited")}
    pool = [m for m in await patrols.volunteer_pool(v.shift.community_id) if m.id not in on]
    if not pool:
        await query.answer(_("Every volunteer is already on this shift or asked."), show_alert=True)
        return
    await _show(query, _("Who should patrol {when}, {route}? They will be asked to confirm.").format(
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
        kb.pick_volunteer_kb(v.id, pool))
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "pick"))
async def assign_do(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    v, person = await patrols.assign(actor, callback_data.id, int(callback_data.arg or 0))
    text, markup = await _planner_shift_screen(patrols, actor, v.id)
    await _show(query, _("👤 I've asked {name} to confirm.").format(name=esc(person.display_name)) + "\n\n" + text,
                markup)
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "remove"))
async def remove(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    v, person = await patrols.remove(actor, callback_data.id)
    text, markup = await _planner_shift_screen(patrols, actor, v.id)
    await _show(query, _("➖ {name} is off this shift and was told.").format(name=esc(person.display_name))
                + "\n\n" + text, markup)
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "record"))
async def record(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    rec = await patrols.record(actor, callback_data.id)
    v = rec.view
    fmt = "%H:%M"
    rows = []
    here = _("a location")
    for r in rec.rows:
        a = r.assignment
        visits = " → ".join(
            f"{x.seq}. {x.name or here} {x.at.astimezone(v.tz).strftime(fmt)}" for x in r.visits)
        rows.append({"name": r.member.display_name,
                     "checked_in": a.checked_in_at.astimezone(v.tz).strftime(fmt) if a.checked_in_at else "",
                     "place": a.check_in_lat is not None,
                     "checked_out": a.checked_out_at.astimezone(v.tz).strftime(fmt) if a.checked_out_at else "",
                     "auto": a.auto_closed, "visits": visits, "note": a.check_out_note or ""})
    status = {ShiftStatus.CANCELLED: _("cancelled"), ShiftStatus.DONE: _("closed")}.get(v.shift.status, "")
    text = render("patrols_record.html.j2", route=v.route.name, place=await patrols.place_name(v.route),
                  when=when(v), status=status, min=v.shift.min_volunteers, max=v.shift.max_volunteers,
                  count=len(v.active), rows=rows, findings=" ".join(f"#{i.reference}" for i in rec.findings))
    await _show(query, text, kb.back_kb("past"))
    await query.answer()
