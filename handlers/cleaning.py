"""/cleanday (set up, edit, skip, cancel), /cleaning (the next days and who's coming), RSVP buttons,
and recording attendance after the day. Glue only: the rules are in bot/services/cleaning.py."""

from __future__ import annotations

import importlib
import importlib.util
import re
import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.i18n import _, ngettext
from bot.keyboards import cleaning as kb
from bot.keyboards.common import MenuCb
from bot.notices.recurrence import date_label, join_list, offset_label
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.cleaning import CleaningService, DayClosed, DayView, Draft
from bot.services.members import MembersService
from bot.services.recurrence import (
    first_weekday_on_or_after,
    fmt_hhmm,
    parse_hhmm,
    parse_offsets,
    to_utc,
)
from models import Community, Member

router = Router(name=__name__)

POINT_MAX = 200
TASKS_MAX = 500
SUMMARY_MAX = 500


class NewDay(StatesGroup):
    place = State()
    freq = State()
    nth = State()
    weekday = State()
    month_day = State()
    date = State()
    time = State()
    duration = State()
    preview = State()
    point = State()
    tasks = State()
    photo = State()
    reminders = State()


class Record(StatesGroup):
    who = State()
    others = State()
    bags = State()
    summary = State()
    photos = State()
    confirm = State()


def _int(value: str, lo: int, hi: int) -> int | None:
    """A number from callback data (untrusted: a client can send anything), or None."""
    try:
        n = int(value)
    except ValueError:
        return None
    return n if lo <= n <= hi else None


async def _stale(query: CallbackQuery) -> None:
    await query.answer(_("This button is no longer active."), show_alert=False)


def closed_text(reason: str) -> str:
    return {
        "skipped": _("This cleaning day was skipped."),
        "cancelled": _("These cleaning days were cancelled."),
        "over": _("This cleaning day is already over. Thank you!"),
        "started": _("This cleaning day has already started."),
        "not_started": _("You can record attendance once the cleaning day has started."),
    }.get(reason, _("This cleaning day is no longer open."))


async def _answer(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Reply to a command or a button press with a new message in the same chat."""
    message = event if isinstance(event, Message) else event.message
    if isinstance(message, Message):
        await message.answer(text, reply_markup=markup)
    if isinstance(event, CallbackQuery):
        await event.answer()


# ---------------------------------------------------------------------------------- /cleanday


@router.message(Command("cleanday"), F.chat.type != "private")
async def cleanday_in_group(message: Message) -> None:
    await message.answer(_("Please set up cleaning days in a private chat with me: open the bot and send /cleanday."))


@router.message(Command("cleanday"))
@router.callback_query(kb.DayCb.filter(F.action == "new"))
async def cleanday(event: Message | CallbackQuery, state: FSMContext, actor: Actor, member: Member,
                   cleaning: CleaningService) -> None:
    await state.clear()
    community = await cleaning.managed_community(actor, member)
    if community is None:
        await _answer(event, _("Only building captains, area heads and office staff can set up cleaning days."))
        return
    options = await cleaning.place_options(actor, community.id)
    draft = Draft(community_id=community.id, token=uuid.uuid4().hex)
    if len(options) == 1:
        only = options[0]
        _apply_place(draft, only.kind, only.id)
        await state.set_state(NewDay.freq)
        await state.update_data(draft=draft.to_dict())
        await _answer(event, _("🧹 New cleaning day for {place}.\nHow often?").format(place=esc(only.name)),
                      kb.freq_kb())
        return
    await state.set_state(NewDay.place)
    await state.update_data(draft=draft.to_dict())
    await _answer(event, _("🧹 New cleaning day. Where? Tap one or more buildings, or a whole area."),
                  kb.places_kb(options, []))


def _apply_place(draft: Draft, kind: str, place_id: int) -> None:
    if kind == "building":
        draft.scope = "buildings"
        draft.building_ids = [place_id]
    elif kind == "area":
        draft.scope, draft.area_id, draft.building_ids = "area", place_id, []
    else:
        draft.scope, draft.area_id, draft.building_ids = "community", None, []


async def _draft(state: FSMContext) -> Draft:
    data = await state.get_data()
    if "draft" not in data:
        raise LookupError("draft")
    return Draft.from_dict(data["draft"])


@router.callback_query(NewDay.place, kb.NewCb.filter(F.step == "place"))
async def choose_place(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, actor: Actor,
                       cleaning: CleaningService) -> None:
    draft = await _draft(state)
    kind, place_id = callback_data.v[:1], _int(callback_data.v[1:], 1, 2**62)
    if kind not in ("b", "a", "c") or place_id is None:
        await _stale(query)
        return
    if kind == "b":
        chosen = set(draft.building_ids) ^ {place_id}
        draft.scope, draft.area_id, draft.building_ids = "buildings", None, sorted(chosen)
        await state.update_data(draft=draft.to_dict())
        options = await cleaning.place_options(actor, draft.community_id)
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=kb.places_kb(options, draft.building_ids))
        await query.answer()
        return
    _apply_place(draft, "area" if kind == "a" else "community", place_id)
    await _to_freq(query, state, draft, cleaning)


@router.callback_query(NewDay.place, kb.NewCb.filter(F.step == "next"))
async def place_next(query: CallbackQuery, state: FSMContext, cleaning: CleaningService) -> None:
    draft = await _draft(state)
    if not draft.building_ids:
        await query.answer(_("Tap at least one building."), show_alert=True)
        return
    await _to_freq(query, state, draft, cleaning)


async def _to_freq(query: CallbackQuery, state: FSMContext, draft: Draft, cleaning: CleaningService) -> None:
    await state.set_state(NewDay.freq)
    await state.update_data(draft=draft.to_dict())
    place = await cleaning.draft_place_name(draft)
    await _edit(query, _("🧹 New cleaning day for {place}.\nHow often?").format(place=esc(place)), kb.freq_kb())


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
    await query.answer()


@router.callback_query(NewDay.freq, kb.NewCb.filter(F.step == "freq"))
async def choose_freq(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, clock: Clock,
                      session: Any) -> None:
    draft = await _draft(state)
    v = callback_data.v
    if v in ("w1", "w2"):
        draft.freq, draft.interval = "weekly", int(v[1])
        await state.set_state(NewDay.weekday)
        text = _("On which day of the week?")
        markup = kb.weekday_kb()
    elif v == "mn":
        draft.freq = "monthly_nth"
        await state.set_state(NewDay.nth)
        text = _("Which one in the month? (e.g. 2nd — then the weekday)")
        markup = kb.nth_kb()
    elif v == "md":
        draft.freq = "monthly_day"
        await state.set_state(NewDay.month_day)
        text = _("On which day of the month? (31 means the last day in shorter months)")
        markup = kb.month_day_kb()
    else:
        draft.freq = "once"
        await state.set_state(NewDay.date)
        text = _("Which day? Tap a date or send one like 2026-12-12.")
        markup = kb.dates_kb(await _today(session, draft.community_id, clock))
    await state.update_data(draft=draft.to_dict())
    await _edit(query, text, markup)


async def _today(session: Any, community_id: int, clock: Clock) -> date:
    community = await session.get(Community, community_id)
    return clock().astimezone(ZoneInfo(community.timezone if community else "UTC")).date()


@router.callback_query(NewDay.nth, kb.NewCb.filter(F.step == "nth"))
async def choose_nth(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    draft = await _draft(state)
    nth = _int(callback_data.v, -1, 4)
    if nth is None or nth == 0:
        await _stale(query)
        return
    draft.nth = nth
    await state.set_state(NewDay.weekday)
    await state.update_data(draft=draft.to_dict())
    await _edit(query, _("On which day of the week?"), kb.weekday_kb())


@router.callback_query(NewDay.weekday, kb.NewCb.filter(F.step == "wd"))
async def choose_weekday(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    draft = await _draft(state)
    draft.weekday = _int(callback_data.v, 0, 6)
    if draft.weekday is None:
        await _stale(query)
        return
    await _to_time(query, state, draft)


@router.callback_query(NewDay.month_day, kb.NewCb.filter(F.step == "mday"))
async def choose_month_day(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    draft = await _draft(state)
    draft.month_day = _int(callback_data.v, 1, 31)
    if draft.month_day is None:
        await _stale(query)
        return
    await _to_time(query, state, draft)


@router.callback_query(NewDay.date, kb.NewCb.filter(F.step == "date"))
async def choose_date(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    draft = await _draft(state)
    try:
        draft.start_date = date.fromisoformat(callback_data.v)
    except ValueError:
        await _stale(query)
        return
    await _to_time(query, state, draft)


def parse_date(text: str, today: date) -> date | None:
    """'2026-12-12', '12-12', '12月12日' -> a date on or after today; None when not understood."""
    t = text.strip()
    m = re.fullmatch(r"(\d{4})[-./年](\d{1,2})[-./月](\d{1,2})日?", t)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.fullmatch(r"(\d{1,2})[-月](\d{1,2})日?", t)
        if m:
            d = date(today.year, int(m.group(1)), int(m.group(2)))
            return d if d >= today else date(today.year + 1, d.month, d.day)
    except ValueError:
        return None
    return None


@router.message(NewDay.date)
async def typed_date(message: Message, state: FSMContext, clock: Clock, session: Any) -> None:
    draft = await _draft(state)
    today = await _today(session, draft.community_id, clock)
    day = parse_date(message.text or "", today)
    if day is None or day < today:
        await message.answer(_("Please send a date like 2026-12-12 (today or later), or tap one."),
                             reply_markup=kb.dates_kb(today))
        return
    draft.start_date = day
    await state.set_state(NewDay.time)
    await state.update_data(draft=draft.to_dict())
    await message.answer(_("What time does it start? Tap or send a time like 9:00."), reply_markup=kb.time_kb())


@router.message(StateFilter(NewDay.place, NewDay.freq, NewDay.nth, NewDay.weekday, NewDay.month_day))
async def tap_please(message: Message, state: FSMContext, actor: Actor, cleaning: CleaningService) -> None:
    """Typed text where a button is expected: say so and ask the same question again."""
    current = await state.get_state()
    draft = await _draft(state)
    questions: dict[str | None, tuple[str, InlineKeyboardMarkup]] = {
        NewDay.freq.state: (_("How often?"), kb.freq_kb()),
        NewDay.nth.state: (_("Which one in the month? (e.g. 2nd — then the weekday)"), kb.nth_kb()),
        NewDay.weekday.state: (_("On which day of the week?"), kb.weekday_kb()),
        NewDay.month_day.state: (_("On which day of the month? (31 means the last day in shorter months)"),
                                 kb.month_day_kb()),
    }
    if current == NewDay.place.state:
        options = await cleaning.place_options(actor, draft.community_id)
        question = (_("Where? Tap one or more buildings, or a whole area."), kb.places_kb(options, draft.building_ids))
    else:
        question = questions[current]
    await message.answer(_("Please tap one of the buttons.") + "\n" + question[0], reply_markup=question[1])


async def _to_time(query: CallbackQuery, state: FSMContext, draft: Draft) -> None:
    await state.set_state(NewDay.time)
    await state.update_data(draft=draft.to_dict())
    await _edit(query, _("What time does it start? Tap or send a time like 9:00."), kb.time_kb())


async def _set_time(draft: Draft, minutes: int, session: Any, clock: Clock) -> str | None:
    """Fix the start date from the rule and time; returns an error text when the moment has passed."""
    community = await session.get(Community, draft.community_id)
    tz = community.timezone if community else "UTC"
    now = clock()
    today = now.astimezone(ZoneInfo(tz)).date()
    draft.start_minutes = minutes
    if draft.freq == "once":
        assert draft.start_date is not None
        if to_utc(draft.start_date, minutes, tz) <= now:
            return _("That time has already passed. Send a later time.")
        return None
    if draft.freq == "weekly":
        assert draft.weekday is not None
        first = first_weekday_on_or_after(today, draft.weekday)
        if to_utc(first, minutes, tz) <= now:
            first += timedelta(days=7)
        draft.start_date = first
    else:
        draft.start_date = today
    return None


@router.callback_query(NewDay.time, kb.NewCb.filter(F.step == "time"))
async def choose_time(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, clock: Clock,
                      session: Any) -> None:
    draft = await _draft(state)
    minutes = _int(callback_data.v, 0, 24 * 60 - 1)
    if minutes is None:
        await _stale(query)
        return
    error = await _set_time(draft, minutes, session, clock)
    if error:
        await query.answer(error, show_alert=True)
        return
    await state.set_state(NewDay.duration)
    await state.update_data(draft=draft.to_dict())
    await _edit(query, _("How long will it take?"), kb.duration_kb())


@router.message(NewDay.time)
async def typed_time(message: Message, state: FSMContext, clock: Clock, session: Any) -> None:
    draft = await _draft(state)
    minutes = parse_hhmm(message.text or "")
    error = _("Please send a time like 9:00 or 18:30.") if minutes is None else \
        await _set_time(draft, minutes, session, clock)
    if error:
        await message.answer(error + "\n" + _("What time does it start? Tap or send a time like 9:00."),
                             reply_markup=kb.time_kb())
        return
    await state.set_state(NewDay.duration)
    await state.update_data(draft=draft.to_dict())
    await message.answer(_("How long will it take?"), reply_markup=kb.duration_kb())


@router.callback_query(NewDay.duration, kb.NewCb.filter(F.step == "dur"))
async def choose_duration(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, actor: Actor,
                          cleaning: CleaningService) -> None:
    minutes = _int(callback_data.v, 15, 12 * 60)
    if minutes is None:
        await _stale(query)
        return
    series_id = (await state.get_data()).get("edit_series")
    if series_id is not None:
        await _save_edit(query, state, actor, cleaning, int(series_id), "duration_minutes", minutes)
        return
    draft = await _draft(state)
    draft.duration_minutes = minutes
    await state.update_data(draft=draft.to_dict())
    await _show_preview(query, state, draft, cleaning, edit=True)


@router.message(NewDay.duration)
async def typed_duration(message: Message) -> None:
    await message.answer(_("Please tap one of the buttons.") + "\n" + _("How long will it take?"),
                         reply_markup=kb.duration_kb())


async def _show_preview(event: Message | CallbackQuery, state: FSMContext, draft: Draft, cleaning: CleaningService,
                        *, edit: bool = False) -> None:
    await state.set_state(NewDay.preview)
    text = await cleaning.describe(draft) + "\n\n" + _("Create it? You can add details first.")
    markup = kb.preview_kb(bool(draft.meeting_point), bool(draft.tasks), bool(draft.photo_file_id))
    if edit and isinstance(event, CallbackQuery):
        await _edit(event, text, markup)
    else:
        await _answer(event, text, markup)


ADD_STATES = {"point": NewDay.point, "tasks": NewDay.tasks, "photo": NewDay.photo, "rem": NewDay.reminders}


def _add_question(what: str, current: list[str] | None = None) -> str:
    if what == "point":
        return _("Where do people meet? e.g. “Building 1 yard, by the bike shed”.")
    if what == "tasks":
        return _("What should people bring, and what will you clean? One or two lines.")
    if what == "photo":
        return _("Send a photo to go with the reminders (a poster, the meeting point).")
    now = join_list([offset_label(o) for o in current or []]) or "—"
    return _("When should I remind residents? Now: {now}.\nSend the reminders separated by commas: "
             "<code>3d</code> = 3 days before at the start time, <code>1d 19:00</code> = the evening before, "
             "<code>0d 08:00</code> = the morning of the day, <code>2h</code> = 2 hours before.").format(now=now)


@router.callback_query(NewDay.preview, kb.NewCb.filter(F.step == "add"))
async def add_detail(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    draft = await _draft(state)
    what = callback_data.v
    if what not in ADD_STATES:
        await _stale(query)
        return
    await state.set_state(ADD_STATES[what])
    await _answer(query, _add_question(what, draft.reminders), kb.skip_kb("back"))


@router.callback_query(NewDay.point, kb.NewCb.filter(F.step == "back"))
@router.callback_query(NewDay.tasks, kb.NewCb.filter(F.step == "back"))
@router.callback_query(NewDay.photo, kb.NewCb.filter(F.step == "back"))
@router.callback_query(NewDay.reminders, kb.NewCb.filter(F.step == "back"))
async def add_back(query: CallbackQuery, state: FSMContext, cleaning: CleaningService) -> None:
    await _show_preview(query, state, await _draft(state), cleaning)


@router.message(NewDay.point)
@router.message(NewDay.tasks)
@router.message(NewDay.photo)
@router.message(NewDay.reminders)
async def typed_detail(message: Message, state: FSMContext, actor: Actor, cleaning: CleaningService) -> None:
    current = await state.get_state()
    data = await state.get_data()
    draft = Draft.from_dict(data["draft"]) if "draft" in data else None
    what = {NewDay.point.state: "point", NewDay.tasks.state: "tasks", NewDay.photo.state: "photo",
            NewDay.reminders.state: "rem"}[current or ""]
    value, error = _read_detail(what, message)
    if error is not None:
        await message.answer(error + "\n" + _add_question(what, draft.reminders if draft else data.get("rem")),
                             reply_markup=kb.skip_kb("back"))
        return
    series_id = data.get("edit_series")
    if series_id is not None:
        field = {"point": "meeting_point", "tasks": "tasks", "photo": "photo_file_id", "rem": "reminders"}[what]
        await _save_edit(message, state, actor, cleaning, int(series_id), field, value)
        return
    assert draft is not None
    if what == "point":
        draft.meeting_point = value
    elif what == "tasks":
        draft.tasks = value
    elif what == "photo":
        draft.photo_file_id = value
    else:
        draft.reminders = value
    await state.update_data(draft=draft.to_dict())
    await _show_preview(message, state, draft, cleaning)


def _read_detail(what: str, message: Message) -> tuple[Any, str | None]:
    if what == "photo":
        if not message.photo:
            return None, _("That is not a photo.")
        return message.photo[-1].file_id, None
    text = (message.text or "").strip()
    if not text or text.startswith("/"):
        return None, _("Please send text.")
    if what == "rem":
        offsets = parse_offsets(text)
        if offsets is None:
            return None, _("I didn't understand those reminder times.")
        return offsets, None
    limit = POINT_MAX if what == "point" else TASKS_MAX
    if len(text) > limit:
        return None, _("That is too long: please keep it under {n} characters.").format(n=limit)
    return text, None


@router.callback_query(NewDay.preview, kb.NewCb.filter(F.step == "create"))
async def create(query: CallbackQuery, state: FSMContext, actor: Actor, cleaning: CleaningService) -> None:
    draft = await _draft(state)
    series, created = await cleaning.create(actor, draft)
    await state.clear()
    if not created:
        await query.answer(_("Already created."))
        return
    first = await cleaning.next_day(series.id)
    text = await cleaning.describe(series) + "\n\n" + _(
        "✅ Created. I'll remind the residents and their chat, and show you who's coming. "
        "See it any time with /cleaning.")
    if first is None:
        text += "\n" + _("No date in the coming weeks matches this rule yet.")
    await _edit(query, text)


@router.message(NewDay.preview)
async def typed_at_preview(message: Message, state: FSMContext, cleaning: CleaningService) -> None:
    await message.answer(_("Please tap one of the buttons."))
    await _show_preview(message, state, await _draft(state), cleaning)


# ---------------------------------------------------------------------------------- /cleaning


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


def _day_text(view: DayView, description: str) -> str:
    lines = [description, ""]
    if view.day.status == "skipped":
        lines.append(_("⏭ {date} is skipped.").format(date=date_label(view.day.local_date)))
    else:
        lines.append(_("📅 {date}: 🙋 {yes} coming · 🙅 {no} not this time").format(
            date=date_label(view.day.local_date), yes=len(view.coming), no=view.not_coming))
        if view.coming:
            lines.append(", ".join(esc(m.display_name) for m in view.coming[:40]))
    return "\n".join(lines)


@router.callback_query(kb.DayCb.filter(F.action == "view"))
async def day_view(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member, clock: Clock,
                   cleaning: CleaningService) -> None:
    view = await cleaning.day_view(actor, member, callback_data.day)
    text = _day_text(view, await cleaning.describe(view.series))
    await _answer(query, text, kb.day_kb(view, view.day.starts_at <= clock()))


@router.callback_query(kb.DayCb.filter(F.action.in_({"skip", "cancel"})))
async def ask_confirm(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member,
                      cleaning: CleaningService) -> None:
    view = await cleaning.day_view(actor, member, callback_data.day)
    if not view.can_manage:
        await query.answer(_("Only the building's captains (or the area head and office) can do this."),
                           show_alert=True)
        return
    if callback_data.action == "skip":
        text = _("Skip the cleaning day on {date}? The {n} people who answered will be told.").format(
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
    await _edit(query, _("⏭ {date} is skipped. I told {n} people who had answered.").format(
        date=date_label(day.local_date), n=told))


@router.callback_query(kb.DayCb.filter(F.action == "cancel_yes"))
async def cancel_series(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor,
                        cleaning: CleaningService) -> None:
    _day, series = await cleaning.get_day(callback_data.day)
    series, changed, told = await cleaning.cancel_series(actor, series.id)
    if not changed:
        await query.answer(_("Already done."))
        return
    await _edit(query, _("🗑 The cleaning days of {place} are cancelled. I told {n} people who had answered.").format(
        place=esc(await cleaning.place_name(series)), n=told))


# ---------------------------------------------------------------------------------- editing a series


@router.callback_query(kb.DayCb.filter(F.action == "edit"))
async def edit_menu(query: CallbackQuery, callback_data: kb.DayCb, actor: Actor, member: Member,
                    cleaning: CleaningService) -> None:
    view = await cleaning.day_view(actor, member, callback_data.day)
    if not view.can_manage:
        await query.answer(_("Only the building's captains (or the area head and office) can do this."),
                           show_alert=True)
        return
    await _answer(query, _("What would you like to change? (To change how often, cancel the series and set up a "
                           "new one.)"), kb.edit_kb(view.series.id, view.day.id))


class EditSeries(StatesGroup):
    time = State()


@router.callback_query(kb.EditCb.filter())
async def edit_field(query: CallbackQuery, callback_data: kb.EditCb, state: FSMContext, actor: Actor,
                     cleaning: CleaningService) -> None:
    series = await cleaning.get_series(callback_data.series)
    if not await cleaning.can_manage(actor, series):
        await query.answer(_("Only the building's captains (or the area head and office) can do this."),
                           show_alert=True)
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
    minutes = parse_hhmm(message.text or "")
    if minutes is None:
        await message.answer(_("Please send a time like 9:00 or 18:30.") + "\n" +
                             _("What time does it start? Tap or send a time like 9:00."), reply_markup=kb.time_kb())
        return
    data = await state.get_data()
    await _save_edit(message, state, actor, cleaning, int(data["edit_series"]), "start_minutes", minutes)


async def _save_edit(event: Message | CallbackQuery, state: FSMContext, actor: Actor, cleaning: CleaningService,
                     series_id: int, field: str, value: Any) -> None:
    try:
        series, told = await cleaning.edit(actor, series_id, field, value)
    except DayClosed as exc:
        await state.clear()
        await _answer(event, closed_text(exc.reason))
        return
    await state.clear()
    text = await cleaning.describe(series) + "\n\n" + _("✅ Saved.")
    if told:
        text += " " + ngettext("I told %(num)d person who had answered.", "I told %(num)d people who had answered.",
                               told)
    await _answer(event, text)


# ---------------------------------------------------------------------------------- after the day


@router.callback_query(kb.DayCb.filter(F.action == "record"))
async def record_start(query: CallbackQuery, callback_data: kb.DayCb, state: FSMContext, actor: Actor,
                       member: Member, clock: Clock, cleaning: CleaningService) -> None:
    view = await cleaning.day_view(actor, member, callback_data.day)
    if not view.can_manage:
        await query.answer(_("Only the building's captains (or the area head and office) can do this."),
                           show_alert=True)
        return
    if view.day.starts_at > clock():
        await query.answer(closed_text("not_started"), show_alert=True)
        return
    await state.clear()
    ticked = [m.id for m in view.coming]
    await state.update_data(day=view.day.id, ticked=ticked, people=ticked, others=0, bags=None, summary=None,
                            photos=[])
    if not view.coming:
        await state.set_state(Record.others)
        await _answer(query, _("Nobody signed up in the bot. How many people took part? Tap or send a number."),
                      kb.numbers_kb("others", [0, 1, 2, 3, 5, 10]))
        return
    await state.set_state(Record.who)
    await _answer(query, _("Who took part on {date}? I've ticked everyone who said they'd come — untick anyone "
                           "who didn't.").format(date=date_label(view.day.local_date)),
                  kb.attendance_kb(view.coming, ticked))


@router.callback_query(Record.who, kb.RecCb.filter(F.action == "who"))
async def record_toggle(query: CallbackQuery, callback_data: kb.RecCb, state: FSMContext,
                        cleaning: CleaningService) -> None:
    data = await state.get_data()
    ticked = set(data["ticked"]) ^ {callback_data.v}
    if callback_data.v not in data["people"]:
        await query.answer()
        return
    await state.update_data(ticked=sorted(ticked))
    people = await cleaning.coming_members(int(data["day"]))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=kb.attendance_kb(people, sorted(ticked)))
    await query.answer()


@router.callback_query(Record.who, kb.RecCb.filter(F.action == "next"))
async def record_who_next(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(Record.others)
    await _answer(query, _("How many other people took part (who didn't sign up in the bot)? Tap or send a number."),
                  kb.numbers_kb("others", [0, 1, 2, 3, 5, 10]))


def _number(text: str | None) -> int | None:
    t = (text or "").strip()
    return int(t) if t.isdigit() and int(t) <= 10_000 else None


@router.callback_query(Record.others, kb.RecCb.filter(F.action == "others"))
@router.message(Record.others)
async def record_others(event: Message | CallbackQuery, state: FSMContext,
                        callback_data: kb.RecCb | None = None) -> None:
    value = callback_data.v if callback_data is not None else _number(
        event.text if isinstance(event, Message) else None)
    if value is None:
        await _answer(event, _("Please send a number, like 4.") + "\n" + _(
            "How many other people took part (who didn't sign up in the bot)? Tap or send a number."),
            kb.numbers_kb("others", [0, 1, 2, 3, 5, 10]))
        return
    await state.update_data(others=value)
    await state.set_state(Record.bags)
    await _answer(event, _("How many bags of rubbish were collected? Tap or send a number."),
                  kb.numbers_kb("bags", [0, 1, 2, 3, 4, 5], skip=True))


@router.callback_query(Record.bags, kb.RecCb.filter(F.action.in_({"bags", "skip"})))
@router.message(Record.bags)
async def record_bags(event: Message | CallbackQuery, state: FSMContext,
                      callback_data: kb.RecCb | None = None) -> None:
    if callback_data is not None:
        value: int | None = callback_data.v if callback_data.action == "bags" else None
    else:
        value = _number(event.text if isinstance(event, Message) else None)
        if value is None:
            await _answer(event, _("Please send a number, like 4.") + "\n" + _(
                "How many bags of rubbish were collected? Tap or send a number."),
                kb.numbers_kb("bags", [0, 1, 2, 3, 4, 5], skip=True))
            return
    await state.update_data(bags=value)
    await state.set_state(Record.summary)
    await _answer(event, _("What was cleared? One or two lines, e.g. “Stairwells 1–4 and the bike shed”."),
                  kb.rec_skip_kb())


@router.callback_query(Record.summary, kb.RecCb.filter(F.action == "skip"))
@router.message(Record.summary)
async def record_summary(event: Message | CallbackQuery, state: FSMContext) -> None:
    if isinstance(event, Message):
        text = (event.text or "").strip()
        if not text or text.startswith("/") or len(text) > SUMMARY_MAX:
            await event.answer(_("Please send a short text (up to {n} characters), or tap Skip.").format(
                n=SUMMARY_MAX) + "\n" + _("What was cleared? One or two lines, e.g. “Stairwells 1–4 and the bike "
                                          "shed”."), reply_markup=kb.rec_skip_kb())
            return
        await state.update_data(summary=text)
    await state.set_state(Record.photos)
    await _answer(event, _("Send photos of the result (up to 10), then tap Done."), kb.photos_kb(0))


@router.message(Record.photos)
async def record_photo(message: Message, state: FSMContext) -> None:
    if not message.photo:
        await message.answer(_("That is not a photo.") + "\n" + _(
            "Send photos of the result (up to 10), then tap Done."), reply_markup=kb.photos_kb(0))
        return
    data = await state.get_data()
    photos = list(data.get("photos") or [])
    if len(photos) >= 10:
        await message.answer(_("That's 10 photos already — tap Done."), reply_markup=kb.photos_kb(len(photos)))
        return
    photos.append(message.photo[-1].file_id)
    await state.update_data(photos=photos)
    await message.answer(ngettext("📷 %(num)d photo. Send more or tap Done.", "📷 %(num)d photos. Send more or tap "
                                  "Done.", len(photos)), reply_markup=kb.photos_kb(len(photos)))


@router.callback_query(Record.photos, kb.RecCb.filter(F.action == "done"))
async def record_preview(query: CallbackQuery, state: FSMContext, cleaning: CleaningService) -> None:
    data = await state.get_data()
    day, series = await cleaning.get_day(int(data["day"]))
    people = len(data["ticked"]) + int(data["others"])
    community = await cleaning.session.get(Community, series.community_id)
    text = await cleaning.summary_text(day.local_date, series, people=people, bags=data["bags"],
                                       summary=data["summary"], locale=community.locale if community else "en")
    chats = await cleaning.residents_chats(series)
    await state.set_state(Record.confirm)
    photos = ngettext("%(num)d photo", "%(num)d photos", len(data["photos"])) if data["photos"] else ""
    await _answer(query, _("This is the summary for the residents' chat:") + "\n\n" + text +
                  (f"\n📷 {photos}" if photos else ""), kb.post_kb(bool(chats)))


@router.callback_query(Record.confirm, kb.RecCb.filter(F.action == "post"))
async def record_post(query: CallbackQuery, state: FSMContext, actor: Actor, cleaning: CleaningService) -> None:
    data = await state.get_data()
    try:
        day, posted = await cleaning.record(actor, int(data["day"]), attended=data["ticked"],
                                            others=int(data["others"]), bags=data["bags"], summary=data["summary"],
                                            photos=data["photos"])
    except DayClosed as exc:
        await state.clear()
        await query.answer(closed_text(exc.reason), show_alert=True)
        return
    await state.clear()
    text = _("✅ Recorded: {n} people took part on {date}.").format(n=day.attendance, date=date_label(day.local_date))
    if posted:
        text += "\n" + _("The summary is on its way to the residents' chat and goes into the daily digest.")
    else:
        text += "\n" + _("It goes into the daily digest.")
    await _edit(query, text)


@router.callback_query(kb.DayCb.filter(F.action == "report"))
async def report_problem(query: CallbackQuery, callback_data: kb.DayCb, state: FSMContext, actor: Actor,
                         member: Member, cleaning: CleaningService) -> None:
    """Problems found on the day go through the normal reporting flow, linked to the cleaning day."""
    view = await cleaning.day_view(actor, member, callback_data.day)
    buildings = await cleaning.target_buildings(view.series)
    if importlib.util.find_spec("handlers.reporting") is None:
        await query.answer(_("Reporting is not available yet."), show_alert=True)
        return
    reporting = importlib.import_module("handlers.reporting")
    begin = getattr(reporting, "begin_report", None)
    if begin is None:
        await query.answer(_("Reporting is not available yet."), show_alert=True)
        return
    await state.clear()
    await begin(query, state, building_id=buildings[0].id if len(buildings) == 1 else None,
                cleaning_day_id=view.day.id)
