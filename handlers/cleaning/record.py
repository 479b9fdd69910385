"""After a cleaning day: who took part, how many others, bags, what was cleared, photos, the summary for
the residents' chat; and a problem found on the day, reported through the normal flow."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.clock import Clock
from bot.i18n import _, ngettext
from bot.keyboards import cleaning as kb
from bot.notices.cleaning import closed_text, summary_text
from bot.notices.recurrence import date_label
from bot.services.access import Actor
from bot.services.cleaning import CleaningService, DayClosed
from handlers.cleaning.common import Record, _answer, _edit, _managed
from handlers.reporting import begin_report
from models import Member

router = Router(name=__name__)

SUMMARY_MAX = 500
OTHERS = [0, 1, 2, 3, 5, 10]



@router.callback_query(kb.DayCb.filter(F.action == "record"))
async def record_start(query: CallbackQuery, callback_data: kb.DayCb, state: FSMContext, actor: Actor,
                       member: Member, clock: Clock, cleaning: CleaningService) -> None:
    view = await _managed(query, cleaning, actor, member, callback_data.day)
    if view is None:
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
                      kb.numbers_kb("others", OTHERS))
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
                  kb.numbers_kb("others", OTHERS))


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
            kb.numbers_kb("others", OTHERS))
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
    community = await cleaning.community(series.community_id)
    text = await summary_text(cleaning, day.local_date, series, people=people, bags=data["bags"],
                              summary=data["summary"], locale=community.locale)
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
    text = ngettext("✅ Recorded: {n} person took part on {date}.", "✅ Recorded: {n} people took part on {date}.",
                    day.attendance or 0).format(n=day.attendance, date=date_label(day.local_date))
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
    await state.clear()
    await begin_report(query, state, building_id=buildings[0].id if len(buildings) == 1 else None,
                cleaning_day_id=view.day.id)
