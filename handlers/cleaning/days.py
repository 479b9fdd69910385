"""/cleaning (the next days: who's coming for captains, answers for residents), the RSVP buttons, one day's
screen (skip it, cancel the series) and editing a series."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.clock import Clock
from bot.i18n import _, ngettext
from bot.keyboards import cleaning as kb
from bot.keyboards.common import MenuCb
from bot.notices.cleaning import closed_text, day_text, series_text
from bot.notices.recurrence import date_label
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.cleaning import CleaningService, DayClosed
from bot.services.members import MembersService
from bot.services.recurrence import fmt_hhmm
from bot.services.when import read_time
from handlers.cleaning.common import (
    ADD_STATES,
    EditSeries,
    NewDay,
    _add_question,
    _answer,
    _edit,
    _int,
    _managed,
    _not_manager,
    _save_edit,
    _stale,
)
from models import Member

router = Router(name=__name__)



@router.message(Command("cleaning"))
@router.callback_query(MenuCb.filter(F.action == "cleaning"))
@router.callback_query(kb.DayCb.filter(F.action == "list"))
async def cleaning_list(event: Message | CallbackQuery, actor: Actor, member: Member, members: MembersService,
                        cleaning: CleaningService, state: FSMContext) -> None:
    await state.clear()
    community = await cleaning.managed_community(actor, member)
    if community is not None:
        days = await cleaning.upcoming(actor, member, community.id, manage=True)
        unrecorded = await cleaning.recent_unrecorded(actor, member, community.id)
        lines = [_("🧹 <b>Cleaning days</b>")]
        for v in days[:12]:
            if v.day.status == "skipped":
                lines.append(_("⏭ {date} · {place}: skipped").format(date=date_label(v.day.local_date),
                                                                    place=esc(v.place_name)))
                continue
            names = ", ".join(esc(m.display_name) for m in v.coming[:10])
            more = len(v.coming) - 10
            line = _("📅 {date} {time} · {place}: 🙋 {yes} · 🙅 {no}").format(
                date=date_label(v.day.local_date), time=fmt_hhmm(v.series.start_minutes), place=esc(v.place_name),
                yes=len(v.coming), no=v.not_coming)
            if names:
                line += "\n    " + names + (" " + _("and {n} more").format(n=more) if more > 0 else "")
            lines.append(line)
        if not days:
            lines.append(_("No cleaning days coming up. Set one up with /cleanday."))
        if unrecorded:
            lines.append(_("📝 Waiting for attendance: {dates}").format(
                dates=", ".join(date_label(v.day.local_date) for v in unrecorded)))
        await _answer(event, "\n".join(lines), kb.manager_list_kb(days, unrecorded))
        return
    communities = await members.member_communities(member)
    if not communities:
        await _answer(event, _("Join your building first: open the invite link from your captain, or send /start."))
        return
    days = await cleaning.upcoming(actor, member, communities[0].id, manage=False)
    if not days:
        await _answer(event, _("🧹 No cleaning days are planned for your building yet. I'll remind you when "
                               "one is."))
        return
    lines = [_("🧹 <b>Next cleaning days</b>")]
    for v in days[:5]:
        answer = {True: _("you: 🙋 coming"), False: _("you: not this time"), None: _("you: no answer yet")}[
            v.my_answer]
        lines.append(_("📅 {date} {time} · {place} — {answer}").format(
            date=date_label(v.day.local_date), time=fmt_hhmm(v.series.start_minutes), place=esc(v.place_name),
            answer=answer) + "\n    " + ngettext("%(num)d neighbour coming", "%(num)d neighbours coming",
                                                  len(v.coming)) + (
            "\n    📍 " + esc(v.series.meeting_point) if v.series.meeting_point else ""))
    await _answer(event, "\n".join(lines), kb.resident_list_kb(days))


# ---------------------------------------------------------------------------------- RSVP


@router.callback_query(kb.RsvpCb.filter())
async def rsvp(query: CallbackQuery, callback_data: kb.RsvpCb, actor: Actor, member: Member,
               cleaning: CleaningService) -> None:
    chat_id = query.message.chat.id if query.message else None
    try:
        result = await cleaning.rsvp(actor, member, callback_data.day, callback_data.yes, chat_id)
    except DayClosed as exc:
        await query.answer(closed_text(exc.reason), show_alert=True)
        return
    if callback_data.yes:
        text = _("🙋 Thank you! You're on the list — {n} coming so far.").format(n=result.coming)
    else:
        text = _("Noted — maybe next time!")
    if not result.changed:
        text = _("Your answer is already noted.")
    # The answer first (the person's spinner stops; their tap was committed just before it), then the tick
    # on their own reminder: an edit is a second round trip the answer need not wait for.
    await query.answer(text)
    if isinstance(query.message, Message) and query.message.chat.type == "private" and result.changed:
        await query.message.edit_reply_markup(reply_markup=kb.rsvp_markup(callback_data.day, callback_data.yes))


# ---------------------------------------------------------------------------------- one day


@router.callback_query(kb.DayCb.filter(F.action == "view"))
async def day_view(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member, clock: Clock,
                   cleaning: CleaningService) -> None:
    view = await cleaning.day_view(actor, member, callback_data.day)
    text = day_text(view, await series_text(cleaning, view.series))
    await _answer(query, text, kb.day_kb(view, view.day.starts_at <= clock()))


@router.callback_query(kb.DayCb.filter(F.action.in_({"skip", "cancel"})))
async def ask_confirm(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member,
                      cleaning: CleaningService) -> None:
    view = await _managed(query, cleaning, actor, member, callback_data.day)
    if view is None:
        return
    if callback_data.action == "skip":
        text = ngettext("Skip the cleaning day on {date}? The {n} person who answered will be told.",
                        "Skip the cleaning day on {date}? The {n} people who answered will be told.",
                        len(view.coming) + view.not_coming).format(
            date=date_label(view.day.local_date), n=len(view.coming) + view.not_coming)
    else:
        text = _("Cancel all coming cleaning days of {place}? Everyone who answered will be told.").format(
            place=esc(view.place_name))
    await _answer(query, text, kb.confirm_kb(callback_data.action, view.day.id))


@router.callback_query(kb.DayCb.filter(F.action == "skip_yes"))
async def skip_day(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, cleaning: CleaningService) -> None:
    try:
        day, changed, told = await cleaning.skip(actor, callback_data.day)
    except DayClosed as exc:
        await query.answer(closed_text(exc.reason), show_alert=True)
        return
    if not changed:
        await query.answer(_("Already done."))
        return
    await _edit(query, ngettext("⏭ {date} is skipped. I told {n} person who had answered.",
                                 "⏭ {date} is skipped. I told {n} people who had answered.", told).format(
        date=date_label(day.local_date), n=told))


@router.callback_query(kb.DayCb.filter(F.action == "cancel_yes"))
async def cancel_series(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor,
                        cleaning: CleaningService) -> None:
    _day, series = await cleaning.get_day(callback_data.day)
    series, changed, told = await cleaning.cancel_series(actor, series.id)
    if not changed:
        await query.answer(_("Already done."))
        return
    await _edit(query, ngettext("🗑 The cleaning days of {place} are cancelled. I told {n} person who had answered.",
                                 "🗑 The cleaning days of {place} are cancelled. I told {n} people who had answered.",
                                 told).format(
        place=esc(await cleaning.place_name(series)), n=told))


# ---------------------------------------------------------------------------------- editing a series


@router.callback_query(kb.DayCb.filter(F.action == "edit"))
async def edit_menu(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member,
                    cleaning: CleaningService) -> None:
    view = await _managed(query, cleaning, actor, member, callback_data.day)
    if view is None:
        return
    await _answer(query, _("What would you like to change? (To change how often, cancel the series and set up a "
                           "new one.)"), kb.edit_kb(view.series.id, view.day.id))


@router.callback_query(kb.EditCb.filter())
async def edit_field(query: CallbackQuery, callback_data: kb.EditCb, state: FSMContext, actor: Actor,
                     cleaning: CleaningService) -> None:
    series = await cleaning.get_series(callback_data.series)
    if not await cleaning.can_manage(actor, series):
        await _not_manager(query)
        return
    await state.clear()
    await state.update_data(edit_series=series.id, rem=list(series.reminders))
    field = callback_data.field
    if field not in ("time", "dur", *ADD_STATES):
        await _stale(query)
        return
    if field == "time":
        await state.set_state(EditSeries.time)
        await _answer(query, _("What time does it start? Tap or send a time like 9:00."), kb.time_kb())
        return
    if field == "dur":
        await state.set_state(NewDay.duration)
        await _answer(query, _("How long will it take?"), kb.duration_kb())
        return
    await state.set_state(ADD_STATES[field])
    await _answer(query, _add_question(field, list(series.reminders)), kb.cancel_only_kb())


@router.callback_query(EditSeries.time, kb.NewCb.filter(F.step == "time"))
async def edit_time_tap(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, actor: Actor,
                        cleaning: CleaningService) -> None:
    data = await state.get_data()
    minutes = _int(callback_data.v, 0, 24 * 60 - 1)
    if minutes is None or "edit_series" not in data:
        await _stale(query)
        return
    await _save_edit(query, state, actor, cleaning, int(data["edit_series"]), "start_minutes", minutes)


@router.message(EditSeries.time)
async def edit_time_typed(message: Message, state: FSMContext, actor: Actor, cleaning: CleaningService) -> None:
    minutes = read_time(message.text or "")
    if minutes is None:
        await message.answer(_("Please send a time like 9:00 or 18:30.") + "\n" +
                             _("What time does it start? Tap or send a time like 9:00."), reply_markup=kb.time_kb())
        return
    data = await state.get_data()
    await _save_edit(message, state, actor, cleaning, int(data["edit_series"]), "start_minutes", minutes)
