"""On the shift: check in (with or without a location), checkpoints (a tap or a shared location), report
a problem seen on the way, check out with a note."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.i18n import _
from bot.keyboards import patrols as kb
from bot.keyboards.patrols import PatrolCb
from bot.rendering import esc
from bot.services.patrols import PatrolError, PatrolService, ShiftView
from handlers.patrols.common import DutyForm, _msg, _show
from handlers.reporting import begin_report
from models import Member

router = Router(name=__name__)


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

