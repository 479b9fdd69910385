"""/cleanday: setting up a cleaning day (place, how often, the day, time, duration, details, Create)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _
from bot.keyboards import cleaning as kb
from bot.keyboards.places import picked
from bot.notices.cleaning import series_text
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.cleaning import CleaningService, Draft
from bot.services.recurrence import parse_offsets
from bot.services.when import Ambiguous, read_date, read_time
from handlers.cleaning.common import (
    ADD_STATES,
    NewDay,
    _add_question,
    _answer,
    _draft,
    _edit,
    _int,
    _save_edit,
    _stale,
)
from handlers.steps import need_a_building, show_choice
from models import Member

router = Router(name=__name__)

POINT_MAX = 200
TASKS_MAX = 500


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


@router.callback_query(NewDay.place, kb.NewCb.filter(F.step == "place"))
async def choose_place(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext, actor: Actor,
                       cleaning: CleaningService) -> None:
    draft = await _draft(state)
    place = picked(callback_data.v)
    if place is None or place[0] not in ("building", "area", "community"):
        await _stale(query)
        return
    kind, place_id = place
    if kind == "building":
        chosen = set(draft.building_ids) ^ {place_id}
        draft.scope, draft.area_id, draft.building_ids = "buildings", None, sorted(chosen)
        await state.update_data(draft=draft.to_dict())
        options = await cleaning.place_options(actor, draft.community_id)
        await show_choice(query, kb.places_kb(options, draft.building_ids))
        return
    _apply_place(draft, kind, place_id)
    await _to_freq(query, state, draft, cleaning)


@router.callback_query(NewDay.place, kb.NewCb.filter(F.step == "next"))
async def place_next(query: CallbackQuery, state: FSMContext, cleaning: CleaningService) -> None:
    draft = await _draft(state)
    if await need_a_building(query, draft.building_ids):
        await _to_freq(query, state, draft, cleaning)


async def _to_freq(query: CallbackQuery, state: FSMContext, draft: Draft, cleaning: CleaningService) -> None:
    await state.set_state(NewDay.freq)
    await state.update_data(draft=draft.to_dict())
    place = await cleaning.draft_place_name(draft)
    await _edit(query, _("🧹 New cleaning day for {place}.\nHow often?").format(place=esc(place)), kb.freq_kb())


@router.callback_query(NewDay.freq, kb.NewCb.filter(F.step == "freq"))
async def choose_freq(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext,
                      cleaning: CleaningService) -> None:
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
        markup = kb.dates_kb(await cleaning.today(draft.community_id))
    await state.update_data(draft=draft.to_dict())
    await _edit(query, text, markup)


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
@router.callback_query(NewDay.month_day, kb.NewCb.filter(F.step == "mday"))
@router.callback_query(NewDay.date, kb.NewCb.filter(F.step == "date"))
async def choose_day(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext) -> None:
    """The weekday, the day of the month, or the date of a one-off day; then the time."""
    draft = await _draft(state)
    if callback_data.step == "wd":
        draft.weekday = _int(callback_data.v, 0, 6)
        ok = draft.weekday is not None
    elif callback_data.step == "mday":
        draft.month_day = _int(callback_data.v, 1, 31)
        ok = draft.month_day is not None
    else:
        try:
            draft.start_date = date.fromisoformat(callback_data.v)
        except ValueError:
            draft.start_date = None
        ok = draft.start_date is not None
    if not ok:
        await _stale(query)
        return
    await _to_time(query, state, draft)


@router.message(NewDay.date)
async def typed_date(message: Message, state: FSMContext, cleaning: CleaningService, locale: str) -> None:
    """The day of a one-off cleaning day as people type it (bot/services/when.py: 12月5号, 下周六, 2026-12-05,
    Dec 5); a day that reads two ways ("5/12" in English) is asked back with both as buttons."""
    draft = await _draft(state)
    today = await cleaning.today(draft.community_id)
    day = read_date(message.text or "", today=today, locale=locale)
    if isinstance(day, Ambiguous):
        await message.answer(_("Which day do you mean?"), reply_markup=kb.choose_date_kb(day.choices))
        return
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


def _passed() -> str:
    return _("That time has already passed. Send a later time.")


async def _to_time(query: CallbackQuery, state: FSMContext, draft: Draft) -> None:
    await state.set_state(NewDay.time)
    await state.update_data(draft=draft.to_dict())
    await _edit(query, _("What time does it start? Tap or send a time like 9:00."), kb.time_kb())


@router.callback_query(NewDay.time, kb.NewCb.filter(F.step == "time"))
async def choose_time(query: CallbackQuery, callback_data: kb.NewCb, state: FSMContext,
                      cleaning: CleaningService) -> None:
    draft = await _draft(state)
    minutes = _int(callback_data.v, 0, 24 * 60 - 1)
    if minutes is None:
        await _stale(query)
        return
    if not await cleaning.fix_start(draft, minutes):
        await query.answer(_passed(), show_alert=True)
        return
    await state.set_state(NewDay.duration)
    await state.update_data(draft=draft.to_dict())
    await _edit(query, _("How long will it take?"), kb.duration_kb())


@router.message(NewDay.time)
async def typed_time(message: Message, state: FSMContext, cleaning: CleaningService) -> None:
    draft = await _draft(state)
    minutes = read_time(message.text or "")
    error = _("Please send a time like 9:00 or 18:30.") if minutes is None else \
        None if await cleaning.fix_start(draft, minutes) else _passed()
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
    text = await series_text(cleaning, draft) + "\n\n" + _("Create it? You can add details first.")
    markup = kb.preview_kb(bool(draft.meeting_point), bool(draft.tasks), bool(draft.photo_file_id))
    if edit and isinstance(event, CallbackQuery):
        await _edit(event, text, markup)
    else:
        await _answer(event, text, markup)


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
    text = await series_text(cleaning, series) + "\n\n" + _(
        "✅ Created. I'll remind the residents and their chat, and show you who's coming. "
        "See it any time with /cleaning.")
    if first is None:
        text += "\n" + _("No date in the coming weeks matches this rule yet.")
    await _edit(query, text)


@router.message(NewDay.preview)
async def typed_at_preview(message: Message, state: FSMContext, cleaning: CleaningService) -> None:
    await message.answer(_("Please tap one of the buttons."))
    await _show_preview(message, state, await _draft(state), cleaning)


