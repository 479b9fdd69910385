"""Digests end to end: the 08:00 send, catch-up after downtime, no duplicates, /digest, weekly XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.jobs import JobContext, Ticker
from bot.services.digests import DigestService
from models import Community, DigestRun, Member
from tests.conftest import BotHarness
from tests.unit.test_digests import crafted

SH = ZoneInfo("Asia/Shanghai")
OFFICE = -1001000000001
STAFF = 2002
NORTH_HEAD = 2001


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SH).astimezone(UTC)


async def setup(harness: BotHarness, community: Community, *, data: bool = True, prefs: dict[int, Any] | None = None
                ) -> None:
    harness.tg.add_chat(OFFICE, type="supergroup", title="Nanchi office")
    async with harness.sessions() as session:
        c = await session.get(Community, community.id)
        assert c is not None
        if data:
            await crafted(session, c)
        for telegram_id, value in (prefs or {}).items():
            member = (await session.execute(select(Member).where(Member.telegram_id == telegram_id))).scalar_one()
            member.prefs = value
            harness.tg.add_chat(telegram_id, type="private")
        await session.commit()


def digests_in(harness: BotHarness, chat: int, marker: str = "日报") -> list[str]:
    return [t for t in harness.tg.texts(chat) if marker in t]


async def test_daily_digest_at_eight(harness: BotHarness, community: Community) -> None:
    await setup(harness, community)
    harness.record({OFFICE: "Office chat (zh)"})
    await harness.tick()  # 20 Nov 09:00: the community was set up after today's 08:00 — nothing yet
    await harness.deliver()
    assert digests_in(harness, OFFICE) == []
    harness.clock.set(at(20, 12, 0, 10))  # Friday 12:00: the weekly summary of 13–19 Nov
    await harness.tick()
    await harness.deliver()
    assert len(digests_in(harness, OFFICE, "周报")) == 1
    # #NC0002 missed its deadline (18 Nov) and the 09:00 tick escalated it with a fresh deadline; #NC0005
    # was done 12 h late: both were overdue during the week (not "0 overdue").
    weekly = digests_in(harness, OFFICE, "周报")[0]
    assert "本周超期 2（+2）" in weekly and "#NC0002" in weekly and "超期12小时后办结" in weekly
    harness.clock.set(at(21, 7, 59))
    await harness.tick()
    await harness.deliver()
    assert digests_in(harness, OFFICE) == []
    harness.clock.set(at(21, 8, 1))  # (a tick holds the lease for 90 s: this is a new one)
    harness.note("Saturday 21 Nov, 08:00: the scheduled tick")
    await harness.tick()
    await harness.deliver()
    texts = digests_in(harness, OFFICE)
    assert len(texts) == 1
    assert "11月21日（周六）日报" in texts[0]
    assert "延迟发送" not in texts[0]
    assert "需要关注" in texts[0] and "#NC0001" in texts[0]
    # Escalated more than 24 h ago with a new deadline, #NC0002 is still listed as overdue work.
    assert "超期 1： #NC0002 路面破损/坑洼积水（Building 2，超期3天，新时限" in texts[0]
    photos = harness.tg.sent(OFFICE, "sendPhoto")
    assert len(photos) == 1 and "近14天" in (photos[0].text or "")
    # The issue buttons under the digest open the cards.
    digest_call = [c for c in harness.tg.sent(OFFICE, "sendMessage") if "日报" in (c.text or "")][-1]
    assert any("#NC0001" in b for row in harness.tg.buttons(digest_call) for b in row)
    harness.save_transcript("digests_zh", "每日日报（社区办公室群，中文）")

    # Repeated ticks, a second instance and a restart change nothing.
    before = len(digests_in(harness, OFFICE)) + len(digests_in(harness, OFFICE, "周报"))
    photos = len(harness.tg.sent(OFFICE, "sendPhoto"))
    for _ in range(3):
        harness.clock.advance(seconds=30)
        await harness.tick()
    other = Ticker(JobContext(harness.sessions, harness.clock, harness.dp["settings"], harness.bot), instance="b")
    harness.clock.advance(minutes=5)  # the first instance's lease has expired: the second one ticks
    await other.tick()
    async with harness.sessions() as session:
        assert await DigestService(session, harness.clock).run_due() == 0
        await session.commit()
    await harness.deliver()
    assert len(digests_in(harness, OFFICE)) + len(digests_in(harness, OFFICE, "周报")) == before
    assert len(harness.tg.sent(OFFICE, "sendPhoto")) == photos


async def test_catch_up_after_downtime(harness: BotHarness, community: Community) -> None:
    await setup(harness, community)
    harness.clock.set(at(21, 9, 30))  # the bot was down over 08:00 and comes back at 09:30
    await harness.tick()
    await harness.tick()
    await harness.deliver()
    texts = digests_in(harness, OFFICE)
    assert len(texts) == 1
    assert "11月21日（周六）日报" in texts[0]
    assert "延迟发送：08:00时机器人不在线。" in texts[0]
    async with harness.sessions() as session:
        rows = (await session.execute(select(DigestRun).where(DigestRun.recipient == "*",
                                                              DigestRun.kind == "daily"))).scalars().all()
        assert [(r.kind, r.period, r.late) for r in rows] == [("daily", "2026-11-21", True)]


async def test_long_outage_sends_last_three_and_notes_the_rest(harness: BotHarness, community: Community) -> None:
    await setup(harness, community, data=False)
    harness.clock.set(at(21, 8, 1))
    await harness.tick()
    await harness.deliver()
    assert len(digests_in(harness, OFFICE)) == 1
    harness.clock.set(at(26, 9, 30))  # down from Saturday until Thursday morning
    await harness.tick()
    await harness.tick()
    await harness.deliver()
    texts = digests_in(harness, OFFICE)
    assert len(texts) == 4
    assert ["11月24日" in texts[1], "11月25日" in texts[2], "11月26日" in texts[3]] == [True, True, True]
    assert all("延迟发送" in t for t in texts[1:])
    assert "机器人离线期间11月22日（周日）至11月23日（周一）的日报已跳过。" in texts[3]
    assert "平静的一天：新上报0件，仍有0件未办结。" in texts[3]
    async with harness.sessions() as session:
        skipped = (await session.execute(select(func.count()).select_from(DigestRun).where(
            DigestRun.skipped.is_(True)))).scalar_one()
        assert skipped == 2


async def test_private_copies_in_the_readers_language(harness: BotHarness, community: Community) -> None:
    await setup(harness, community, prefs={STAFF: {"digest": True}, NORTH_HEAD: {"area_digest": True}})
    async with harness.sessions() as session:
        staff = (await session.execute(select(Member).where(Member.telegram_id == STAFF))).scalar_one()
        staff.locale = "en"
        await session.commit()
    harness.record({OFFICE: "Office chat (zh)", STAFF: "Wang (office staff, en)", NORTH_HEAD: "Li (North area head)"})
    harness.clock.set(at(21, 8, 1))
    await harness.tick()
    await harness.deliver()
    harness.save_transcript("digests_en", "Daily digest: private copies (staff in English, area head)")
    staff_texts = digests_in(harness, STAFF, "daily digest")
    assert len(staff_texts) == 1 and "Sat 21 Nov daily digest" in staff_texts[0]
    assert "Needs attention" in staff_texts[0]
    assert len(harness.tg.sent(STAFF, "sendPhoto")) == 1
    # Urgent escalation notices may go before the digest in the same chat (urgent first).
    head = [t for t in harness.tg.texts(NORTH_HEAD) if "North area" in t]
    assert len(head) == 1
    assert "#NC0002" in head[0] and "Building 3" not in head[0]  # only the North area
    assert len(digests_in(harness, OFFICE)) == 1


async def test_weekly_summary_on_friday_with_xlsx(harness: BotHarness, community: Community) -> None:
    from openpyxl import load_workbook

    await setup(harness, community)
    harness.clock.set(at(27, 12, 0, 20))
    await harness.tick()
    await harness.deliver()
    weekly = [t for t in harness.tg.texts(OFFICE) if "周报" in t]
    assert len(weekly) == 1 and "11月20日（周五）至11月26日（周四）" in weekly[0]
    docs = harness.tg.sent(OFFICE, "sendDocument")
    assert len(docs) == 1
    message = docs[0].message
    assert message is not None and message.document is not None
    assert (message.document.file_name or "").endswith(".xlsx")
    wb = load_workbook(io.BytesIO(harness.tg.file_content(message.document.file_id)))
    assert wb.sheetnames[0] == "汇总"
    # The 27 Nov daily digest is due too (08:00 passed while the test's clock jumped): sent once, late.
    assert len(digests_in(harness, OFFICE)) == 1


async def asked(harness: BotHarness, update: Any) -> None:
    """Ask for a digest on demand: it is built by the background job worker and comes through the outbox."""
    await harness.feed(update)
    await harness.work()
    await harness.deliver()
    harness.note("the job worker builds the digest; it arrives through the outbox")


async def test_digest_command(harness: BotHarness, community: Community) -> None:
    await setup(harness, community)
    up = harness.up
    wang = up.user(STAFF, "Wang", "en")
    harness.record({STAFF: "Wang (office staff)"})
    await asked(harness, up.text(wang, "/digest"))
    texts = harness.tg.texts(STAFF)
    assert any("Fri 20 Nov daily digest" in t and "Needs attention" in t for t in texts)
    photo = harness.tg.sent(STAFF, "sendPhoto")[-1]
    buttons = [b for row in harness.tg.buttons(photo) for b in row]
    assert "📅 Another date" in buttons and "📈 Weekly summary" in buttons and "📄 #NC0001" in buttons
    await harness.feed(up.callback_on(photo, wang, "📅 Another date"))
    assert "Which day's digest" in harness.tg.texts(STAFF)[-1]
    await harness.feed(up.text(wang, "someday"))
    assert harness.tg.texts(STAFF)[-2] == "Please send a date like 2026-11-18 (or 11-18)."
    assert "Which day's digest" in harness.tg.texts(STAFF)[-1]
    await asked(harness, up.text(wang, "11-19"))
    assert any("Thu 19 Nov daily digest" in t for t in harness.tg.texts(STAFF)), harness.tg.texts(STAFF)[-3:]
    photo = harness.tg.sent(STAFF, "sendPhoto")[-1]
    await asked(harness, up.callback_on(photo, wang, "📈 Weekly summary"))
    assert any("Weekly summary Fri 13 Nov – Thu 19 Nov" in t for t in harness.tg.texts(STAFF))
    assert harness.tg.sent(STAFF, "sendDocument")
    await harness.feed(up.text(wang, "/digest 2026-02-30"))
    assert harness.tg.texts(STAFF)[-2] == "I couldn't read that date."
    harness.save_transcript("digests_command_en", "/digest: today's, another day's, the week")


async def test_digest_command_area_head_and_refusals(harness: BotHarness, community: Community) -> None:
    await setup(harness, community)
    up = harness.up
    li = up.user(NORTH_HEAD, "Li", "zh-hans")
    await asked(harness, up.text(li, "/digest"))
    text = harness.tg.texts(NORTH_HEAD)[1]  # after "⏳ Preparing the digest…"
    assert "Nanchi Community · North area" in text and "11月20日（周五）日报" in text
    assert "Building 3" not in text
    photo = harness.tg.sent(NORTH_HEAD, "sendPhoto")[-1]
    assert "📈 周报" not in [b for row in harness.tg.buttons(photo) for b in row]

    captain = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(captain, "/digest"))
    assert harness.tg.texts(3001)[-1] == "Only the area head or office staff can do this."
    harness.tg.add_chat(OFFICE, type="supergroup", title="Nanchi office")
    await harness.feed(up.text(up.user(STAFF, "Wang", "en"), "/digest", chat=OFFICE))
    assert "私聊" in harness.tg.texts(OFFICE)[-1]


async def test_monthly_report_carries_the_ledger(harness: BotHarness, community: Community) -> None:
    """The monthly report's documents are its summary table and the month's ledger (台账)."""
    from openpyxl import load_workbook

    from models import OutboxItem

    await setup(harness, community)
    harness.clock.set(datetime(2026, 12, 1, 9, 0, 20, tzinfo=SH).astimezone(UTC))  # 1 Dec 09:00: November's report
    await harness.tick()
    async with harness.sessions() as session:
        keys = (await session.execute(select(OutboxItem.dedup_key).where(
            OutboxItem.kind == "digest_monthly", OutboxItem.chat_id == OFFICE))).scalars().all()
    assert any(k.endswith(":ledger-NC-2026-11.xlsx") for k in keys), keys
    await harness.deliver()
    names = {c.message.document.file_name: c.message.document.file_id
             for c in harness.tg.sent(OFFICE, "sendDocument") if c.message and c.message.document}
    assert "ledger-NC-2026-11.xlsx" in names, names
    ledger = load_workbook(io.BytesIO(harness.tg.file_content(names["ledger-NC-2026-11.xlsx"])))
    rows = list(ledger.active.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and "上报人" not in rows[0]  # in the office's language, no reporter names
    assert {"#NC0001", "#NC0002"} <= {r[0] for r in rows[1:]}
    assert any("月报" in t and "本月超期" in t for t in harness.tg.texts(OFFICE))
