"""/roster for captains, area heads and staff: the menu, a new route (place → name → description →
checkpoints), shift times (a template), generating shifts, and one-off shifts."""

from __future__ import annotations

import re
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards import patrols as kb
from bot.keyboards.patrols import RosterCb
from bot.notices.patrols import when
from bot.rendering import esc
from bot.services.access import Actor, Level, NotAllowed, Place
from bot.services.patrols import DEFAULT_WEEKS, PatrolService, parse_date, parse_people, parse_time
from handlers.patrols.common import OneOffForm, RouteForm, TemplateForm, _msg, _show

router = Router(name=__name__)


async def _roster_menu(patrols: PatrolService, actor: Actor) -> tuple[str, Any]:
    places = await patrols.planning_places(actor)
    if not places:
        raise NotAllowed("roster", None, Level.CAPTAIN)
    routes = await patrols.routes_for(actor)
    text = _("🗓 <b>Patrol roster</b>") + "\n"
    text += _("Choose a route, or make a new one.") if routes else _("No routes yet. Start with a new route.")
    return text, kb.roster_menu_kb(routes)


@router.message(Command("roster"))
async def cmd_roster(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    await state.clear()
    text, markup = await _roster_menu(patrols, actor)
    await message.answer(text, reply_markup=markup)


@router.callback_query(RosterCb.filter(F.action == "menu"))
async def roster_menu(query: CallbackQuery, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    await state.clear()
    text, markup = await _roster_menu(patrols, actor)
    await _show(query, text, markup)
    await query.answer()


# ---- a new route: place → name → description → checkpoints → shift times → generate


@router.callback_query(RosterCb.filter(F.action == "new"))
async def new_route(query: CallbackQuery, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    places = await patrols.planning_places(actor)
    if not places:
        raise NotAllowed("roster", None, Level.CAPTAIN)
    await state.set_state(RouteForm.place)
    await state.update_data(places=[[p.place.community_id, p.place.area_id, p.place.building_id, p.label]
                                    for p in places])
    if len(places) == 1:
        await _ask_route_name(query, state, 0)
    else:
        await _show(query, _("Where does this patrol walk? Choose the community, area or building."),
                    kb.places_kb(places))
    await query.answer()


async def _ask_route_name(event: CallbackQuery, state: FSMContext, index: int) -> None:
    data = await state.get_data()
    places = data.get("places") or []
    if not 0 <= index < len(places):
        raise LookupError("place")
    await state.update_data(place=places[index])
    await state.set_state(RouteForm.name)
    await _show(event, _("Route for {place}. What is it called? (e.g. North loop)").format(
        place=esc(places[index][3])), kb.rows_markup([kb.cancel_row()]))


@router.callback_query(RouteForm.place, RosterCb.filter(F.action == "place"))
async def route_place(query: CallbackQuery, callback_data: RosterCb, state: FSMContext) -> None:
    await _ask_route_name(query, state, callback_data.id)
    await query.answer()


@router.message(RouteForm.place)
async def route_place_text(message: Message, patrols: PatrolService, actor: Actor) -> None:
    await message.answer(_("Please choose a place with the buttons."),
                         reply_markup=kb.places_kb(await patrols.planning_places(actor)))


def _text_or_none(message: Message, limit: int) -> str | None:
    text = (message.text or "").strip()
    if not text or text.startswith("/") or len(text) > limit:
        return None
    return text


@router.message(RouteForm.name)
async def route_name(message: Message, state: FSMContext) -> None:
    name = _text_or_none(message, 120)
    if name is None:
        await message.answer(_("Please send the route's name as text, up to 120 characters.") + "\n"
                             + _("What is the route called? (e.g. North loop)"),
                             reply_markup=kb.rows_markup([kb.cancel_row()]))
        return
    await state.update_data(name=name)
    await state.set_state(RouteForm.description)
    await message.answer(_("A short description? (where it goes, what to look at) — or Skip."),
                         reply_markup=kb.skip_kb())


@router.message(RouteForm.description)
async def route_description(message: Message, state: FSMContext) -> None:
    text = _text_or_none(message, 1000)
    if text is None:
        await message.answer(_("Please send the description as text, or tap Skip.") + "\n"
                             + _("A short description? (where it goes, what to look at) — or Skip."),
                             reply_markup=kb.skip_kb())
        return
    await state.update_data(description=text)
    await _ask_checkpoints(message, state)


async def _ask_checkpoints(event: Message | CallbackQuery, state: FSMContext) -> None:
    await state.set_state(RouteForm.checkpoints)
    await _show(event, _checkpoints_question(), kb.skip_kb(), edit=False)


def _checkpoints_question() -> str:
    return _("Checkpoints along the route, one per line, in walking order (e.g. North gate). Add a location "
             "as “North gate, 31.2304, 121.4737” if you like — or Skip.")


_COORD = re.compile(r"^(.*?)[,，\s]+(-?\d{1,2}\.\d+)[,，\s]+(-?\d{1,3}\.\d+)\s*$")


def parse_checkpoints(text: str) -> list[tuple[str, float | None, float | None]] | None:
    out: list[tuple[str, float | None, float | None]] = []
    for line in text.splitlines():
        line = line.strip(" •-\t")
        if not line:
            continue
        m = _COORD.match(line)
        if m and m.group(1).strip():
            lat, lon = float(m.group(2)), float(m.group(3))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return None
            out.append((m.group(1).strip()[:120], lat, lon))
        else:
            out.append((line[:120], None, None))
    return out if 0 < len(out) <= 30 else None


@router.message(RouteForm.checkpoints)
async def route_checkpoints(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    cps = parse_checkpoints(message.text or "") if message.text and not message.text.startswith("/") else None
    if cps is None:
        await message.answer(_("Please send up to 30 checkpoint names, one per line, or tap Skip.") + "\n"
                             + _checkpoints_question(), reply_markup=kb.skip_kb())
        return
    await _create_route(message, patrols, actor, state, cps)


@router.callback_query(RosterCb.filter(F.action == "skip"))
async def skip(query: CallbackQuery, patrols: PatrolService, actor: Actor, state: FSMContext) -> None:
    current = await state.get_state()
    if current == RouteForm.description.state:
        await state.update_data(description="")
        await _ask_checkpoints(query, state)
    elif current == RouteForm.checkpoints.state:
        message = _msg(query)
        if message is not None:
            await _create_route(message, patrols, actor, state, [])
    else:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()


async def _create_route(message: Message, patrols: PatrolService, actor: Actor, state: FSMContext,
                        cps: list[tuple[str, float | None, float | None]]) -> None:
    data = await state.get_data()
    c, a, b, _label = data["place"]
    route = await patrols.create_route(actor, Place(c, a, b), data["name"], data.get("description", ""), cps)
    await state.clear()
    await message.answer(_("✅ Route “{name}” saved.").format(name=esc(route.name)))
    await _ask_days(message, state, route.id)


# ---- shift times (a template)


async def _ask_days(event: Message | CallbackQuery, state: FSMContext, route_id: int) -> None:
    await state.set_state(TemplateForm.days)
    await state.update_data(route_id=route_id, days=[])
    await _show(event, _days_question(), kb.weekdays_kb([]), edit=False)


def _days_question() -> str:
    return _("🗓 On which days does the patrol run? Tap days, then Next — or a shortcut.")


@router.callback_query(RosterCb.filter(F.action == "tpl"))
async def new_template(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor,
                       state: FSMContext) -> None:
    route = await patrols.planned_route(actor, callback_data.id)
    await _ask_days(query, state, route.id)
    await query.answer()


@router.callback_query(TemplateForm.days, RosterCb.filter(F.action == "day"))
async def toggle_day(query: CallbackQuery, callback_data: RosterCb, state: FSMContext) -> None:
    days = list((await state.get_data()).get("days") or [])
    day = callback_data.id % 7
    days = [d for d in days if d != day] if day in days else sorted([*days, day])
    await state.update_data(days=days)
    message = _msg(query)
    if message is not None:
        await message.edit_reply_markup(reply_markup=kb.weekdays_kb(days))
    await query.answer()


@router.callback_query(TemplateForm.days, RosterCb.filter(F.action == "days"))
async def days_done(query: CallbackQuery, callback_data: RosterCb, state: FSMContext) -> None:
    presets = {"wk": [0, 1, 2, 3, 4], "we": [5, 6], "all": list(range(7))}
    days = presets.get(callback_data.arg) or list((await state.get_data()).get("days") or [])
    if not days:
        await query.answer(_("Choose at least one day."), show_alert=True)
        return
    await state.update_data(days=days)
    await state.set_state(TemplateForm.start)
    await _show(query, _("Start time? (e.g. 19:00)"), kb.rows_markup([kb.cancel_row()]))
    await query.answer()


@router.message(TemplateForm.days)
async def days_text(message: Message, state: FSMContext) -> None:
    days = list((await state.get_data()).get("days") or [])
    await message.answer(_("Please tap the days, then Next.") + "\n" + _days_question(),
                         reply_markup=kb.weekdays_kb(days))


async def _time_step(message: Message, state: FSMContext, *, key: str, next_state: State, question: str,
                     again: str, markup: Any = None) -> bool:
    minute = parse_time(message.text or "")
    if minute is None:
        await message.answer(_("Please send a time like 19:00.") + "\n" + again,
                             reply_markup=kb.rows_markup([kb.cancel_row()]))
        return False
    await state.update_data({key: minute})
    await state.set_state(next_state)
    await message.answer(question, reply_markup=markup or kb.rows_markup([kb.cancel_row()]))
    return True


async def _form(state: FSMContext) -> type[TemplateForm] | type[OneOffForm]:
    """Shift times and a one-off shift ask the same start, end and people: which form is this?"""
    current = await state.get_state()
    return TemplateForm if current in (TemplateForm.start.state, TemplateForm.end.state) else OneOffForm


@router.message(StateFilter(TemplateForm.start, OneOffForm.start))
async def start_time(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="start", next_state=(await _form(state)).end,
                     question=_("End time? (e.g. 21:00)"), again=_("Start time? (e.g. 19:00)"))


@router.message(StateFilter(TemplateForm.end, OneOffForm.end))
async def end_time(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="end", next_state=(await _form(state)).people, question=_people_question(),
                     again=_("End time? (e.g. 21:00)"), markup=kb.people_kb())


def _people_question() -> str:
    return _("👥 How many volunteers — at least and at most? Tap, or send like 2-4.")


async def _people(event: Message | CallbackQuery, state: FSMContext, text: str, patrols: PatrolService,
                  actor: Actor) -> None:
    people = parse_people(text)
    message = event if isinstance(event, Message) else _msg(event)
    if people is None:
        if message is not None:
            await message.answer(_("Please send two numbers like 2-4 (at least 1, at most 50).") + "\n"
                                 + _people_question(), reply_markup=kb.people_kb())
        return
    data = await state.get_data()
    current = await state.get_state()
    low, high = people
    await state.clear()
    if current == OneOffForm.people.state:
        from datetime import date as date_

        shift = await patrols.add_one_off(actor, data["route_id"], date_.fromisoformat(data["day"]), data["start"],
                                          data["end"], low, high)
        v = await patrols.view(shift.id)
        await _show(event, ngettext("✅ One-off shift added: {when}, {route}, {low}–{high} person.",
                                    "✅ One-off shift added: {when}, {route}, {low}–{high} people.", high).format(
            when=when(v), route=esc(v.route.name), low=low, high=high), kb.back_kb("route", v.route.id), edit=False)
        return
    template = await patrols.add_template(actor, data["route_id"], weekdays=data["days"],
                                          start_minute=data["start"], end_minute=data["end"], min_volunteers=low,
                                          max_volunteers=high)
    await _show(event, _("✅ Shift times saved: {what}.").format(what=esc(kb.template_label(template))) + "\n"
                + _("Generate the shifts now? They are never duplicated, so you can run this again later."),
                kb.weeks_kb(data["route_id"]), edit=False)


@router.callback_query(StateFilter(TemplateForm.people, OneOffForm.people), RosterCb.filter(F.action == "ppl"))
async def people_button(query: CallbackQuery, callback_data: RosterCb, state: FSMContext, patrols: PatrolService,
                        actor: Actor) -> None:
    await _people(query, state, callback_data.arg, patrols, actor)
    await query.answer()


@router.message(StateFilter(TemplateForm.people, OneOffForm.people))
async def people_text(message: Message, state: FSMContext, patrols: PatrolService, actor: Actor) -> None:
    await _people(message, state, message.text or "", patrols, actor)


@router.callback_query(RosterCb.filter(F.action == "weeks"))
async def ask_weeks(query: CallbackQuery, callback_data: RosterCb) -> None:
    await _show(query, _("For how many weeks ahead?"), kb.weeks_kb(callback_data.id))
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "gen"))
async def generate(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    weeks = int(callback_data.arg or DEFAULT_WEEKS) if (callback_data.arg or "").isdigit() else DEFAULT_WEEKS
    created = await patrols.generate(actor, [callback_data.id], weeks)
    text = _("✅ {shifts} for the next {weeks}. Shifts that already existed were kept.").format(
        shifts=ngettext("{n} new shift", "{n} new shifts", created).format(n=created),
        weeks=ngettext("{n} week", "{n} weeks", weeks).format(n=weeks))
    text += "\n" + _("Volunteers see them in /patrols now.")
    await _show(query, text, kb.rows_markup([[(_("🗓 Upcoming shifts"), kb.ro("shifts")),
                                          (_("⬅️ Back"), kb.ro("route", callback_data.id))]]))
    await query.answer()


# ---- one-off shift


@router.callback_query(RosterCb.filter(F.action == "oneoff"))
async def one_off(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor,
                  state: FSMContext) -> None:
    route = await patrols.planned_route(actor, callback_data.id)
    await state.set_state(OneOffForm.day)
    await state.update_data(route_id=route.id)
    await _show(query, _one_off_question(), kb.rows_markup([kb.cancel_row()]), edit=False)
    await query.answer()


def _one_off_question() -> str:
    return _("Which date? (e.g. 2026-12-31 or 12-31)")


@router.message(OneOffForm.day)
async def one_off_day(message: Message, state: FSMContext, patrols: PatrolService) -> None:
    data = await state.get_data()
    route = await patrols.route(int(data["route_id"]))
    day = parse_date(message.text or "", await patrols.today(route.community_id))
    if day is None or day < await patrols.today(route.community_id):
        await message.answer(_("Please send a date from today on, like 2026-12-31.") + "\n" + _one_off_question(),
                             reply_markup=kb.rows_markup([kb.cancel_row()]))
        return
    await state.update_data(day=day.isoformat())
    await state.set_state(OneOffForm.start)
    await message.answer(_("Start time? (e.g. 19:00)"), reply_markup=kb.rows_markup([kb.cancel_row()]))


