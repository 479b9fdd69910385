"""The enqueueing side of the outbox: exactly-once keys, quiet hours, expiry, edits (last write wins),
cancellation and batch figures. Delivery is tested in test_sender.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.outbox import Outbox, QuietHours, chat_alive
from models import ChatState, Member, OutboxItem, OutboxStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def items(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxItem]:
    async with sessions() as s:
        return list((await s.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())


async def test_same_key_twice_is_one_row(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    async with sessions() as s:
        outbox = Outbox(s, clock)
        assert await outbox.enqueue(key="shift_reminder:24h:1:7", kind="shift_reminder", chat_id=7, text="one")
        assert not await outbox.enqueue(key="shift_reminder:24h:1:7", kind="shift_reminder", chat_id=7, text="two")
        await s.commit()
    # A second transaction (a double tick, a retried update) changes nothing either.
    async with sessions() as s:
        assert not await Outbox(s, clock).enqueue(key="shift_reminder:24h:1:7", kind="shift_reminder", chat_id=7,
                                                  text="three")
        await s.commit()
    rows = await items(sessions)
    assert [(r.dedup_key, r.payload["text"], r.status) for r in rows] == [
        ("shift_reminder:24h:1:7", "one", OutboxStatus.PENDING)]
    assert rows[0].not_before == clock()


async def test_rolled_back_change_leaves_no_message(sessions: async_sessionmaker[AsyncSession],
                                                    clock: FrozenClock) -> None:
    async with sessions() as s:
        await Outbox(s, clock).enqueue(key="k1", kind="t", chat_id=7, text="x")
        await s.rollback()
    assert await items(sessions) == []


async def test_payload_shapes(session: AsyncSession, clock: FrozenClock) -> None:
    outbox = Outbox(session, clock)
    await outbox.enqueue(key="a", kind="t", chat_id=1, text="hi", buttons=[[("Yes", "y:1"), {"text": "Web",
                                                                                           "url": "https://x.org"}]])
    await outbox.enqueue(key="b", kind="t", chat_id=1, text="cap", photo="PHOTO1", reply_to=5)
    await outbox.enqueue(key="c", kind="t", chat_id=1, text="cap", photos=["P1", "P2", "P3"])
    await outbox.enqueue(key="d", kind="t", chat_id=1, text="file", document={"b64": "aGk=", "filename": "a.txt"})
    await session.flush()
    rows = {r.dedup_key: r.payload for r in (await session.execute(select(OutboxItem))).scalars()}
    assert rows["a"] == {"method": "message", "text": "hi",
                         "buttons": [[["Yes", "y:1"], {"text": "Web", "url": "https://x.org"}]]}
    assert rows["b"] == {"method": "photo", "photo": "PHOTO1", "caption": "cap", "reply_to": 5}
    assert rows["c"] == {"method": "album", "photos": ["P1", "P2", "P3"], "caption": "cap"}
    assert rows["d"]["method"] == "document" and rows["d"]["caption"] == "file"


# ------------------------------------------------------------------ quiet hours


def at_shanghai(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_quiet_hours_release_times() -> None:
    night = QuietHours(22 * 60, 7 * 60, SHANGHAI)  # across midnight
    assert night.release_time(at_shanghai(21, 59)) is None
    assert night.release_time(at_shanghai(22, 0)) == at_shanghai(7, 0, day=21)
    assert night.release_time(at_shanghai(3, 30)) == at_shanghai(7, 0)
    assert night.release_time(at_shanghai(7, 0)) is None
    nap = QuietHours(13 * 60, 14 * 60, SHANGHAI)  # within a day
    assert nap.release_time(at_shanghai(13, 30)) == at_shanghai(14, 0)
    assert nap.release_time(at_shanghai(12, 59)) is None
    assert QuietHours(0, 0, SHANGHAI).release_time(at_shanghai(3)) is None  # off


async def test_quiet_hours_defer_private_non_urgent_only(sessions: async_sessionmaker[AsyncSession],
                                                         clock: FrozenClock) -> None:
    clock.set(at_shanghai(23, 15))
    quiet = QuietHours(22 * 60, 7 * 60, SHANGHAI)
    async with sessions() as s:
        outbox = Outbox(s, clock)
        await outbox.enqueue(key="calm", kind="t", chat_id=7, text="x", quiet=quiet)
        await outbox.enqueue(key="urgent", kind="t", chat_id=7, text="x", quiet=quiet, urgent=True)
        await outbox.enqueue(key="group", kind="t", chat_id=-100123, text="x", quiet=quiet)
        await s.commit()
    rows = {r.dedup_key: r for r in await items(sessions)}
    assert rows["calm"].deferred and rows["calm"].not_before == at_shanghai(7, 0, day=21)
    assert not rows["urgent"].deferred and rows["urgent"].not_before == clock()
    assert not rows["group"].deferred and rows["group"].not_before == clock()


async def test_notify_applies_member_quiet_hours_and_erasure(sessions: async_sessionmaker[AsyncSession],
                                                            clock: FrozenClock) -> None:
    clock.set(at_shanghai(6, 0))
    async with sessions() as s:
        quiet = Member(telegram_id=501, first_name="Q", prefs={}, quiet_start=22 * 60, quiet_end=7 * 60)
        loud = Member(telegram_id=502, first_name="L", prefs={})
        gone = Member(telegram_id=503, first_name="", prefs={}, data_deleted_at=clock())
        s.add_all([quiet, loud, gone])
        await s.flush()
        outbox = Outbox(s, clock)
        assert await outbox.notify(quiet, key="n:501", kind="t", text="x", tz="Asia/Shanghai")
        assert await outbox.notify(loud, key="n:502", kind="t", text="x", tz="Asia/Shanghai")
        assert not await outbox.notify(gone, key="n:503", kind="t", text="x", tz="Asia/Shanghai")
        await s.commit()
    rows = {r.chat_id: r for r in await items(sessions)}
    assert set(rows) == {501, 502}
    assert rows[501].deferred and rows[501].not_before == at_shanghai(7, 0)
    assert rows[501].member_id is not None
    assert not rows[502].deferred


async def test_not_before_in_the_past_means_now(session: AsyncSession, clock: FrozenClock) -> None:
    await Outbox(session, clock).enqueue(key="k", kind="t", chat_id=1, text="x", not_before=clock() - timedelta(days=1))
    await session.flush()
    assert (await session.execute(select(OutboxItem.not_before))).scalar_one() == clock()


# ------------------------------------------------------------------ edits, cancel, batches


async def test_edit_last_write_wins_before_delivery(sessions: async_sessionmaker[AsyncSession],
                                                    clock: FrozenClock) -> None:
    async with sessions() as s:
        outbox = Outbox(s, clock)
        await outbox.enqueue_edit(key="card:1", kind="card_edit", chat_id=-1001, message_id=5, text="v1",
                                  delay=timedelta(seconds=5))
        await s.commit()
    clock.advance(seconds=2)
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="card:1", kind="card_edit", chat_id=-1001, message_id=5, text="v2",
                                            buttons=[[("Accept", "a:1")]], delay=timedelta(seconds=5))
        await s.commit()
    rows = await items(sessions)
    assert len(rows) == 1
    assert rows[0].payload["text"] == "v2" and rows[0].payload["buttons"] == [[["Accept", "a:1"]]]
    # The pending edit keeps its first due time, so rapid changes coalesce instead of postponing forever.
    assert rows[0].not_before == clock() - timedelta(seconds=2) + timedelta(seconds=5)


async def test_edit_after_sent_rearms(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="card:2", kind="card_edit", chat_id=-1001, message_id=5, text="v1")
        await s.commit()
    async with sessions() as s:
        row = (await s.execute(select(OutboxItem))).scalar_one()
        row.status, row.attempts, row.sent_at = OutboxStatus.SENT, 1, clock()
        await s.commit()
    clock.advance(minutes=1)
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="card:2", kind="card_edit", chat_id=-1001, message_id=5, text="v2")
        await s.commit()
    (row,) = await items(sessions)
    assert (row.status, row.attempts, row.payload["text"], row.not_before) == (
        OutboxStatus.PENDING, 0, "v2", clock())


async def test_cancel_by_prefix(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    async with sessions() as s:
        outbox = Outbox(s, clock)
        for key in ("shift:7:a", "shift:7:b", "shift:70:a", "shift_7:a"):
            await outbox.enqueue(key=key, kind="t", chat_id=1, text="x")
        assert await outbox.cancel("shift:7:") == 2
        await s.commit()
    status = {r.dedup_key: r.status for r in await items(sessions)}
    assert status == {"shift:7:a": OutboxStatus.EXPIRED, "shift:7:b": OutboxStatus.EXPIRED,
                      "shift:70:a": OutboxStatus.PENDING, "shift_7:a": OutboxStatus.PENDING}


async def test_cancel_prefix_with_wildcards_is_literal(session: AsyncSession, clock: FrozenClock) -> None:
    outbox = Outbox(session, clock)
    await outbox.enqueue(key="a_b:1", kind="t", chat_id=1, text="x")
    await outbox.enqueue(key="axb:1", kind="t", chat_id=1, text="x")
    assert await outbox.cancel("a_b") == 1


async def test_batch_report_counts(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    statuses = [(OutboxStatus.SENT, False, None), (OutboxStatus.SENT, False, None),
                (OutboxStatus.PENDING, False, None), (OutboxStatus.PENDING, True, None),
                (OutboxStatus.FAILED, False, "Forbidden: bot was blocked by the user"),
                (OutboxStatus.FAILED, False, "Bad Request: can't parse entities"),
                (OutboxStatus.EXPIRED, False, "moment passed")]
    async with sessions() as s:
        for i, (status, deferred, error) in enumerate(statuses):
            s.add(OutboxItem(dedup_key=f"ann:1:{i}", kind="announcement", chat_id=100 + i, payload={}, batch="ann:1",
                             status=status, deferred=deferred, last_error=error, not_before=clock(),
                             created_at=clock()))
        s.add(OutboxItem(dedup_key="other", kind="t", chat_id=1, payload={}, batch="ann:2", not_before=clock(),
                         created_at=clock()))
        await s.commit()
        report = await Outbox(s, clock).batch_report("ann:1")
    assert report == {"total": 7, "sent": 2, "pending": 1, "deferred": 1, "failed": 2, "blocked": 1, "expired": 1}


async def test_chat_alive_clears_unreachable(session: AsyncSession, clock: FrozenClock) -> None:
    session.add(ChatState(chat_id=77, unreachable="Forbidden: bot was blocked by the user", updated_at=clock()))
    await session.flush()
    assert await Outbox(session, clock).unreachable(77)
    await chat_alive(session, 77)
    await chat_alive(session, 78)  # unknown chat: nothing to do
    session.expire_all()
    assert await Outbox(session, clock).unreachable(77) is None


async def test_200_concurrent_writers_never_see_database_locked(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """Each writer reads a counter, bumps it and enqueues a message in its own transaction, all at once
    on one engine: on SQLite, BEGIN IMMEDIATE plus the busy timeout queue them; nothing is lost."""
    import asyncio

    from models import Community

    async with sessions() as s:
        s.add(Community(key="c", code="CC", name="C", timezone="Asia/Shanghai", locale="en", settings={},
                        next_issue_number=1, created_at=clock()))
        await s.commit()

    async def writer(n: int) -> None:
        async with sessions() as s:
            community = (await s.execute(select(Community).with_for_update())).scalar_one()
            number = community.next_issue_number
            community.next_issue_number = number + 1
            await Outbox(s, clock).enqueue(key=f"issue:{number}", kind="t", chat_id=1000 + n, text=str(number))
            await s.commit()

    await asyncio.gather(*(writer(n) for n in range(200)))
    async with sessions() as s:
        assert (await s.execute(select(Community.next_issue_number))).scalar_one() == 201
        keys = set((await s.execute(select(OutboxItem.dedup_key))).scalars())
    assert keys == {f"issue:{n}" for n in range(1, 201)}
