"""Cleaning days end to end: a captain sets up "every 2nd Saturday, 9:00" in a few taps, residents get
three reminders at the right local times with RSVP buttons, the captain sees the count live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select

from bot.services.access import Place
from bot.services.members import MembersService, TelegramPerson
from models import Building, CleaningDay, CleaningRsvp, CleaningSeries, JobLease
from tests.conftest import BotHarness

CAPTAIN = 3001
RESIDENTS_CHAT = -1001000000031


# The dispatcher (and its throttle) is shared by the session; tests tap faster than people.
pytestmark = pytest.mark.usefixtures("fast_presses")


async def add_residents(harness: BotHarness, ids: list[int], *, building: str = "b1", lang: str = "en",
                        started: bool = True, prefs: dict[str, Any] | None = None) -> None:
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
        for i in ids:
            m = await members.touch(TelegramPerson(id=i, first_name=f"Resident{i % 1000}", language_code=lang))
            m.started = started
            m.prefs = dict(prefs or {})
            await members.grant(m, "resident", Place(b.community_id, b.area_id, b.id), source="import")
        await s.commit()
    for i in ids:
        harness.up.user(i, f"Resident{i % 1000}", lang)
        if started:
            harness.tg.add_chat(i, type="private")


def screen(harness: BotHarness, chat: int) -> str:
    """What the chat's last bot message says now (after edits), as Telegram HTML."""
    last = harness.tg.last(chat)
    return harness.tg.current(chat, last.message_id).html_text


async def tap(harness: BotHarness, chat: int, user: Any, text: str) -> None:
    await harness.feed(harness.up.callback_on(harness.tg.last(chat), user, text))


async def setup_second_saturday(harness: BotHarness, captain: Any) -> None:
    await harness.feed(harness.up.text(captain, "/cleanday"))
    assert "How often?" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "Monthly: e.g. 2nd Saturday")
    await tap(harness, CAPTAIN, captain, "2nd")
    await tap(harness, CAPTAIN, captain, "Sat")
    await tap(harness, CAPTAIN, captain, "09:00")
    await tap(harness, CAPTAIN, captain, "2 h")
    await tap(harness, CAPTAIN, captain, "Meeting point")
    await harness.feed(harness.up.text(captain, "Building 1 yard, by the bike shed"))
    await tap(harness, CAPTAIN, captain, "Create")


async def at(harness: BotHarness, when: datetime) -> None:
    """Move the clock, run the scheduled jobs and deliver the outbox. harness.tick() builds a new Ticker
    (a new lease holder) each time, so the previous tick's lease is released first."""
    harness.clock.set(when)
    async with harness.sessions() as s:
        await s.execute(delete(JobLease))
        await s.commit()
    await harness.tick()
    await harness.deliver()


async def test_captain_sets_up_second_saturday_and_residents_get_three_reminders(
        harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [60001, 60002, 60003])
    await add_residents(harness, [60004], prefs={"cleaning": False})  # muted cleaning reminders
    up.group(RESIDENTS_CHAT, "Building 1 residents")
    captain = up.user(CAPTAIN, "Zhang", "en")
    harness.record({CAPTAIN: "Captain Zhang (Building 1)", 60001: "Ann (resident)", 60002: "Bo (resident)",
                    60003: "Cai (resident)", RESIDENTS_CHAT: "Building 1 residents' chat"})

    await setup_second_saturday(harness, captain)
    created = screen(harness, CAPTAIN)
    assert "every 2nd Saturday of the month" in created and "09:00–11:00" in created
    assert "Next: Sat 12 Dec" in created and "Created" in created
    async with harness.sessions() as s:
        series = (await s.execute(select(CleaningSeries))).scalar_one()
        assert series.building_ids and series.meeting_point == "Building 1 yard, by the bike shed"
        days = (await s.execute(select(CleaningDay).order_by(CleaningDay.local_date))).scalars().all()
        assert days[0].local_date.isoformat() == "2026-12-12"

    # 3 days before, at the start time: Wednesday 9 Dec 09:00 Shanghai = 01:00 UTC.
    harness.note("Wednesday 9 December, 08:59 — nothing yet")
    await at(harness, datetime(2026, 12, 9, 0, 59, tzinfo=UTC))
    assert not tg.sent(60001)
    harness.note("09:00 — the first reminder")
    await at(harness, datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    first = tg.last(60001)
    assert "Cleaning day: Sat 12 Dec" in first.text and "Building 1 yard" in first.text
    assert tg.buttons(first) == [["🙋 I'll join", "Not this time"]]
    assert not tg.sent(60004)  # muted
    group = tg.last(RESIDENTS_CHAT)
    assert "快来第一个报名" in group.text  # the residents' chat speaks the community's language (zh)
    card = tg.last(CAPTAIN)
    assert "Sat 12 Dec 09:00" in card.text and "0 coming" in card.text

    # RSVPs: privately and from the residents' chat (the person is whoever pressed).
    await tap(harness, 60001, up.user(60001, "Ann"), "I'll join")
    assert "You're on the list" in tg.alerts()[-1].params["text"]
    assert tg.buttons(tg.current(60001, first.message_id))[0][0] == "✅ I'll join"
    await harness.feed(up.callback_on(group, up.user(60002, "Bo"), "我参加"))
    await harness.feed(up.callback_on(group, up.user(60002, "Bo"), "我参加"))  # twice: one RSVP
    assert "已记录" in tg.alerts()[-1].params["text"]  # the group speaks the community language
    await tap(harness, 60003, up.user(60003, "Cai"), "Not this time")
    harness.note("a few seconds later the counts are edited in place")
    await at(harness, datetime(2026, 12, 9, 1, 0, 10, tzinfo=UTC))
    card_now = tg.current(CAPTAIN, card.message_id).html_text
    assert "2 coming" in card_now and "Ann" in card_now and "1 not this time" in card_now
    assert "已有2位邻居报名" in tg.current(RESIDENTS_CHAT, group.message_id).html_text
    async with harness.sessions() as s:
        assert len((await s.execute(select(CleaningRsvp))).scalars().all()) == 3

    # The evening before at 19:00 local, then the morning of the day at 08:00 local.
    harness.note("Friday 11 December 19:00 — the evening reminder")
    await at(harness, datetime(2026, 12, 11, 10, 59, tzinfo=UTC))
    assert len(tg.sent(60001)) == 1
    await at(harness, datetime(2026, 12, 11, 11, 0, tzinfo=UTC))
    assert "Cleaning day: tomorrow, Sat 12 Dec" in screen(harness, 60001)
    assert tg.buttons(tg.last(60001)) == [["✅ I'll join", "Not this time"]]  # their answer, ticked
    harness.note("Saturday 12 December 08:00 — the morning reminder")
    await at(harness, datetime(2026, 12, 12, 0, 0, tzinfo=UTC))
    assert "Cleaning day: today, Sat 12 Dec" in screen(harness, 60001)
    assert len(tg.sent(60002)) == 3 and len(tg.sent(60001)) == 3
    assert len([c for c in tg.sent(RESIDENTS_CHAT)]) == 3
    await at(harness, datetime(2026, 12, 12, 0, 30, tzinfo=UTC))  # a later tick sends nothing again
    assert len(tg.sent(60001)) == 3

    # /cleaning: the captain sees counts and names; a resident sees their own answer.
    await harness.feed(up.text(captain, "/cleaning"))
    listing = screen(harness, CAPTAIN)
    assert "Sat 12 Dec 09:00 · Building 1: 🙋 2 · 🙅 1" in listing and "Ann" in listing
    await harness.feed(up.text(up.user(60001, "Ann"), "/cleaning"))
    assert "you: 🙋 coming" in screen(harness, 60001)

    # After the day the captain is asked how it went and records attendance.
    harness.note("after the cleaning day")
    await at(harness, datetime(2026, 12, 12, 3, 1, tzinfo=UTC))
    assert "How did the cleaning day go?" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "Record attendance")
    assert tg.buttons(tg.last(CAPTAIN))[0][0].startswith("✅")
    await tap(harness, CAPTAIN, captain, "Next")
    await harness.feed(up.text(captain, "lots"))
    assert "Please send a number" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "21"))
    await tap(harness, CAPTAIN, captain, "4")
    await harness.feed(up.text(captain, "Stairwells 1–4 cleared"))
    await harness.feed(up.photo(captain))
    await tap(harness, CAPTAIN, captain, "Done")
    assert "23位邻居参加，垃圾4袋。" in screen(harness, CAPTAIN)  # exactly what the (zh) chat will read
    await tap(harness, CAPTAIN, captain, "Post to the residents' chat")
    assert "Recorded: 23 people" in screen(harness, CAPTAIN)
    await harness.deliver()
    summary = tg.last(RESIDENTS_CHAT)
    assert summary.method == "sendPhoto" and "23位邻居参加，垃圾4袋。" in (summary.text or "")
    harness.save_transcript("cleaning_en", "Cleaning day: set up, reminders, RSVPs, attendance (en)")


async def test_skip_and_cancel_tell_everyone_who_answered(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [61001, 61002])
    captain = up.user(CAPTAIN, "Zhang", "en")
    await setup_second_saturday(harness, captain)
    await at(harness, datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    await tap(harness, 61001, up.user(61001, "Ann"), "I'll join")
    await harness.feed(up.text(captain, "/cleaning"))
    await tap(harness, CAPTAIN, captain, "Sat 12 Dec")
    assert "Ann" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "Skip this day")
    await tap(harness, CAPTAIN, captain, "Yes")
    assert "is skipped" in screen(harness, CAPTAIN) and "told 1 person" in screen(harness, CAPTAIN)
    await harness.deliver()
    assert "will not take place" in screen(harness, 61001)
    assert not any("will not take place" in t for t in tg.texts(61002))
    # a resident cannot skip or cancel: the buttons are checked again on press
    await harness.feed(up.callback(up.user(61002, "Bo"), "cd:cancel_yes:1", chat=61002))
    assert "Only the building's captains" in tg.alerts()[-1].params["text"]
    # The next occurrence (9 Jan) is still on; cancel the series from it.
    await harness.feed(up.text(captain, "/cleaning"))
    await tap(harness, CAPTAIN, captain, "Sat 9 Jan")
    await tap(harness, CAPTAIN, captain, "Cancel series")
    await tap(harness, CAPTAIN, captain, "Yes")
    assert "cancelled" in screen(harness, CAPTAIN)
    # pressing the old reminder of the skipped day gets a polite alert, not an RSVP
    await harness.feed(up.callback_on(tg.sent(61001)[0], up.user(61001, "Ann"), "I'll join"))
    assert "skipped" in tg.alerts()[-1].params["text"]


async def test_wrong_input_gets_the_question_again(harness: BotHarness, community: Any) -> None:
    up = harness.up
    captain = up.user(CAPTAIN, "Zhang", "en")
    await harness.feed(up.text(captain, "/cleanday"))
    await harness.feed(up.text(captain, "saturday please"))
    assert "Please tap one of the buttons" in screen(harness, CAPTAIN) and "How often?" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "Just once")
    await harness.feed(up.text(captain, "someday"))
    assert "Please send a date" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "2026-11-28"))
    await harness.feed(up.text(captain, "25:00"))
    assert "Please send a time like 9:00" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "9:30"))
    await tap(harness, CAPTAIN, captain, "1½ h")
    await tap(harness, CAPTAIN, captain, "Reminders")
    await harness.feed(up.text(captain, "every morning"))
    assert "didn't understand those reminder times" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "1d 20:00, 2h"))
    assert "the day before at 20:00, 2 h before" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "Create")
    assert "once, Sat 28 Nov" in screen(harness, CAPTAIN)
    resident = up.user(62001, "Dee")
    await harness.feed(up.text(resident, "/cleanday"))
    assert "Only building captains" in screen(harness, 62001)


async def test_a_day_and_a_time_the_way_people_type_them(harness: BotHarness, community: Any) -> None:
    """A one-off day typed as 12月5号 and a time as 晚上7点 are understood; in English "5/12" reads two
    ways and is asked back with both days as buttons."""
    up = harness.up
    captain = up.user(CAPTAIN, "张楼长", "zh-hans")
    await harness.feed(up.text(captain, "/cleanday"))
    await tap(harness, CAPTAIN, captain, "只办一次")
    await harness.feed(up.text(captain, "12月5号"))
    assert "几点开始" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "晚上7点"))
    await tap(harness, CAPTAIN, captain, "2小时")
    await tap(harness, CAPTAIN, captain, "创建")
    assert "12月5日（周六）" in screen(harness, CAPTAIN) and "19:00" in screen(harness, CAPTAIN)

    english = up.user(CAPTAIN, "Zhang", "en")
    await harness.feed(up.text(english, "/cleanday"))
    await tap(harness, CAPTAIN, english, "Just once")
    await harness.feed(up.text(english, "5/12"))
    assert "Which day do you mean?" in screen(harness, CAPTAIN)
    assert harness.tg.buttons(harness.tg.last(CAPTAIN)) == [["Sat 5 Dec", "Wed 12 May"], ["✖️ Cancel"]]
    await tap(harness, CAPTAIN, english, "Sat 5 Dec")
    assert "What time does it start?" in screen(harness, CAPTAIN)


async def test_chinese_captain_and_residents(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [63001, 63002], lang="zh-hans")
    up.group(RESIDENTS_CHAT, "1号楼居民群")
    captain = up.user(CAPTAIN, "张楼长", "zh-hans")
    harness.record({CAPTAIN: "张楼长（1号楼楼栋长）", 63001: "李女士（居民）", 63002: "王先生（居民）",
                    RESIDENTS_CHAT: "1号楼居民群"})
    await harness.feed(up.text(captain, "/cleanday"))
    assert "多久一次？" in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, "每2周")
    await tap(harness, CAPTAIN, captain, "周六")
    await harness.feed(up.text(captain, "早点儿"))
    assert "请发送时间" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "上午九点"))  # the one reader of times (bot/services/when.py)
    await tap(harness, CAPTAIN, captain, "2小时")
    await tap(harness, CAPTAIN, captain, "携带物品")
    await harness.feed(up.text(captain, "请自带手套，垃圾袋由社区提供"))
    await tap(harness, CAPTAIN, captain, "创建")
    created = screen(harness, CAPTAIN)
    assert "每2周的周六" in created and "下一次：11月21日（周六）" in created and "已创建" in created
    harness.note("周五 19:00：前一天晚上的提醒")
    await at(harness, datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    reminder = tg.last(63001)
    assert "卫生清洁日：明天，11月21日（周六）" in reminder.text and "请自带手套" in reminder.text
    assert tg.buttons(reminder) == [["🙋 我参加", "这次不行"]]
    await tap(harness, 63001, up.user(63001, "李", "zh-hans"), "我参加")
    assert "已为您报名" in tg.alerts()[-1].params["text"]
    await harness.feed(up.callback_on(tg.last(RESIDENTS_CHAT), up.user(63002, "王", "zh-hans"), "我参加"))
    await at(harness, datetime(2026, 11, 20, 11, 0, 10, tzinfo=UTC))
    assert "已有2位邻居报名" in tg.current(RESIDENTS_CHAT, tg.last(RESIDENTS_CHAT).message_id).html_text
    await harness.feed(up.text(captain, "/cleaning"))
    assert "🙋 2 · 🙅 0" in screen(harness, CAPTAIN)
    harness.save_transcript("cleaning_zh", "卫生清洁日：安排、提醒、报名（中文）")


async def test_problem_found_on_the_day_goes_to_reporting(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    captain = up.user(CAPTAIN, "Zhang", "en")
    await setup_second_saturday(harness, captain)
    await at(harness, datetime(2026, 12, 12, 3, 1, tzinfo=UTC))  # the day is over: "how did it go?"
    assert "How did the cleaning day go?" in screen(harness, CAPTAIN)
    before = len(tg.sent(CAPTAIN))
    await tap(harness, CAPTAIN, captain, "Report a problem found")
    assert len(tg.sent(CAPTAIN)) > before  # the reporting flow asked its first question
    assert not any("went wrong" in (a.params.get("text") or "") for a in tg.alerts())
    assert "went wrong" not in screen(harness, CAPTAIN)


async def test_names_of_who_is_coming_only_for_those_who_manage_the_day(harness: BotHarness,
                                                                       community: Any) -> None:
    """A forged `cd:view` (residents are never offered it) names nobody: not to a neighbour, not to a
    resident of another building. The captain who manages the day sees the names."""
    from bot.keyboards.cleaning import DayCb

    tg, up = harness.tg, harness.up
    await add_residents(harness, [61001])
    await add_residents(harness, [61002])
    await add_residents(harness, [61003], building="b2")
    captain = up.user(CAPTAIN, "Zhang", "en")
    await setup_second_saturday(harness, captain)
    async with harness.sessions() as s:
        day = (await s.execute(select(CleaningDay).order_by(CleaningDay.local_date))).scalars().first()
        assert day is not None
    await at(harness, datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    await tap(harness, 61001, up.user(61001, "Resident1"), "I'll join")
    forged = DayCb(action="view", day=day.id).pack()
    for intruder in (61002, 61003):
        before = len(tg.sent(intruder))
        await harness.feed(up.callback(up.user(intruder, f"Resident{intruder % 1000}"), forged, chat=intruder))
        assert "captains" in str(tg.alerts()[-1].params.get("text"))
        assert all("Resident1" not in (c.plain or "") for c in tg.sent(intruder)[before:])
        assert all("Resident1" not in str(m.get("text") or "") for (chat, _mid), m in tg.messages.items()
                   if chat == intruder)
    await harness.feed(up.callback(captain, forged, chat=CAPTAIN))
    assert "Resident1" in screen(harness, CAPTAIN)


async def test_the_minute_after_a_reminder_answers_first_and_waits_out_a_flood(harness: BotHarness,
                                                                               community: Any) -> None:
    """Issue 17: the tap is answered before the reminder's buttons are re-ticked (an edit is a second round
    trip the spinner need not wait for), and a person's own reply that meets the chat's flood window
    (the outbox just delivered their reminder: 1 message/s per chat) is sent after the wait, not lost."""
    tg, up = harness.tg, harness.up
    await add_residents(harness, [62001])
    captain = up.user(CAPTAIN, "Zhang", "en")
    await setup_second_saturday(harness, captain)
    await at(harness, datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    sends = [c.chat_id for c in tg.calls_of("sendMessage") if c.chat_id in (RESIDENTS_CHAT, 62001)]
    assert sends[:2] == [RESIDENTS_CHAT, 62001]  # the group's live count goes out before the private reminders
    resident = up.user(62001, "Ann")
    since = len(tg.calls)
    await tap(harness, 62001, resident, "I'll join")
    order = [c.method for c in tg.calls[since:] if c.method in ("answerCallbackQuery", "editMessageReplyMarkup")]
    assert order == ["answerCallbackQuery", "editMessageReplyMarkup"]
    assert "You're on the list" in tg.alerts()[-1].params["text"]

    tg.fail_next("sendMessage", retry_after=1, chat_id=62001)
    await harness.feed(up.text(resident, "/cleaning"))
    assert [c.error for c in tg.errors("sendMessage") if c.chat_id == 62001] == [
        "Too Many Requests: retry after 1"]  # the 429 happened ...
    assert "Sat 12 Dec" in screen(harness, 62001)  # ... and the list arrived after it
    assert tg.buttons(tg.last(62001))[0][0] == "✅ Sat 12 Dec"
