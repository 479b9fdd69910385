"""/patrols for volunteers: my shifts and the open ones, take, drop, "can't make it", confirm, answer a
captain's request, swap, and the calendar file."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards import patrols as kb
from bot.keyboards.common import MenuCb
from bot.keyboards.patrols import PatrolCb
from bot.notices.patrols import when
from bot.rendering import esc, render
from bot.services.access import Actor, Level, NotAllowed
from bot.services.background import BackgroundService
from bot.services.patrols import PatrolError, PatrolService, ShiftView
from handlers.patrols.common import _labels, _msg, _show
from models import Member

router = Router(name=__name__)


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
        mine_rows.append({"when": when(v, today), "route": v.route.name, "others": ", ".join(v.names(member.id)),
                          "on_duty": bool(a and a.checked_in_at and not a.checked_out_at),
                          "invited": bool(a and a.status == "invited")})
    open_rows = []
    for v in open_:
        today = await patrols.today(v.shift.community_id)
        open_rows.append({"when": when(v, today), "route": v.route.name, "needs": v.needs, "count": v.shift.filled,
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
    lines = [f"🚶 <b>{esc(v.route.name)}</b>", f"🗓 {when(v, today)}"]
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
            when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name)),
            kb.confirm_drop_kb(v.id))
        await query.answer()
        return
    v = await patrols.drop(actor, member, callback_data.id)
    text = _("OK, you're off the patrol {when}, {route}.").format(
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name))
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
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name)))
    await query.answer()


@router.callback_query(PatrolCb.filter(F.action == "confirm"))
async def confirm(query: CallbackQuery, callback_data: PatrolCb, patrols: PatrolService, member: Member) -> None:
    v, changed = await patrols.confirm(member, callback_data.id)
    text = _("✅ Thank you! See you {when}, {route}.").format(
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name))
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
    at = when(v, await patrols.today(v.shift.community_id))
    text = (_("✅ Thank you! You're on the patrol {when}, {route}.") if yes else
            _("OK, I've told your captain you can't do {when}, {route}.")).format(when=at, route=esc(v.route.name))
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
        text = ngettext("🔁 I've offered your place to {n} volunteer. You stay on the shift until someone takes it; "
                        "I'll tell you when they do.",
                        "🔁 I've offered your place to {n} volunteers. You stay on the shift until someone takes it; "
                        "I'll tell you when they do.", sent).format(n=sent)
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
        when=when(v, await patrols.today(v.shift.community_id)), route=esc(v.route.name)))
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

