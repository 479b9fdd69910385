"""/patrols for volunteers (my shifts, open shifts, take, drop, swap, check in/out, checkpoints,
calendar) and /roster for captains, area heads and staff (routes, shift times, generating, cancelling,
assigning, shift records). Glue only: the rules are in bot/services/patrols.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove, TelegramObject

from bot.i18n import _
from bot.keyboards import patrols as kb
from bot.keyboards.common import MenuCb
from bot.keyboards.patrols import PatrolCb, RosterCb
from bot.rendering import esc, render
from bot.services.access import Actor, Level, NotAllowed, Place
from bot.services.background import BackgroundService, JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.patrols import (
    DEFAULT_WEEKS,
    PatrolError,
    PatrolService,
    ShiftView,
    day_label,
    error_text,
    parse_date,
    parse_people,
    parse_time,
)
from models import Member, ShiftStatus

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class RouteForm(StatesGroup):
    place = State()
    name = State()
    description = State()
    checkpoints = State()


class TemplateForm(StatesGroup):
    days = State()
    start = State()
    end = State()
    people = State()


class OneOffForm(StatesGroup):
    day = State()
    start = State()
    end = State()
    people = State()


class EditForm(StatesGroup):
    name = State()
    description = State()
    checkpoints = State()


class DutyForm(StatesGroup):
    check_in = State()
    check_out = State()


class PatrolRefusals(BaseMiddleware):
    """A rule that says no (full, too late, already taken ...) becomes a friendly answer. Done here
    rather than with an error handler because handlers/errors.py catches everything first; the
    session is rolled back so nothing half-done is committed."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except PatrolError as exc:
            session = data.get("session")
            if session is not None:
                await session.rollback()
            text = error_text(exc.reason)
            if isinstance(event, CallbackQuery):
                await event.answer(text[:200], show_alert=True)
            elif isinstance(event, Message):
                await event.answer(text)
            return None


router.message.middleware(PatrolRefusals())
router.callback_query.middleware(PatrolRefusals())


def _msg(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _show(event: Message | CallbackQuery, text: str, markup: Any = None, *, edit: bool = True) -> None:
    """Edit the pressed message in place when possible, otherwise answer with a new one."""
    if isinstance(event, CallbackQuery):
        message = _msg(event)
        if message is not None and edit and message.text is not None:
            await message.edit_text(text, reply_markup=markup)
        elif message is not None:
            await message.answer(text, reply_markup=markup)
        return
    await event.answer(text, reply_markup=markup)


async def _labels(patrols: PatrolService, views: list[ShiftView]) -> dict[int, str]:
    out = {}
    for v in views:
        today = await patrols.today(v.shift.community_id)
        out[v.id] = f"{day_label(v.local_start.date(), today)} {v.local_start.strftime('%H:%M')}"
    return out


# ------------------------------------------------------------------------------------- /patrols


async def _patrols_screen(patrols: PatrolService, actor: Actor, member: Member) -> tuple[str, Any]:
    if actor.top_level < Level.VOLUNTEER:
        raise NotAllowed("patrol_take", None, Level.VOLUNTEER)
    mine = await patrols.my_shifts(member)
    open_ = await patrols.open_shifts(actor, member)
    hours = await patrols.hours(member)
    mine_rows = []
    for v in mine:
        a = v.assignment_of(member.id)
        today = await patrols.today(v.shift.community_id)
        mine_rows.append({"when": v.when(today), "route": v.route.name, "others": ", ".join(v.names(member.id)),
                          "on_duty": bool(a and a.checked_in_at and not a.checked_out_at),
                          "invited": bool(a and a.status == "invited")})
    open_rows = []
    for v in open_:
        today = await patrols.today(v.shift.community_id)
        open_rows.append({"when": v.when(today), "route": v.route.name, "needs": v.needs, "count": v.shift.filled,
                          "max": v.shift.max_volunteers})
    text = render("patrols_my.html.j2", mine=mine_rows, open=open_rows,
                  hours={"month": f"{hours.month:g} h", "total": f"{hours.total:g} h"})
    return text, kb.patrols_kb(mine, open_, label=await _labels(patrols, mine + open_))


@router.message(Command("patrols"))
async def cmd_patrols(message: Message, patrols: PatrolService, actor: Actor, member: Member,
                      state: FSMContext) -> None:
    await state.clear()
    text, markup = await _patrols_screen(patrols, actor, member)
    await message.answer(text, reply_markup=markup)


@router.callback_query(MenuCb.filter(F.action == "patrols"))
@router.callback_query(PatrolCb.filter(F.action == "menu"))
async def menu_patrols(query: CallbackQuery, patrols: PatrolService, actor: Actor, member: Member) -> None:
    text, markup = await _patrols_screen(patrols, actor, member)
    message = _msg(query)
    if message is not None and isinstance(query.data, str) and query.data.startswith("pt:") and message.text:
        await message.edit_text(text, reply_markup=markup)
    elif message is not None:
        await message.answer(text, reply_markup=markup)
    await query.answer()


def _shift_text(v: ShiftView, member: Member, today: Any) -> str:
    a = v.assignment_of(member.id)
    lines = [f"🚶 <b>{esc(v.route.name)}</b>", f"🗓 {v.when(today)}"]
    others = v.names(member.id)
    lines.append(_("👥 With: {names}").format(names=esc(", ".join(others))) if others else
                 _("👥 Nobody else yet ({count} of {min}–{max})").format(
                     count=v.shift.filled, min=v.shift.min_volunteers, max=v.shift.max_volunteers))
    if v.route.description:
        lines.append(f"📝 {esc(v.route.description)}")
    if v.route.checkpoints:
        lines.append("📌 " + esc(" → ".join(c.name for c in v.route.checkpoints)))
    if a is not None and a.checked_in_at is not None:
        lines.append(_("✅ Checked in {time}").format(time=a.checked_in_at.astimezone(v.tz).strftime("%H:%M")))
    return "\n".join(lines)


async def _shift_screen(patrols: PatrolService, member: Member, shift_id: int) -> tuple[str, Any]:
    v = await patrols.view(shift_id)
    a = v.assignment_of(member.id)
    on_duty = bool(a and a.status == "active" and a.checked_in_at and not a.checked_out_at)
    can_in = bool(a and a.status == "active" and a.checked_in_at is None and patrols.can_check_in(v))
    text = _shift_text(v, member, await patrols.today(v.shift.community_id))
    return text, kb.my_shift_kb(v, member, can_check_in=can_in, on_duty=on_duty)


@router.callback_query(PatrolCb.filter(F.action == "shift"))
async def my_shift(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member) -> None:
    text, markup = await _shift_screen(patrols, member, callback_data.id)
    await _show(query, text, markup)
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "take"))
async def take(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, actor: Actor,
               member: Member) -> None:
    try:
        v = await patrols.take(actor, member, callback_data.id)
    except PatrolError as exc:
        if exc.reason != "already":
            raise
        await query.answer(_("You're already on this shift."), show_alert=True)
        return
    text, markup = await _shift_screen(patrols, member, v.id)
    await _show(query, _("✅ You're on the patrol. I'll remind you the day before and 1 hour before.") + "\n\n"
                + text, markup)
    await query.answer(_("You're on!"))


@router.callback_query(PatrolCb.filter(F.action == "drop"))
async def drop(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, actor: Actor,
               member: Member) -> None:
    if callback_data.arg != "ok":
        v = await patrols.view(callback_data.id)
        await _show(query, _("Drop the patrol {when}, {route}?").format(
            when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
            kb.confirm_drop_kb(v.id))
        await query.answer()
        return
    v = await patrols.drop(actor, member, callback_data.id)
    text = _("OK, you're off the patrol {when}, {route}.").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name))
    if v.needs:
        text += "\n" + _("I've asked the other volunteers to cover.")
    await _show(query, text, kb.rows_markup([[(_("🚶 My patrols"), kb.pt("menu"))]]))
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "cant"))
async def cant_make_it(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, actor: Actor,
                       member: Member) -> None:
    try:
        v = await patrols.drop(actor, member, callback_data.id, reason="cant_make_it")
    except PatrolError as exc:
        if exc.reason != "not_on_shift":
            raise
        await query.answer(_("You're not on this shift any more."), show_alert=True)
        return
    await _show(query, _("Thanks for telling me. You're off the patrol {when}, {route}; your captain knows and "
                         "I've asked the other volunteers to cover.").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name)))
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "confirm"))
async def confirm(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member) -> None:
    v, changed = await patrols.confirm(member, callback_data.id)
    text = _("✅ Thank you! See you {when}, {route}.").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name))
    if changed:
        await _show(query, text)
    await query.answer(_("Confirmed.") if changed else _("Already confirmed."))


@router.callback_query(PatrolCb.filter(F.action.in_({"yes", "no"})))
async def answer_assignment(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService,
                            member: Member) -> None:
    yes = callback_data.action == "yes"
    v, changed = await patrols.answer_assignment(member, callback_data.id, yes)
    if not changed:
        await query.answer(_("Already answered."), show_alert=True)
        return
    when = v.when(await patrols.today(v.shift.community_id))
    text = (_("✅ Thank you! You're on the patrol {when}, {route}.") if yes else
            _("OK, I've told your captain you can't do {when}, {route}.")).format(when=when, route=esc(v.route.name))
    await _show(query, text)
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "swap"))
async def swap(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, actor: Actor,
               member: Member) -> None:
    _swap, sent, new = await patrols.request_swap(actor, member, callback_data.id)
    if not new:
        await query.answer(_("Your swap offer is already out. I'll tell you when someone takes it."), show_alert=True)
        return
    if sent:
        text = _("🔁 I've offered your place to {n} volunteers. You stay on the shift until someone takes it; "
                 "I'll tell you when they do.").format(n=sent)
    else:
        text = _("🔁 There is nobody else in the volunteer pool to offer it to right now. You stay on the shift; "
                 "ask your captain if you can't go.")
    await _show(query, text, kb.rows_markup([[(_("🚶 My patrols"), kb.pt("menu"))]]))
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "swapok"))
async def accept_swap(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, actor: Actor,
                      member: Member) -> None:
    v = await patrols.accept_swap(actor, member, callback_data.id)
    await _show(query, _("✅ It's yours: patrol {when}, {route}. Thank you for stepping in!").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name)))
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "ics"))
async def calendar(query: CallbackQuery, member: Member, background: BackgroundService, locale: str) -> None:
    """The .ics is made by the job worker (bot/worker.py) and arrives through the outbox; the press is
    answered at once."""
    message = _msg(query)
    if message is None:
        await query.answer()
        return
    running = await background.running_for(member.id)
    job = None if running is not None else await background.submit(
        kind="patrol_calendar", member_id=member.id, chat_id=message.chat.id, locale=locale, params={})
    if job is None:
        await query.answer(_("I'm still working on your previous request; one at a time, please."), show_alert=True)
        return
    await query.answer(_("📅 Making your calendar file; it comes in a moment."))


@job_kind("patrol_calendar")
async def calendar_job(run: JobRun) -> JobOutcome:
    from bot.services import build_services

    async with run.sessions() as session:
        member = await session.get(Member, run.member_id)
        if member is None:
            raise JobFailed(_("Sorry, you can't do this here."))
        data = await build_services(session, run.clock, run.settings).patrols.calendar(member)
    path = run.folder / "patrols.ics"
    await asyncio.to_thread(path.write_bytes, data)
    return JobOutcome("", [JobMessage(text=_("📅 Your patrol shifts. Open the file to add them to your calendar."),
                                      document=path)])


# ------------------------------------------------------------------------------------- check in / out


@router.callback_query(PatrolCb.filter(F.action == "checkin"))
async def check_in_start(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member,
                         state: FSMContext) -> None:
    v = await patrols.view(callback_data.id)
    a = v.assignment_of(member.id)
    if a is None or a.status != "active":
        raise PatrolError("not_on_shift")
    if not patrols.can_check_in(v):
        raise PatrolError("window")
    await state.set_state(DutyForm.check_in)
    await state.update_data(shift_id=v.id)
    message = _msg(query)
    if message is not None:
        await message.answer(_check_in_question(), reply_markup=kb.location_kb())
    await query.answer()


def _check_in_question() -> str:
    return _("📍 Share your location to check in (the button below), or tap “Check in without location”.")


async def _checked_in(message: Message, patrols: PatrolService, member: Member, state: FSMContext,
                      lat: float | None, lon: float | None) -> None:
    shift_id = int((await state.get_data()).get("shift_id", 0))
    await state.clear()
    v, new = await patrols.check_in(member, shift_id, lat, lon)
    a = v.assignment_of(member.id)
    at = a.checked_in_at.astimezone(v.tz).strftime("%H:%M") if a and a.checked_in_at else ""
    others = v.names(member.id)
    text = _("✅ Checked in at {time}. Have a safe patrol!").format(time=at) if new else \
        _("You were already checked in (at {time}).").format(time=at)
    if new and others:
        text += "\n" + _("I've told {names} you're on.").format(names=esc(", ".join(others)))
    await message.answer(text, reply_markup=ReplyKeyboardRemove())
    await message.answer(_on_duty_text(v), reply_markup=kb.on_duty_kb(v))


def _on_duty_text(v: ShiftView) -> str:
    lines = [_("🚶 On patrol: {route}, until {end}.").format(route=esc(v.route.name),
                                                             end=v.local_end.strftime("%H:%M"))]
    if v.route.checkpoints:
        lines.append(_("Tap a checkpoint when you reach it, or send your location."))
    lines.append(_("Seen a problem? Tap Report a problem. When you're done, tap Check out."))
    return "\n".join(lines)


@router.message(DutyForm.check_in, F.location)
async def check_in_location(message: Message, patrols: PatrolService, member: Member, state: FSMContext) -> None:
    assert message.location is not None
    await _checked_in(message, patrols, member, state, message.location.latitude, message.location.longitude)


@router.message(DutyForm.check_in, F.text)
async def check_in_text(message: Message, patrols: PatrolService, member: Member, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if text == _("✅ Check in without location"):
        await _checked_in(message, patrols, member, state, None, None)
        return
    if text in (_("✖️ Cancel"), "/cancel"):
        await state.clear()
        await message.answer(_("OK, not checked in."), reply_markup=ReplyKeyboardRemove())
        return
    await message.answer(_("I need your location or the “Check in without location” button.") + "\n"
                         + _check_in_question(), reply_markup=kb.location_kb())


@router.message(DutyForm.check_in)
async def check_in_other(message: Message) -> None:
    await message.answer(_("I need your location or the “Check in without location” button.") + "\n"
                         + _check_in_question(), reply_markup=kb.location_kb())


@router.message(StateFilter(None), F.location)
async def on_duty_location(message: Message, patrols: PatrolService, member: Member) -> None:
    """A location shared while on a shift logs a checkpoint (the nearest one within 150 m)."""
    v = await patrols.current_shift(member)
    if v is None:
        raise SkipHandler()  # not on a shift: the location is for someone else (e.g. reporting)
    assert message.location is not None
    name, seq = await patrols.log_checkpoint(member, v.id, lat=message.location.latitude,
                                             lon=message.location.longitude)
    text = _("📌 Point {n} logged: {name}.").format(n=seq, name=esc(name)) if name else \
        _("📌 Point {n} logged at your location.").format(n=seq)
    await message.answer(text, reply_markup=kb.on_duty_kb(v))


@router.callback_query(PatrolCb.filter(F.action == "cp"))
async def checkpoint_tap(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService,
                         member: Member) -> None:
    name, seq = await patrols.log_checkpoint(member, callback_data.id, int(callback_data.arg or 0) or None)
    await query.answer(_("📌 {n}. {name} — logged.").format(n=seq, name=name))


@router.callback_query(PatrolCb.filter(F.action == "report"))
async def report_from_shift(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService,
                            member: Member, state: FSMContext) -> None:
    v = await patrols.view(callback_data.id)
    if v.assignment_of(member.id) is None:
        raise PatrolError("not_on_shift")
    try:  # the reporting flow is its own capability; only call it if it is installed
        from handlers.reporting import begin_report  # type: ignore[attr-defined]
    except ImportError:
        begin_report = None
    if begin_report is None:
        await query.answer(_("Reporting isn't available yet. Please tell your captain what you saw."),
                           show_alert=True)
        return
    # begin_report answers the button press itself.
    await begin_report(query, state, building_id=v.route.building_id, shift_id=v.id)


@router.callback_query(PatrolCb.filter(F.action == "checkout"))
async def check_out_start(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member,
                          state: FSMContext) -> None:
    v = await patrols.view(callback_data.id)
    a = v.assignment_of(member.id)
    if a is None or a.checked_in_at is None:
        raise PatrolError("not_checked_in")
    if a.checked_out_at is not None:
        await query.answer(_("You have already checked out."), show_alert=True)
        return
    await state.set_state(DutyForm.check_out)
    await state.update_data(shift_id=v.id)
    message = _msg(query)
    if message is not None:
        await message.answer(_check_out_question(), reply_markup=kb.checkout_kb(v.id))
    await query.answer()


def _check_out_question() -> str:
    return _("🏁 How was it? Send a short note of what you saw — or tap All quiet.")


async def _checked_out(event: Message | CallbackQuery, patrols: PatrolService, member: Member, state: FSMContext,
                       shift_id: int, note: str) -> None:
    await state.clear()
    _v, new = await patrols.check_out(member, shift_id, note)
    hours = await patrols.hours(member)
    text = (_("✅ Checked out. Thank you for looking after the neighbourhood!") if new else
            _("You have already checked out.")) + "\n" + _("⏱ Your hours this month: {month} h · in total: {total} h"
                                                         ).format(month=f"{hours.month:g}", total=f"{hours.total:g}")
    await _show(event, text, kb.rows_markup([[(_("🚶 My patrols"), kb.pt("menu"))]]), edit=False)


@router.callback_query(PatrolCb.filter(F.action == "quiet"))
async def all_quiet(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member,
                    state: FSMContext) -> None:
    await _checked_out(query, patrols, member, state, callback_data.id, _("All quiet"))
    await query.answer()


@router.message(DutyForm.check_out, F.text)
async def check_out_note(message: Message, patrols: PatrolService, member: Member, state: FSMContext) -> None:
    text = (message.text or "").strip()
    shift_id = int((await state.get_data()).get("shift_id", 0))
    if text.startswith("/") or not text:
        await message.answer(_("Please send a short text note, or tap All quiet.") + "\n" + _check_out_question(),
                             reply_markup=kb.checkout_kb(shift_id))
        return
    await _checked_out(message, patrols, member, state, shift_id, text)


@router.message(DutyForm.check_out)
async def check_out_other(message: Message, state: FSMContext) -> None:
    shift_id = int((await state.get_data()).get("shift_id", 0))
    await message.answer(_("Please send a short text note, or tap All quiet.") + "\n" + _check_out_question(),
                         reply_markup=kb.checkout_kb(shift_id))


# ------------------------------------------------------------------------------------- /roster


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
    route = await patrols.route(callback_data.id)
    from bot.services.access import require
    from bot.services.patrols import place_of

    require(actor, "roster", place_of(route))
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
    await state.update_data(**{key: minute})
    await state.set_state(next_state)
    await message.answer(question, reply_markup=markup or kb.rows_markup([kb.cancel_row()]))
    return True


@router.message(TemplateForm.start)
async def template_start(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="start", next_state=TemplateForm.end, question=_("End time? (e.g. 21:00)"),
                     again=_("Start time? (e.g. 19:00)"))


@router.message(TemplateForm.end)
async def template_end(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="end", next_state=TemplateForm.people, question=_people_question(),
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
        await _show(event, _("✅ One-off shift added: {when}, {route}, {low}–{high} people.").format(
            when=v.when(), route=esc(v.route.name), low=low, high=high), kb.back_kb("route", v.route.id), edit=False)
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
    text = _("✅ {n} new shifts for the next {weeks} weeks. Shifts that already existed were kept.").format(
        n=created, weeks=weeks)
    text += "\n" + _("Volunteers see them in /patrols now.")
    await _show(query, text, kb.rows_markup([[(_("🗓 Upcoming shifts"), kb.ro("shifts")),
                                          (_("⬅️ Back"), kb.ro("route", callback_data.id))]]))
    await query.answer()


# ---- one-off shift


@router.callback_query(RosterCb.filter(F.action == "oneoff"))
async def one_off(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor,
                  state: FSMContext) -> None:
    from bot.services.access import require
    from bot.services.patrols import place_of

    route = await patrols.route(callback_data.id)
    require(actor, "roster", place_of(route))
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


@router.message(OneOffForm.start)
async def one_off_start(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="start", next_state=OneOffForm.end, question=_("End time? (e.g. 21:00)"),
                     again=_("Start time? (e.g. 19:00)"))


@router.message(OneOffForm.end)
async def one_off_end(message: Message, state: FSMContext) -> None:
    await _time_step(message, state, key="end", next_state=OneOffForm.people, question=_people_question(),
                     again=_("End time? (e.g. 21:00)"), markup=kb.people_kb())


# ---- a route's card and edits


async def _route_screen(patrols: PatrolService, actor: Actor, route_id: int) -> tuple[str, Any]:
    from bot.services.access import require
    from bot.services.patrols import place_of

    route = await patrols.route(route_id)
    require(actor, "roster", place_of(route))
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
    from bot.services.access import require
    from bot.services.patrols import place_of

    route = await patrols.route(callback_data.id)
    require(actor, "roster", place_of(route))
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
    from bot.services.access import require
    from bot.services.patrols import place_of

    v = await patrols.view(shift_id)
    require(actor, "roster", place_of(v.route))
    lines = [f"🛣 <b>{esc(v.route.name)}</b>", f"🗓 {v.when(await patrols.today(v.shift.community_id))}",
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
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
        kb.confirm_cancel_kb(v.id))
    await query.answer()


@router.callback_query(RosterCb.filter(F.action == "cancelok"))
async def cancel_ok(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    v, changed = await patrols.cancel_shift(actor, callback_data.id)
    told = len([a for a, _m in v.people if a.status == "cancelled"])
    text = _("❌ Cancelled: {when}, {route}. I've told {n} volunteers.").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name), n=told)
    if changed:
        await _show(query, text, kb.back_kb("shifts"))
    await query.answer(None if changed else _("This shift is already cancelled."))


@router.callback_query(RosterCb.filter(F.action == "assign"))
async def assign_pick(query: CallbackQuery, callback_data: RosterCb, patrols: PatrolService, actor: Actor) -> None:
    from bot.services.access import require
    from bot.services.patrols import place_of

    v = await patrols.view(callback_data.id)
    require(actor, "roster", place_of(v.route))
    on = {m.id for a, m in v.people if a.status in ("active", "invited")}
    pool = [m for m in await patrols.volunteer_pool(v.shift.community_id) if m.id not in on]
    if not pool:
        await query.answer(_("Every volunteer is already on this shift or asked."), show_alert=True)
        return
    await _show(query, _("Who should patrol {when}, {route}? They will be asked to confirm.").format(
        when=v.when(await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
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
                  when=v.when(), status=status, min=v.shift.min_volunteers, max=v.shift.max_volunteers,
                  count=len(v.active), rows=rows, findings=" ".join(f"#{i.reference}" for i in rec.findings))
    await _show(query, text, kb.back_kb("past"))
    await query.answer()
