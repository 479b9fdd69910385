"""Announcements at service level: audiences, quiet-hours deferral, mute, the delivery report, and
delivery across a restart in the middle (clean) and a crash (kill -9) with the real outbox sender."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.notices.announcements import audience_name
from bot.sender import LEASE, OutboxSender
from bot.services.announcements import AnnDraft, AnnouncementsService
from bot.services.members import MembersService
from models import Announcement, Building, OutboxItem, OutboxStatus
from tests.telegram import FakeTelegram
from tests.unit.test_cleaning_service import resident


async def staff(s: AsyncSession, clock: FrozenClock) -> Any:
    members = MembersService(s, clock)
    m = await members.by_telegram_id(2002)
    assert m is not None
    m.started = True
    m.locale = "en"
    return m, await members.actor(m)


async def b1(s: AsyncSession) -> int:
    return (await s.execute(select(Building.id).where(Building.key == "b1"))).scalar_one()


def fake_bot(ids: list[int]) -> tuple[FakeTelegram, Any]:
    tg = FakeTelegram()
    for i in ids:
        tg.add_chat(i, type="private")
    tg.add_chat(-1001000000031, type="supergroup", title="Building 1 residents")
    return tg, tg.make_bot()


def sender(sessions: async_sessionmaker[AsyncSession], bot: Any, clock: FrozenClock) -> OutboxSender:
    return OutboxSender(bot, sessions, rate=10_000, clock=clock, private_interval=0, group_interval=0)


async def test_normal_announcement_waits_for_quiet_hours_and_respects_mute(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    clock.set(datetime(2026, 11, 20, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    async with sessions() as s:
        day = await resident(s, clock, 90001)
        night = await resident(s, clock, 90002, quiet_start=21 * 60, quiet_end=7 * 60)
        muted = await resident(s, clock, 90003, prefs={"announcements": False})
        _author, actor = await staff(s, clock)
        svc = AnnouncementsService(s, clock)
        ann, _ = await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                                  body_html="Meeting on Sunday"))
        await s.commit()
        rows = {r.member_id: r for r in (await s.execute(select(OutboxItem).where(
            OutboxItem.batch == ann.batch))).scalars()}
        assert set(rows) == {day.id, night.id, None}  # muted left out; None is the residents' chat
        assert rows[night.id].deferred and rows[night.id].not_before == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
        assert ann.counts["muted"] == 1 and muted.id not in rows
    tg, bot = fake_bot([90001, 90002, 90003, 2002])
    await sender(sessions, bot, clock).drain()
    async with sessions() as s:
        svc = AnnouncementsService(s, clock)
        assert await svc.send_reports() == 1  # everything due is done; one is held for quiet hours
        await s.commit()
        report = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "announcement_report"))).scalar_one()
        assert "Delivered: 2" in report.payload["text"] and "Held back by quiet hours: 1" in report.payload["text"]
        assert "Muted announcements: 1" in report.payload["text"]
    assert len(tg.sent(90001)) == 1 and not tg.sent(90002)
    clock.set(datetime(2026, 11, 20, 23, 0, tzinfo=UTC))  # 07:00: quiet hours over
    await sender(sessions, bot, clock).drain()
    assert len(tg.sent(90002)) == 1


async def test_urgent_ignores_quiet_hours_and_mute(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                                   community: Any) -> None:
    clock.set(datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    async with sessions() as s:
        night = await resident(s, clock, 90101, quiet_start=21 * 60, quiet_end=7 * 60)
        muted = await resident(s, clock, 90102, prefs={"announcements": False})
        _author, actor = await staff(s, clock)
        ann, _ = await AnnouncementsService(s, clock).create(actor, AnnDraft(
            community_id=community.id, audience="community", body_html="Gas leak: keep windows open",
            urgent=True))
        rows = {r.member_id: r for r in (await s.execute(select(OutboxItem).where(
            OutboxItem.batch == ann.batch))).scalars()}
        assert not rows[night.id].deferred and rows[night.id].urgent and muted.id in rows


async def test_audiences_by_role_and_rights(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
                                           community: Any) -> None:
    async with sessions() as s:
        svc = AnnouncementsService(s, clock)
        _author, actor = await staff(s, clock)
        vols = await svc.audience(AnnDraft(community_id=community.id, audience="volunteers"))
        assert sorted(m.telegram_id for m in vols.members) == [4001, 4002] and vols.chats == []
        caps = await svc.audience(AnnDraft(community_id=community.id, audience="captains"))
        assert sorted(m.telegram_id for m in caps.members) == [3001, 3002, 3003]
        members = MembersService(s, clock)
        captain = await members.by_telegram_id(3002)
        assert captain is not None
        options = await svc.options(await members.actor(captain), community.id)
        assert [o.name for o in options] == ["Building 2"]
        try:
            await svc.create(await members.actor(captain), AnnDraft(community_id=community.id,
                                                                    building_ids=[await b1(s)], body_html="x"))
            raise AssertionError("a captain of Building 2 may not announce to Building 1")
        except Exception as exc:
            assert type(exc).__name__ == "NotAllowed"
        assert len(await svc.options(actor, community.id)) == 8  # 3 buildings, 2 areas, community, 2 roles


async def test_area_head_speaks_to_the_captains_of_their_area(sessions: async_sessionmaker[AsyncSession],
                                                               clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        svc = AnnouncementsService(s, clock)
        members = MembersService(s, clock)
        head = await members.by_telegram_id(2001)  # North area: Buildings 1 and 2
        assert head is not None
        actor = await members.actor(head)
        options = await svc.options(actor, community.id)
        captains_options = [o for o in options if o.kind == "area_captains"]
        assert [o.name for o in captains_options] == ["North area"]
        assert not any(o.kind in ("captains", "volunteers", "community") for o in options)
        draft = AnnDraft(community_id=community.id, audience="area_captains", area_id=captains_options[0].id,
                         body_html="Meeting on Thursday")
        audience = await svc.audience(draft)
        assert sorted(m.telegram_id for m in audience.members) == [3001, 3002] and audience.chats == []
        assert await audience_name(svc, draft) == "Building captains of North area"
        ann, _ = await svc.create(actor, draft)
        assert ann.audience == "area_captains"
        # The South area is not theirs, whatever the callback data says.
        south = next(a for a in await members.areas(community.id) if a.name == "South area")
        try:
            await svc.create(actor, AnnDraft(community_id=community.id, audience="area_captains", area_id=south.id,
                                             body_html="x"))
            raise AssertionError("an area head may not announce to another area's captains")
        except Exception as exc:
            assert type(exc).__name__ == "NotAllowed"


async def _announce_to(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any,
                       ids: list[int]) -> str:
    async with sessions() as s:
        for i in ids:
            await resident(s, clock, i)
        _author, actor = await staff(s, clock)
        ann, _ = await AnnouncementsService(s, clock).create(actor, AnnDraft(
            community_id=community.id, building_ids=[await b1(s)], body_html="Water cut", urgent=True))
        await s.commit()
        return ann.batch


async def test_clean_restart_in_the_middle_delivers_each_once(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    ids = list(range(91001, 91041))
    batch = await _announce_to(sessions, clock, community, ids)
    tg, bot = fake_bot(ids)
    first = sender(sessions, bot, clock)
    await first.claim_once(limit=15)  # part of the batch, then a clean stop
    await first.stop()
    await asyncio.gather(*first._tasks)
    await first._flush()
    assert 0 < len(tg.sent()) < len(ids)
    second = sender(sessions, bot, clock)  # a new process
    await second.drain()
    per_chat = Counter(c.chat_id for c in tg.sent())
    assert all(per_chat[i] == 1 for i in ids) and per_chat[-1001000000031] == 1
    async with sessions() as s:
        report = await AnnouncementsService(s, clock).outbox.batch_report(batch)
        assert report["sent"] == len(ids) + 1 and report["pending"] == 0


async def test_crash_repeats_at_most_the_sends_in_flight(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, community: Any) -> None:
    ids = list(range(92001, 92031))
    await _announce_to(sessions, clock, community, ids)
    tg, bot = fake_bot(ids)
    crashed = sender(sessions, bot, clock)
    await crashed.claim_once(limit=10)
    await asyncio.gather(*crashed._tasks)  # the sends happened, but the process died before recording them
    in_flight = len(tg.sent())
    crashed.results.clear()
    # Another claimed row that was never sent (killed before the request).
    async with sessions() as s:
        await s.execute(update(OutboxItem).where(OutboxItem.chat_id == ids[-1]).values(
            status=OutboxStatus.SENDING, lease_until=clock() + LEASE, claimed_by="dead"))
        await s.commit()
    clock.advance(seconds=LEASE.total_seconds() + 1)  # the dead instance's leases run out
    await sender(sessions, bot, clock).drain()
    per_chat = Counter(c.chat_id for c in tg.sent())
    assert all(per_chat[i] >= 1 for i in ids)  # nobody lost
    assert sum(n - 1 for n in per_chat.values()) <= in_flight  # only in-flight sends repeat
    async with sessions() as s:
        assert not (await s.execute(select(OutboxItem).where(
            OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))))).scalars().all()


async def test_scheduled_announcement_can_be_withdrawn(sessions: async_sessionmaker[AsyncSession],
                                                       clock: FrozenClock, community: Any) -> None:
    async with sessions() as s:
        await resident(s, clock, 93001)
        _author, actor = await staff(s, clock)
        svc = AnnouncementsService(s, clock)
        ann, _ = await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                                  body_html="Later", send_at=(clock() + timedelta(hours=2))
                                                  .astimezone(UTC).isoformat()))
        assert ann.status == "scheduled" and await svc.queue_due() == 0
        _ann, changed = await svc.cancel(actor, ann.id)
        assert changed
        clock.advance(hours=3)
        assert await svc.queue_due() == 0
        assert (await s.get(Announcement, ann.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_announcements_per_author_and_day_are_capped(sessions: async_sessionmaker[AsyncSession],
                                                           clock: FrozenClock, community: Any) -> None:
    """Default 10 a day per author, counted from the announcements in the database; resets at local
    midnight (Asia/Shanghai)."""
    from bot.services.limits import DailyLimitReached

    async with sessions() as s:
        await resident(s, clock, 94001)
        _author, actor = await staff(s, clock)
        svc = AnnouncementsService(s, clock)
        for n in range(10):
            await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                             body_html=f"Notice {n}", token=f"t{n}"))
        await s.commit()
    async with sessions() as s:  # a fresh session (another worker): the count comes from the rows
        _author, actor = await staff(s, clock)
        svc = AnnouncementsService(s, clock)
        try:
            await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                             body_html="One too many", token="t10"))
        except DailyLimitReached as exc:
            assert exc.limit == 10 and exc.resets_at == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
        else:
            raise AssertionError("the 11th announcement of the day was accepted")
        # A second press of an announcement already sent is still answered as "already sent".
        _ann, created = await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                                         body_html="Notice 0", token="t0"))
        assert not created
        clock.set(datetime(2026, 11, 20, 16, 0, tzinfo=UTC))  # local midnight
        _ann, created = await svc.create(actor, AnnDraft(community_id=community.id, building_ids=[await b1(s)],
                                                         body_html="Next day", token="t11"))
        assert created
