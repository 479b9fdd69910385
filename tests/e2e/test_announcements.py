"""Announcements end to end: an urgent notice from a captain reaches every resident who started the bot
and the residents' chat once, and the captain gets a correct delivery report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import Announcement, OutboxItem
from tests.conftest import BotHarness
from tests.e2e.test_cleaning import CAPTAIN, RESIDENTS_CHAT, add_residents, at, screen, tap

pytestmark = pytest.mark.usefixtures("fast_presses")


async def test_urgent_announcement_reaches_everyone_with_a_report(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [70001, 70002, 70003, 70004])
    await add_residents(harness, [70005], prefs={"announcements": False})  # muted: urgent still arrives
    await add_residents(harness, [70006], started=False)  # never started the bot
    async with harness.sessions() as s:  # 70004 has quiet hours all day: urgent ignores them
        from models import Member

        m = (await s.execute(select(Member).where(Member.telegram_id == 70004))).scalar_one()
        m.quiet_start, m.quiet_end = 0, 23 * 60 + 59
        await s.commit()
    tg.block(70003)
    up.group(RESIDENTS_CHAT, "Building 1 residents")
    captain = up.user(CAPTAIN, "Zhang", "en")
    harness.record({CAPTAIN: "Captain Zhang (Building 1)", 70001: "Ann (resident)", 70002: "Bo (resident)",
                    RESIDENTS_CHAT: "Building 1 residents' chat"})

    await harness.feed(up.text(captain, "/announce"))
    assert "Announcement to Building 1" in screen(harness, CAPTAIN)
    await harness.feed(up.sticker(captain))
    assert "I need text" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "Water cut tomorrow 9:00–12:00 <b>not bold</b> & please store water."))
    await tap(harness, CAPTAIN, captain, "Urgent")
    await tap(harness, CAPTAIN, captain, "Send now")
    preview = tg.sent(CAPTAIN)[-2]
    assert "🚨 <b>URGENT</b>" in preview.text and "&lt;b&gt;not bold&lt;/b&gt; &amp; please" in preview.text
    assert "— Zhang, building captain" in preview.text
    summary = screen(harness, CAPTAIN)
    assert "exactly how it will look" in summary and "6 people, 1 residents' chat." in summary
    assert "1 of them never started the bot" in summary
    confirm = tg.last(CAPTAIN)
    data = tg.callback_data(confirm, "Send")
    await harness.feed(up.callback(captain, data, message=confirm.message))
    await harness.feed(up.callback(captain, data, message=confirm.message))  # a double press: still one
    assert "Sending to 5 people and 1 chat." in screen(harness, CAPTAIN)

    await harness.deliver()
    for rid in (70001, 70002, 70004, 70005):
        assert len(tg.sent(rid)) == 1 and tg.last(rid).text == preview.text
    assert not tg.sent(70003) and not tg.sent(70006)
    assert len(tg.sent(RESIDENTS_CHAT)) == 1
    async with harness.sessions() as s:
        ann = (await s.execute(select(Announcement))).scalar_one()
        batch = (await s.execute(select(OutboxItem).where(OutboxItem.batch == f"ann:{ann.id}"))).scalars().all()
        assert len(batch) == 6  # five people who started the bot + the residents' chat

    harness.note("the next scheduler tick sees the batch is done")
    await at(harness, harness.clock() + timedelta(seconds=30))
    report = screen(harness, CAPTAIN)
    assert "Delivery report" in report and "Delivered: 5" in report and "1 residents' chat" in report
    assert "Not delivered: 2" in report and "blocked the bot: 1" in report and "never started the bot: 1" in report
    await at(harness, harness.clock() + timedelta(minutes=5))
    assert len([t for t in tg.texts(CAPTAIN) if "Delivery report" in t]) == 1
    harness.save_transcript("announcements_en", "Urgent announcement with delivery report (en)")


async def test_scheduled_announcement_to_an_area(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [71001])
    await add_residents(harness, [71002], building="b2")
    await add_residents(harness, [71003], building="b3")  # South area: not in the audience
    up.group(RESIDENTS_CHAT, "Building 1 residents")
    head = up.user(2001, "Wang", "en")
    await harness.feed(up.text(head, "/announce"))
    await tap(harness, 2001, head, "All of North area")
    await harness.feed(up.text(head, "Consultation meeting on Sunday."))
    await tap(harness, 2001, head, "Normal")
    await harness.feed(up.text(head, "yesterday"))
    assert "Please send a time like 18:30" in screen(harness, 2001)
    await harness.feed(up.text(head, "18:30"))
    assert "When: 2026-11-20 18:30" in screen(harness, 2001)
    await tap(harness, 2001, head, "Send")
    assert "Scheduled for 2026-11-20 18:30" in screen(harness, 2001)
    await at(harness, harness.clock() + timedelta(hours=9, minutes=29))
    assert not tg.sent(71001)
    await at(harness, harness.clock() + timedelta(minutes=1))
    assert "Consultation meeting" in tg.last(71001).text and "Consultation meeting" in tg.last(71002).text
    assert not tg.sent(71003)
    assert tg.sent(RESIDENTS_CHAT)  # Building 1's residents' chat is in the North area


async def test_only_managers_announce(harness: BotHarness, community: Any) -> None:
    await add_residents(harness, [72001])
    await harness.feed(harness.up.text(harness.up.user(72001, "Ann"), "/announce"))
    assert "Only building captains" in screen(harness, 72001)


async def test_chinese_announcement(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await add_residents(harness, [73001, 73002], lang="zh-hans")
    await add_residents(harness, [73003], lang="zh-hans", started=False)
    up.group(RESIDENTS_CHAT, "1号楼居民群")
    captain = up.user(CAPTAIN, "张楼长", "zh-hans")
    harness.record({CAPTAIN: "张楼长（1号楼楼栋长）", 73001: "李女士（居民）", 73002: "王先生（居民）",
                    RESIDENTS_CHAT: "1号楼居民群"})
    await harness.feed(up.text(captain, "/announce"))
    assert "发给1号楼的通知" in screen(harness, CAPTAIN) or "发给Building 1的通知" in screen(harness, CAPTAIN)
    await harness.feed(up.text(captain, "明天9:00–12:00停水，请提前储水。"))
    await tap(harness, CAPTAIN, captain, "紧急")
    await tap(harness, CAPTAIN, captain, "立即发送")
    preview = screen(harness, CAPTAIN)
    assert "居民收到的就是这个样子" in preview and "其中1人从未打开过机器人" in preview
    await tap(harness, CAPTAIN, captain, "发送")
    assert "正在发送给2人和1个群" in screen(harness, CAPTAIN)
    await harness.deliver()
    assert "🚨 <b>紧急</b>" in tg.last(73001).text and "停水" in tg.last(73002).text
    assert len(tg.sent(RESIDENTS_CHAT)) == 1
    await at(harness, harness.clock() + timedelta(seconds=30))
    report = screen(harness, CAPTAIN)
    assert "送达报告" in report and "已送达：3" in report and "从未打开过机器人：1" in report
    harness.save_transcript("announcements_zh", "紧急通知与送达报告（中文）")
