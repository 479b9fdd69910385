"""Patrols end to end, as people would use them: the North area head sets up a weekday evening route
for 4 weeks from buttons; two volunteers take shifts, one swaps; reminders arrive at the right local
times; they check in with a location, log a checkpoint, start a report from the route, check out;
the area head reads the shift record. Run in English and in Chinese (transcripts in tests/transcripts)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.i18n import translate, use_locale
from bot.notices.patrols import day_label
from models import PatrolShift, ShiftAssignment
from tests.conftest import BotHarness

HEAD, LI, WANG = 2001, 4001, 4002
AREA_CHAT = -1001000000021


# The dispatcher (and its throttle) is shared by the session; tests tap faster than people.
pytestmark = pytest.mark.usefixtures("fast_presses")


def screen(harness: BotHarness, chat: int) -> str:
    last = harness.tg.last(chat)
    return harness.tg.current(chat, last.message_id).html_text


async def tap(harness: BotHarness, chat: int, user: Any, text: str) -> None:
    await harness.feed(harness.up.callback_on(harness.tg.last(chat), user, text))


async def deliver(harness: BotHarness) -> None:
    """Send the due outbox and log it in the transcript where it happened."""
    await harness.deliver()
    if harness.transcript is not None:
        harness._log_calls()


async def shift_on(harness: BotHarness, day: date) -> PatrolShift:
    async with harness.sessions() as s:
        return (await s.execute(select(PatrolShift).where(PatrolShift.local_date == day))).scalar_one()


@pytest.mark.parametrize(("lang", "code"), [("en", "en"), ("zh_Hans", "zh-hans")])
async def test_patrol_weeks(harness: BotHarness, community: Any, lang: str, code: str) -> None:
    up, tg = harness.up, harness.tg

    def t(message: str) -> str:
        return translate(lang, message)

    def day(d: date) -> str:
        with use_locale(lang):
            return day_label(d)

    harness.record({HEAD: "Zhou (North area head)", LI: "Li (volunteer)", WANG: "Wang (volunteer)",
                    AREA_CHAT: "North area team chat"})
    zhou, li, wang = up.user(HEAD, "Zhou", code), up.user(LI, "Li", code), up.user(WANG, "Wang", code)
    up.group(AREA_CHAT, "North team")

    # ---- the area head sets up "North loop", Mon–Fri 19:00–21:00, 2–4 people, for 4 weeks
    harness.note("Friday 20 Nov, 09:00 (Shanghai). The North area head plans a weekday evening patrol.")
    await harness.feed(up.text(zhou, "/roster"))
    await tap(harness, HEAD, zhou, t("➕ New route"))
    assert ["North area"] in tg.buttons(tg.current(HEAD, tg.last(HEAD).message_id))
    await tap(harness, HEAD, zhou, "North area")
    await harness.feed(up.text(zhou, "North loop"))
    await harness.feed(up.text(zhou, "Round the north area: gates, bike sheds, lamps"))
    await harness.feed(up.sticker(zhou))  # wrong input: say what is expected, ask again
    assert t("Please send up to 30 checkpoint names, one per line, or tap Skip.") in tg.texts(HEAD)[-1]
    await harness.feed(up.text(zhou, "North gate, 31.2304, 121.4737\nBike shed"))
    assert "North loop" in tg.texts(HEAD)[-2]
    await tap(harness, HEAD, zhou, t("Mon–Fri"))
    await harness.feed(up.text(zhou, "7pm"))  # not understood: asked again
    assert t("Please send a time like 19:00.") in tg.texts(HEAD)[-1]
    await harness.feed(up.text(zhou, "19:00"))
    await harness.feed(up.text(zhou, "21:00"))
    await tap(harness, HEAD, zhou, "2–4")
    await tap(harness, HEAD, zhou, t("🔁 Generate 4 weeks"))
    assert "20" in screen(harness, HEAD)
    async with harness.sessions() as s:
        assert len((await s.execute(select(PatrolShift))).scalars().all()) == 20

    # ---- volunteers take shifts
    harness.note("Two volunteers open /patrols and take shifts with one tap.")
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    await harness.feed(up.text(li, "/patrols"))
    assert t("Open shifts that need people") in tg.texts(LI)[-1]
    await tap(harness, LI, li, f"{day(monday)} 19:00")
    assert t("✅ You're on the patrol. I'll remind you the day before and 1 hour before.") in screen(harness, LI)
    await harness.feed(up.text(wang, "/patrols"))
    await tap(harness, WANG, wang, f"{day(monday)} 19:00")
    await harness.feed(up.text(wang, "/patrols"))
    await tap(harness, WANG, wang, f"{day(tuesday)} 19:00")
    await harness.feed(up.text(wang, "/patrols"))
    assert "Li" in tg.texts(WANG)[-1]  # co-volunteers' first names

    # ---- Wang swaps Tuesday; Li takes it
    harness.note("Wang can't do Tuesday after all and offers it to the pool.")
    await tap(harness, WANG, wang, f"🗓 {day(tuesday)} 19:00")
    await tap(harness, WANG, wang, t("🔁 Swap"))
    await deliver(harness)
    offer = tg.last(LI)
    assert "Wang" in (offer.text or "")
    await tap(harness, LI, li, t("🙋 I'll take it"))
    await deliver(harness)
    assert "Li" in tg.texts(WANG)[-1] and "Li" in tg.texts(HEAD)[-1]
    async with harness.sessions() as s:
        tue = (await s.execute(select(PatrolShift).where(PatrolShift.local_date == tuesday))).scalar_one()
        people = (await s.execute(select(ShiftAssignment.member_id, ShiftAssignment.status).where(
            ShiftAssignment.shift_id == tue.id))).all()
        assert sorted(st for _m, st in people) == ["active", "swapped"]

    # ---- Monday 08:00: the week's roster in the North team chat
    harness.note("Monday 08:00: the week's roster appears in the North area's team chat.")
    harness.clock.set(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    await harness.tick()
    await deliver(harness)
    roster = tg.last(AREA_CHAT)
    assert "North loop" in (roster.text or "") and "Li" in (roster.text or "")

    # ---- reminders: Sunday 19:00 (24 h) was missed? No: check the 1 h one and the 24 h one of Tuesday
    harness.note("Monday 19:00, 24 hours before Tuesday's patrol: Li is asked to confirm.")
    harness.clock.set(datetime(2026, 11, 23, 11, 0, tzinfo=UTC))  # Mon 19:00 local
    await harness.tick()
    await deliver(harness)
    r24 = tg.last(LI)
    assert t("tomorrow") in (r24.text or "") and "North loop" in (r24.text or "")
    await tap(harness, LI, li, t("✅ I'll be there"))
    assert (tg.alerts()[-1].params.get("text") or "") == t("Confirmed.")

    harness.note("Tuesday 18:00: one hour to go.")
    harness.clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))  # Tue 18:00 local
    await harness.tick()
    await deliver(harness)
    assert "19:00" in (tg.last(LI).text or "")
    assert t("⏰ Patrol in 1 hour: {when}, {route}, {with_line}. When you're there, open /patrols and check "
             "in.").split("{")[0] in (tg.last(LI).text or "")

    # ---- Tuesday 19:02: check in with a location, checkpoint, report, check out
    harness.note("Tuesday 19:02: Li checks in at the North gate.")
    harness.clock.set(datetime(2026, 11, 24, 11, 2, tzinfo=UTC))
    await harness.feed(up.text(li, "/patrols"))
    await tap(harness, LI, li, f"🗓 {t('today')} 19:00")
    await tap(harness, LI, li, t("📍 Check in"))
    assert tg.buttons(tg.last(LI))[0] == [t("📍 Share my location")]
    await harness.feed(up.text(li, "hello"))  # wrong input: asked again with the keyboard
    assert t("I need your location or the “Check in without location” button.") in tg.texts(LI)[-1]
    await harness.feed(up.location(li, 31.2305, 121.4738))
    assert t("✅ Checked in at {time}. Have a safe patrol!").format(time="19:02") in tg.texts(LI)[-2]
    await tap(harness, LI, li, "📌 North gate")
    assert "North gate" in (tg.alerts()[-1].params.get("text") or "")
    await tap(harness, LI, li, t("📷 Report a problem"))
    assert tg.texts(LI)[-1] != tg.texts(LI)[-2]  # the reporting flow asks for photos
    await harness.feed(up.text(li, "/cancel"))

    harness.clock.set(datetime(2026, 11, 24, 13, 8, tzinfo=UTC))  # 21:08
    await harness.feed(up.text(li, "/patrols"))
    await tap(harness, LI, li, f"🗓 {t('today')} 19:00")
    await tap(harness, LI, li, t("🏁 Check out"))
    await harness.feed(up.photo(li))  # wrong input
    assert t("Please send a short text note, or tap All quiet.") in tg.texts(LI)[-1]
    await harness.feed(up.text(li, "Lamp by the bike shed is out; otherwise quiet"))
    assert t("✅ Checked out. Thank you for looking after the neighbourhood!") in tg.texts(LI)[-1]
    assert "2.1" in tg.texts(LI)[-1]  # 19:02–21:08

    # ---- the area head reads the record
    harness.note("The area head looks at what happened on the shift.")
    await harness.feed(up.text(zhou, "/roster"))
    await tap(harness, HEAD, zhou, t("📄 Past shifts"))
    await tap(harness, HEAD, zhou, f"{t('today')} 19:00")
    record = screen(harness, HEAD)
    assert "Li" in record and "19:02" in record and "21:08" in record and "North gate" in record
    assert "Lamp by the bike shed" in record
    harness.save_transcript(f"patrols_{'zh' if lang.startswith('zh') else 'en'}",
                            "Patrols: a weekday evening route, take, swap, reminders, check-in/out, record"
                            + (" (中文)" if lang.startswith("zh") else ""))


async def test_drop_late_is_refused_and_cant_make_it_calls_cover(harness: BotHarness, community: Any) -> None:
    """Inside 12 h only the captain can take you off; "can't make it" on the reminder tells them."""
    from bot.services.members import MembersService
    from bot.services.patrols import PatrolService

    up, tg = harness.up, harness.tg
    li, wang = up.user(LI, "Li"), up.user(WANG, "Wang")
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        service = PatrolService(s, harness.clock, members)
        head = await members.actor(await members.by_telegram_id(HEAD))  # type: ignore[arg-type]
        area = await service.planning_places(head)
        route = await service.create_route(head, next(p.place for p in area if p.label == "North area"), "Lane")
        await service.add_template(head, route.id, weekdays=[4], start_minute=19 * 60, end_minute=21 * 60,
                                   min_volunteers=2, max_volunteers=3)
        await service.generate(head, [route.id], 1)
        await s.commit()
    tg.add_chat(HEAD, type="private")
    await harness.feed(up.text(li, "/patrols"))
    await tap(harness, LI, li, f"{translate('en', 'today')} 19:00")
    await harness.feed(up.text(wang, "/patrols"))
    await tap(harness, WANG, wang, f"{translate('en', 'today')} 19:00")
    await tap(harness, WANG, wang, "Drop")
    await tap(harness, WANG, wang, "Yes, drop it")
    assert "12 hours" in (tg.alerts()[-1].params.get("text") or "")
    harness.clock.set(datetime(2026, 11, 20, 1, 30, tzinfo=UTC))
    await harness.feed(up.callback(wang, f"pt:cant:{(await shift_on(harness, date(2026, 11, 20))).id}:"))
    await harness.deliver()
    assert any("Wang" in x and "North" not in x and "Lane" in x for x in tg.texts(HEAD))  # in the office's language


async def test_one_off_shift_from_the_route_card(harness: BotHarness, community: Any) -> None:
    """A planner adds a one-off shift: date, start, end, people (the same steps as shift times)."""
    up, tg = harness.up, harness.tg
    zhou = up.user(HEAD, "Zhou", "en")
    await harness.feed(up.text(zhou, "/roster"))
    await tap(harness, HEAD, zhou, "➕ New route")
    await tap(harness, HEAD, zhou, "North area")
    await harness.feed(up.text(zhou, "Night loop"))
    await tap(harness, HEAD, zhou, "Skip")
    await tap(harness, HEAD, zhou, "Skip")
    await harness.feed(up.text(zhou, "/roster"))
    await tap(harness, HEAD, zhou, "🛣 Night loop")
    await tap(harness, HEAD, zhou, "➕ One-off shift")
    await harness.feed(up.text(zhou, "2026-12-31"))
    await harness.feed(up.text(zhou, "late"))  # not a time: asked again
    assert "Please send a time like 19:00." in tg.texts(HEAD)[-1]
    await harness.feed(up.text(zhou, "22:00"))
    assert "End time?" in tg.texts(HEAD)[-1]
    await harness.feed(up.text(zhou, "23:30"))
    await tap(harness, HEAD, zhou, "2–4")
    assert "✅ One-off shift added: Thu 31 Dec 22:00–23:30, Night loop, 2–4 people." in tg.texts(HEAD)[-1]
    shift = await shift_on(harness, date(2026, 12, 31))
    assert (shift.min_volunteers, shift.max_volunteers, shift.template_id) == (2, 4, None)
