"""Delivering the outbox against the Bot API test double: what reaches people, what is retried and when,
what fails for good, and that restarts, leases and several senders never double or reorder a chat."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiogram import Bot
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.sender import LEASE, MAX_ATTEMPTS, OutboxSender
from bot.services.outbox import SENT_HOOKS, Outbox, QuietHours, on_sent
from models import ChatLink, ChatState, OutboxItem, OutboxStatus
from tests.telegram import FakeTelegram

ANN, BEN, CY = 801, 802, 803
GROUP = -1001000000011  # Building 1's team chat in the sample structure


def make_sender(bot: Bot, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, **kw: Any) -> OutboxSender:
    kw.setdefault("private_interval", 0)
    kw.setdefault("group_interval", 0)
    return OutboxSender(bot, sessions, rate=10_000, clock=clock, **kw)


async def enqueue(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, **kw: Any) -> bool:
    kw.setdefault("kind", "test")
    async with sessions() as s:
        added = await Outbox(s, clock).enqueue(**kw)
        await s.commit()
        return added


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, OutboxItem]:
    async with sessions() as s:
        return {r.dedup_key: r for r in (await s.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars()}


def holding(sender: OutboxSender) -> list[OutboxItem]:
    """Claim without sending: the sender's delivery only records the rows it claimed (they stay "sending")."""
    claimed: list[OutboxItem] = []

    async def hold(item: OutboxItem) -> None:
        claimed.append(item)

    sender._deliver = hold  # type: ignore[method-assign]  # the test stands in for delivery
    return claimed


def people(tg: FakeTelegram, *ids: int) -> None:
    for chat_id in ids:
        tg.add_chat(chat_id, type="private" if chat_id > 0 else "supergroup")


async def test_delivers_text_buttons_and_records_message_id(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN, BEN)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="<b>Hello</b> Ann", buttons=[[("OK", "ok:1")]])
    await enqueue(sessions, clock, key="b", chat_id=BEN, text="Hello Ben")
    sender = make_sender(bot, sessions, clock)
    await sender.drain()
    assert tg.texts(ANN) == ["<b>Hello</b> Ann"] and tg.texts(BEN) == ["Hello Ben"]
    assert tg.buttons(tg.last(ANN)) == [["OK"]]
    got = await rows(sessions)
    assert {r.status for r in got.values()} == {OutboxStatus.SENT}
    assert got["a"].message_id == tg.last(ANN).message_id and got["a"].sent_at == clock()
    assert sender.stats["sent"] == 2
    # Nothing left: a second drain sends nothing more.
    await make_sender(bot, sessions, clock).drain()
    assert len(tg.sent()) == 2


async def test_text_messages_turn_link_previews_off_with_link_preview_options(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    # The production bot (bot.app.create_bot): the double refuses disable_web_page_preview, which the
    # Bot API replaced with link_preview_options.
    people(tg, ANN)
    await enqueue(sessions, clock, key="link", chat_id=ANN, text="Cleaning day plan: https://example.org/plan")
    await make_sender(bot, sessions, clock).drain()
    call = tg.last(ANN)
    assert call.ok and call.params["link_preview_options"] == {"is_disabled": True}
    assert "disable_web_page_preview" not in call.params
    assert (await rows(sessions))["link"].status == OutboxStatus.SENT


async def test_photo_and_album(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                               clock: FrozenClock) -> None:
    people(tg, ANN)
    await enqueue(sessions, clock, key="p", chat_id=ANN, text="card", photo="PHOTO-1", buttons=[[("Go", "g")]])
    await enqueue(sessions, clock, key="al", chat_id=ANN, text="three", photos=["P1", "P2", "P3"])
    await make_sender(bot, sessions, clock).drain()
    assert [c.method for c in tg.sent(ANN)] == ["sendPhoto", "sendMediaGroup"]
    assert tg.sent(ANN)[0].params["caption"] == "card"


async def test_on_sent_hook_sees_message_id(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                            clock: FrozenClock) -> None:
    people(tg, GROUP)
    seen: list[tuple[int, int | None]] = []

    @on_sent("test_card")
    async def remember(session: AsyncSession, item: OutboxItem) -> None:
        seen.append((item.chat_id, item.message_id))

    try:
        await enqueue(sessions, clock, key="card", kind="test_card", chat_id=GROUP, text="card")
        await make_sender(bot, sessions, clock).drain()
    finally:
        SENT_HOOKS.pop("test_card", None)
    assert seen == [(GROUP, tg.last(GROUP).message_id)]


# ------------------------------------------------------------------ transient failures


async def test_429_waits_retry_after(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                     clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", retry_after=30, chat_id=ANN)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="hi")
    sender = make_sender(bot, sessions, clock)
    await sender.drain()
    row = (await rows(sessions))["a"]
    assert row.status == OutboxStatus.PENDING and row.not_before == clock() + timedelta(seconds=30)
    assert row.attempts == 0  # a 429 is Telegram's pacing, not a failed attempt
    assert sender.stats["retry_after"] == 1
    clock.advance(seconds=29)
    await make_sender(bot, sessions, clock).drain()
    assert len(tg.calls_of("sendMessage")) == 1  # not resent before retry_after
    clock.advance(seconds=1)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["hi"]
    assert (await rows(sessions))["a"].status == OutboxStatus.SENT


async def test_server_errors_retry_with_backoff(bot: Bot, tg: FakeTelegram,
                                                sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", server_error=True, count=2)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="hi")
    await make_sender(bot, sessions, clock).drain()
    row = (await rows(sessions))["a"]
    assert row.status == OutboxStatus.PENDING and row.attempts == 1 and row.last_error
    first_wait = row.not_before - clock()
    assert first_wait > timedelta(0)
    clock.advance(seconds=first_wait.total_seconds())
    await make_sender(bot, sessions, clock).drain()
    row = (await rows(sessions))["a"]
    assert row.status == OutboxStatus.PENDING and row.attempts == 2
    assert row.not_before - clock() > first_wait  # backing off
    await make_sender(bot, sessions, clock).drain()
    assert len(tg.calls_of("sendMessage")) == 2  # waited
    clock.advance(seconds=(row.not_before - clock()).total_seconds())
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["hi"]
    assert (await rows(sessions))["a"].status == OutboxStatus.SENT


async def test_network_error_retried_then_delivered(bot: Bot, tg: FakeTelegram,
                                                    sessions: async_sessionmaker[AsyncSession],
                                                    clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", timeout=True)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="hi")
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == [] and (await rows(sessions))["a"].status == OutboxStatus.PENDING
    clock.advance(minutes=1)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["hi"]


async def test_gives_up_after_max_attempts(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                           clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", server_error=True, count=MAX_ATTEMPTS)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="hi")
    for _ in range(MAX_ATTEMPTS):
        await make_sender(bot, sessions, clock).drain()
        clock.advance(minutes=6)
    row = (await rows(sessions))["a"]
    assert row.status == OutboxStatus.FAILED and "Internal Server Error" in (row.last_error or "")
    assert len(tg.calls_of("sendMessage")) == MAX_ATTEMPTS
    async with sessions() as s:
        assert await Outbox(s, clock).unreachable(ANN) is None  # a flaky server is not the person's fault


async def test_retry_keeps_the_order_of_a_chat(bot: Bot, tg: FakeTelegram,
                                               sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", server_error=True, chat_id=ANN)
    for i in range(3):
        await enqueue(sessions, clock, key=f"m{i}", chat_id=ANN, text=f"message {i}")
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == []  # the later ones wait for the first one's retry
    clock.advance(minutes=1)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["message 0", "message 1", "message 2"]


# ------------------------------------------------------------------ permanent failures


async def test_blocked_user_fails_for_good_and_later_items_fail_fast(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN, BEN)
    tg.block(ANN)
    await enqueue(sessions, clock, key="a1", chat_id=ANN, text="one")
    await enqueue(sessions, clock, key="a2", chat_id=ANN, text="two")
    await enqueue(sessions, clock, key="b1", chat_id=BEN, text="for Ben")
    await make_sender(bot, sessions, clock).drain()
    got = await rows(sessions)
    assert got["a1"].status == got["a2"].status == OutboxStatus.FAILED
    assert "blocked" in (got["a1"].last_error or "")
    assert got["b1"].status == OutboxStatus.SENT
    assert len(tg.sent(ANN)) == 0 and len([c for c in tg.calls if c.chat_id == ANN]) == 1
    async with sessions() as s:
        state = await s.get(ChatState, ANN)
        assert state is not None and "blocked" in (state.unreachable or "")
    # Later items to that chat fail without a call, also in a new sender (after a restart).
    calls = len(tg.calls)
    await enqueue(sessions, clock, key="a3", chat_id=ANN, text="three")
    await make_sender(bot, sessions, clock).drain()
    assert len(tg.calls) == calls
    assert (await rows(sessions))["a3"].status == OutboxStatus.FAILED


async def test_unblocked_person_who_writes_again_is_reachable(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    from bot.services.outbox import chat_alive

    people(tg, ANN)
    tg.block(ANN)
    await enqueue(sessions, clock, key="a1", chat_id=ANN, text="one")
    sender = make_sender(bot, sessions, clock)
    await sender.drain()
    tg.unblock(ANN)
    async with sessions() as s:  # what DbMiddleware does when Ann writes to the bot again
        await chat_alive(s, ANN)
        await s.commit()
    await enqueue(sessions, clock, key="a2", chat_id=ANN, text="welcome back")
    await sender.drain()  # the same long-running sender forgets its memory of the block
    assert tg.texts(ANN) == ["welcome back"]


async def test_chat_not_found_and_kicked(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                         clock: FrozenClock) -> None:
    people(tg, GROUP)
    tg.kick(GROUP)
    await enqueue(sessions, clock, key="g", chat_id=GROUP, text="to the group")
    await enqueue(sessions, clock, key="nobody", chat_id=-1009999, text="to nowhere")
    await make_sender(bot, sessions, clock).drain()
    got = await rows(sessions)
    assert got["g"].status == OutboxStatus.FAILED and "kicked" in (got["g"].last_error or "")
    assert got["nobody"].status == OutboxStatus.FAILED and "chat not found" in (got["nobody"].last_error or "")
    async with sessions() as s:
        assert await Outbox(s, clock).unreachable(GROUP)
        assert await Outbox(s, clock).unreachable(-1009999)


async def test_refused_message_fails_without_blocking_the_chat(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    await enqueue(sessions, clock, key="bad", chat_id=ANN, text="<b>unclosed")
    await enqueue(sessions, clock, key="good", chat_id=ANN, text="fine")
    await make_sender(bot, sessions, clock).drain()
    got = await rows(sessions)
    assert got["bad"].status == OutboxStatus.FAILED and "parse entities" in (got["bad"].last_error or "")
    assert got["good"].status == OutboxStatus.SENT
    async with sessions() as s:
        assert await Outbox(s, clock).unreachable(ANN) is None


async def test_group_migrated_to_supergroup(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                            clock: FrozenClock, community: Any) -> None:
    new_id = -1009000000011
    people(tg, GROUP)
    tg.migrate(GROUP, new_id)
    await enqueue(sessions, clock, key="g1", chat_id=GROUP, text="first")
    await enqueue(sessions, clock, key="g2", chat_id=GROUP, text="second")
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(new_id) == ["first", "second"]
    got = await rows(sessions)
    assert {r.chat_id for r in got.values()} == {new_id}
    assert {r.status for r in got.values()} == {OutboxStatus.SENT}
    async with sessions() as s:
        links = set((await s.execute(select(ChatLink.chat_id))).scalars())
        assert new_id in links and GROUP not in links
        state = await s.get(ChatState, GROUP)
        assert state is not None and state.migrated_to == new_id


# ------------------------------------------------------------------ time: quiet hours and expiry


async def test_quiet_hours_deferred_then_sent_urgent_at_once(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    from zoneinfo import ZoneInfo

    people(tg, ANN)
    clock.advance(hours=14)  # 23:00 in Shanghai
    quiet = QuietHours(22 * 60, 7 * 60, ZoneInfo("Asia/Shanghai"))
    await enqueue(sessions, clock, key="calm", chat_id=ANN, text="cleaning day tomorrow", quiet=quiet, batch="b")
    await enqueue(sessions, clock, key="fire", chat_id=ANN, text="fire lane blocked", quiet=quiet, urgent=True)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["fire lane blocked"]
    async with sessions() as s:
        assert (await Outbox(s, clock).batch_report("b"))["deferred"] == 1
    clock.advance(hours=7, minutes=59)  # 06:59
    await make_sender(bot, sessions, clock).drain()
    assert len(tg.texts(ANN)) == 1
    clock.advance(minutes=1)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["fire lane blocked", "cleaning day tomorrow"]


async def test_expired_items_are_not_sent(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                          clock: FrozenClock) -> None:
    people(tg, ANN, BEN)
    await enqueue(sessions, clock, key="late", chat_id=ANN, text="shift starts in 1h",
                  expires_at=clock() + timedelta(minutes=30))
    await enqueue(sessions, clock, key="fresh", chat_id=BEN, text="ok", expires_at=clock() + timedelta(hours=2))
    clock.advance(minutes=31)  # the bot was down
    await make_sender(bot, sessions, clock).drain()
    got = await rows(sessions)
    assert got["late"].status == OutboxStatus.EXPIRED and got["fresh"].status == OutboxStatus.SENT
    assert tg.texts(ANN) == [] and tg.texts(BEN) == ["ok"]


async def test_rate_limited_item_expires_instead_of_arriving_late(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    tg.fail_next("sendMessage", retry_after=120, chat_id=ANN)
    await enqueue(sessions, clock, key="r", chat_id=ANN, text="soon", expires_at=clock() + timedelta(minutes=1))
    await make_sender(bot, sessions, clock).drain()
    clock.advance(minutes=2)
    await make_sender(bot, sessions, clock).drain()
    assert (await rows(sessions))["r"].status == OutboxStatus.EXPIRED
    assert tg.texts(ANN) == []


# ------------------------------------------------------------------ restarts, leases, concurrency


async def test_restart_in_the_middle_sends_each_once(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    texts = [f"part {i}" for i in range(8)]
    for i, text in enumerate(texts):
        await enqueue(sessions, clock, key=f"m{i}", chat_id=ANN, text=text)
    first = make_sender(bot, sessions, clock, private_interval=0.02, poll_interval=0.05)
    running = asyncio.create_task(first.run())
    for _ in range(400):
        if len(tg.sent(ANN)) >= 3:
            break
        await asyncio.sleep(0.01)
    await first.stop()  # SIGTERM: finishes what is in flight and records it
    await asyncio.wait_for(running, 10)
    sent_before = len(tg.sent(ANN))
    assert 3 <= sent_before < len(texts)
    assert not [r for r in (await rows(sessions)).values() if r.status == OutboxStatus.SENDING]
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == texts


async def test_dead_instance_claim_is_taken_over_after_lease(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, ANN)
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="hi")
    async with sessions() as s:  # an instance claimed it, then died (kill -9)
        await s.execute(update(OutboxItem).values(status=OutboxStatus.SENDING, claimed_by="dead",
                                                  lease_until=clock() + LEASE, attempts=1))
        await s.commit()
    alive = make_sender(bot, sessions, clock, instance="alive")
    await alive.drain()
    assert tg.texts(ANN) == []  # the lease still holds
    clock.advance(seconds=LEASE.total_seconds())
    await alive.drain()
    assert tg.texts(ANN) == ["hi"]
    row = (await rows(sessions))["a"]
    assert (row.status, row.claimed_by, row.attempts) == (OutboxStatus.SENT, "alive", 2)


async def test_one_in_flight_per_chat(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                      clock: FrozenClock) -> None:
    for i in range(4):
        await enqueue(sessions, clock, key=f"a{i}", chat_id=ANN, text=f"a{i}")
    await enqueue(sessions, clock, key="b0", chat_id=BEN, text="b0")
    sender = make_sender(bot, sessions, clock)
    # Claim without sending: patch the delivery so the claimed rows stay "sending".
    started = holding(sender)
    assert await sender.claim_once() == 2
    await asyncio.sleep(0)
    assert sorted(i.dedup_key for i in started) == ["a0", "b0"]
    # Another instance finds nothing to claim while those are in flight.
    assert await make_sender(bot, sessions, clock).claim_once() == 0


async def test_two_senders_share_the_queue_without_doubling(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    chats = [900 + i for i in range(12)]
    people(tg, *chats)
    for chat in chats:
        for n in range(4):
            await enqueue(sessions, clock, key=f"{chat}:{n}", chat_id=chat, text=f"{chat} #{n}")
    a = make_sender(bot, sessions, clock, instance="a")
    b = make_sender(bot, sessions, clock, instance="b")
    await asyncio.gather(a.drain(), b.drain())
    for chat in chats:
        assert tg.texts(chat) == [f"{chat} #{n}" for n in range(4)]
    assert a.stats["sent"] + b.stats["sent"] == 48
    assert {r.status for r in (await rows(sessions)).values()} == {OutboxStatus.SENT}


async def test_many_senders_claiming_together_neither_deadlock_nor_double(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """On PostgreSQL concurrent claims once locked overlapping rows in different orders and deadlocked."""
    chats = [5000 + i for i in range(150)]
    people(tg, *chats)
    async with sessions() as s:
        outbox = Outbox(s, clock)
        for chat in chats:
            for n in range(2):
                await outbox.enqueue(key=f"{chat}:{n}", kind="test", chat_id=chat, text=f"{chat} #{n}")
        await s.commit()
    senders = [make_sender(bot, sessions, clock, instance=f"i{n}") for n in range(4)]
    await asyncio.gather(*(sender.drain() for sender in senders))
    for chat in chats:
        assert tg.texts(chat) == [f"{chat} #0", f"{chat} #1"]
    assert sum(sender.stats["sent"] for sender in senders) == 300


async def test_a_failing_claim_does_not_stop_delivery(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
        monkeypatch: Any) -> None:
    people(tg, ANN)
    sender = make_sender(bot, sessions, clock, poll_interval=0.05)
    real = sender.claim_once
    failures = [RuntimeError("deadlock detected")]

    async def flaky(*args: Any, **kwargs: Any) -> int:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(sender, "claim_once", flaky)
    running = asyncio.create_task(sender.run())
    await enqueue(sessions, clock, key="a", chat_id=ANN, text="Still delivered")
    sender.wake()
    for _ in range(100):
        if tg.texts(ANN):
            break
        await asyncio.sleep(0.05)
    await sender.stop()
    await running
    assert not failures and tg.texts(ANN) == ["Still delivered"]


async def test_urgent_items_are_claimed_first(bot: Bot, tg: FakeTelegram,
                                              sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    chats = [950 + i for i in range(5)]
    people(tg, *chats)
    for chat in chats[:-1]:
        await enqueue(sessions, clock, key=f"n{chat}", chat_id=chat, text="routine")
    await enqueue(sessions, clock, key="u", chat_id=chats[-1], text="urgent", urgent=True)
    sender = make_sender(bot, sessions, clock)
    claimed = holding(sender)
    await sender.claim_once(limit=1)
    await asyncio.sleep(0)
    assert [i.dedup_key for i in claimed] == ["u"]


async def test_urgent_item_overtakes_a_chats_backlog(bot: Bot, tg: FakeTelegram,
                                                     sessions: async_sessionmaker[AsyncSession],
                                                     clock: FrozenClock) -> None:
    """25 relayed answers queued for a team chat must not hold back the urgent fire-lane card that
    comes after them (at 20 messages a minute to a group, that was more than a minute)."""
    people(tg, GROUP)
    for n in range(25):
        await enqueue(sessions, clock, key=f"answer{n}", chat_id=GROUP, text=f"answer {n}")
    sender = make_sender(bot, sessions, clock)
    # The first answer is already on its way when the urgent card is enqueued.
    holding(sender)
    assert await sender.claim_once() == 1
    await asyncio.sleep(0)
    await enqueue(sessions, clock, key="fire", chat_id=GROUP, text="🚒 fire lane blocked", urgent=True)
    async with sessions() as s:  # the first answer was sent
        await s.execute(update(OutboxItem).where(OutboxItem.dedup_key == "answer0")
                        .values(status=OutboxStatus.SENT, lease_until=None))
        await s.commit()
    await make_sender(bot, sessions, clock).drain()
    # The urgent card goes next, and the answers keep their own order behind it.
    assert tg.texts(GROUP) == ["🚒 fire lane blocked", *[f"answer {n}" for n in range(1, 25)]]


async def test_urgent_items_of_a_chat_keep_their_order(bot: Bot, tg: FakeTelegram,
                                                       sessions: async_sessionmaker[AsyncSession],
                                                       clock: FrozenClock) -> None:
    people(tg, ANN)
    await enqueue(sessions, clock, key="n0", chat_id=ANN, text="routine 0")
    await enqueue(sessions, clock, key="u0", chat_id=ANN, text="urgent 0", urgent=True)
    await enqueue(sessions, clock, key="n1", chat_id=ANN, text="routine 1")
    await enqueue(sessions, clock, key="u1", chat_id=ANN, text="urgent 1", urgent=True)
    await make_sender(bot, sessions, clock).drain()
    assert tg.texts(ANN) == ["urgent 0", "urgent 1", "routine 0", "routine 1"]


# ------------------------------------------------------------------ edits


async def test_edits_last_write_wins(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                     clock: FrozenClock) -> None:
    people(tg, GROUP)
    await enqueue(sessions, clock, key="card", chat_id=GROUP, text="🚒 #NC0042 new")
    await make_sender(bot, sessions, clock).drain()
    message_id = tg.last(GROUP).message_id
    assert message_id is not None
    async with sessions() as s:
        outbox = Outbox(s, clock)
        await outbox.enqueue_edit(key="card:edit", kind="card_edit", chat_id=GROUP, message_id=message_id,
                                  text="🚒 #NC0042 accepted")
        await outbox.enqueue_edit(key="card:edit", kind="card_edit", chat_id=GROUP, message_id=message_id,
                                  text="🚒 #NC0042 in progress", buttons=[[("Resolve", "r:42")]])
        await s.commit()
    await make_sender(bot, sessions, clock).drain()
    edits = tg.edits(GROUP)
    assert [e.text for e in edits] == ["🚒 #NC0042 in progress"]
    assert tg.buttons(tg.current(GROUP, message_id)) == [["Resolve"]]
    # The same content again: Telegram says "message is not modified", which counts as done.
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="card:edit", kind="card_edit", chat_id=GROUP, message_id=message_id,
                                            text="🚒 #NC0042 in progress", buttons=[[("Resolve", "r:42")]])
        await s.commit()
    await make_sender(bot, sessions, clock).drain()
    assert "not modified" in (tg.calls[-1].error or "")
    row = (await rows(sessions))["card:edit"]
    assert row.status == OutboxStatus.SENT


async def test_edit_of_a_vanished_message_fails_quietly(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    people(tg, GROUP)
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="e", kind="card_edit", chat_id=GROUP, message_id=999, text="x")
        await s.commit()
    await make_sender(bot, sessions, clock).drain()
    row = (await rows(sessions))["e"]
    assert row.status == OutboxStatus.FAILED and "not found" in (row.last_error or "")
    async with sessions() as s:
        assert await Outbox(s, clock).unreachable(GROUP) is None


async def test_batch_report_after_delivery(bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                                           clock: FrozenClock) -> None:
    people(tg, ANN, BEN, CY)
    tg.block(BEN)
    for chat in (ANN, BEN, CY):
        await enqueue(sessions, clock, key=f"ann:{chat}", chat_id=chat, text="notice", batch="ann")
    await enqueue(sessions, clock, key="ann:gone", chat_id=804, text="notice", batch="ann",
                  expires_at=clock() + timedelta(seconds=1))
    clock.advance(seconds=2)
    await make_sender(bot, sessions, clock).drain()
    async with sessions() as s:
        report = await Outbox(s, clock).batch_report("ann")
    assert report == {"total": 4, "sent": 2, "pending": 0, "deferred": 0, "failed": 1, "blocked": 1, "expired": 1}


async def test_a_coalesced_live_count_edit_overtakes_a_long_batch(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """Issue 17 (bench_minute): the residents' chat count, edited as taps come in, went out only after
    every private reminder queued before it (two minutes for 3,000). An urgent edit is claimed first."""
    chats = [960 + i for i in range(5)]
    people(tg, *chats)
    for chat in chats:
        await enqueue(sessions, clock, key=f"reminder{chat}", chat_id=chat, text="cleaning day tomorrow")
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="count", kind="cleaning_edit", chat_id=GROUP, message_id=7,
                                            text="3 coming", urgent=True)
        await s.commit()
    sender = make_sender(bot, sessions, clock)
    claimed = holding(sender)
    await sender.claim_once(limit=1)
    await asyncio.sleep(0)
    assert [i.dedup_key for i in claimed] == ["count"]


async def test_an_edit_changed_while_being_sent_still_goes_out(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """Issue 17 (bench_minute): a tap that changed the live count while the sender was sending the older
    count was lost (the row was marked sent), so the group showed a stale count until the next tap."""
    people(tg, GROUP)
    msg = await bot.send_message(GROUP, "🙋 2 coming")
    async with sessions() as s:
        await Outbox(s, clock).enqueue_edit(key="count", kind="cleaning_edit", chat_id=GROUP,
                                            message_id=msg.message_id, text="🙋 3 coming", urgent=True)
        await s.commit()
    sender = make_sender(bot, sessions, clock)
    claimed = holding(sender)
    assert await sender.claim_once() == 1
    await asyncio.sleep(0)
    async with sessions() as s:  # a tap while "3 coming" is on its way
        await Outbox(s, clock).enqueue_edit(key="count", kind="cleaning_edit", chat_id=GROUP,
                                            message_id=msg.message_id, text="🙋 4 coming", urgent=True)
        await s.commit()
    async with sessions() as s:  # the older text was delivered
        await sender._record(s, claimed[0], "sent", {"message_id": msg.message_id}, clock())
        await s.commit()
    await make_sender(bot, sessions, clock).drain()
    assert tg.current(GROUP, msg.message_id).text == "🙋 4 coming"
    assert (await rows(sessions))["count"].status == OutboxStatus.SENT


async def test_a_due_edit_is_not_pushed_back_by_each_new_change(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """Issue 17 (bench_minute): with taps every few tens of milliseconds, each one moved the due live-count
    edit 5 s ahead again before the sender claimed it: the residents' chat was edited twice in two minutes.
    Coalescing keeps the first due time; the last text wins."""
    people(tg, GROUP)
    msg = await bot.send_message(GROUP, "🙋 0 coming")

    async def change(n: int) -> None:
        async with sessions() as s:
            await Outbox(s, clock).enqueue_edit(key="count", kind="cleaning_edit", chat_id=GROUP,
                                                message_id=msg.message_id, text=f"🙋 {n} coming",
                                                delay=timedelta(seconds=5))
            await s.commit()

    await change(1)
    clock.advance(seconds=5)  # due now; a change arrives before the sender's next claim
    await change(2)
    await make_sender(bot, sessions, clock).drain()
    assert tg.current(GROUP, msg.message_id).text == "🙋 2 coming"


async def test_digests_are_claimed_after_urgent_items_and_before_routine_ones(
        bot: Bot, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    """At 08:00 the offices' digests go out before the morning's routine messages (queued earlier),
    but never before an urgent card."""
    chats = [960 + i for i in range(6)]
    people(tg, *chats)
    for chat in chats[:3]:
        await enqueue(sessions, clock, key=f"n{chat}", chat_id=chat, text="routine")
    await enqueue(sessions, clock, key="d1", chat_id=chats[3], text="digest", kind="digest_daily")
    await enqueue(sessions, clock, key="d2", chat_id=chats[4], text="weekly", kind="digest_weekly")
    await enqueue(sessions, clock, key="u", chat_id=chats[5], text="urgent", urgent=True)
    sender = make_sender(bot, sessions, clock)
    claimed = holding(sender)
    for _ in range(6):
        await sender.claim_once(limit=1)
    await asyncio.sleep(0)
    assert [i.dedup_key for i in claimed] == ["u", "d1", "d2", f"n{chats[0]}", f"n{chats[1]}", f"n{chats[2]}"]
