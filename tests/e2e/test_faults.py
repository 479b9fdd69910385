"""Faults: the Bot API failing, a busy database, duplicate updates, and kill -9 of the whole process.

In-process tests use the Bot API test double; the kill -9 tests run `python main.py` for real against
the local Bot API server (tests/botapi_server.py) in its own process, on a SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.db import create_engine, session_factory
from bot.services.operations import SUMMARY_KIND, outbox_failure_summary
from bot.services.outbox import Outbox
from models import OutboxItem, OutboxStatus
from tests.conftest import ROOT, TOKEN, BotHarness, unique_id
from tests.e2e.test_authz_matrix import FakeMonotonic, capture_crashes, fake_throttle_time

OFFICE = -1001000000001
B1_TEAM = -1001000000011

# --------------------------------------------------------------------------- the Bot API failing


async def _enqueue(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, chats: list[int],
                   community_id: int) -> None:
    async with sessions() as s:
        outbox = Outbox(s, clock)
        for chat in chats:
            await outbox.enqueue(key=f"fault:{chat}", kind="announcement", chat_id=chat,
                                 text=f"Water off at 9 · {chat}", community_id=community_id, batch="faults")
        await s.commit()


async def test_flaky_bot_api_delivers_everything_deliverable(harness: BotHarness, community: Any, clock: FrozenClock,
                                                             sessions: async_sessionmaker[AsyncSession]) -> None:
    tg = harness.tg
    rng = random.Random(7)
    people = [unique_id() for _ in range(200)]
    for uid in people:
        tg.add_chat(uid, type="private")
    blocked = people[:3]
    for uid in blocked:
        tg.block(uid)
    gone = unique_id()  # a chat that no longer exists
    old_group, new_group = -4000000001, -1004000000001
    tg.add_chat(old_group, type="group", title="Old team")
    tg.migrate(old_group, new_group)
    chats = [*people, gone, old_group]
    lost_answers = 0
    for uid in people[3:]:
        roll = rng.random()
        if roll < 0.05:
            tg.fail_next(chat_id=uid, server_error=True)
        elif roll < 0.08:
            tg.fail_next(chat_id=uid, retry_after=rng.randint(1, 5))
        elif roll < 0.10:
            tg.fail_next(chat_id=uid, timeout=True)
        elif roll < 0.11:
            tg.fail_next(chat_id=uid, timeout=True, delivered=True)  # sent, but the answer was lost
            lost_answers += 1
    await _enqueue(sessions, clock, chats, community.id)

    rounds = 0
    while rounds < 20:  # bounded: retries are scheduled with backoff; move the clock instead of waiting
        rounds += 1
        await harness.deliver()
        async with sessions() as s:
            pending = (await s.execute(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.batch == "faults", OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
            )).scalar_one()
        if not pending:
            break
        clock.advance(seconds=300)
    assert rounds < 20, "the sender kept retrying"
    deliverable = [uid for uid in people if uid not in blocked] + [new_group]
    got = Counter(c.chat_id for c in tg.sent() if c.text and "Water off" in c.text)
    missing = [c for c in deliverable if got[c] == 0]
    assert not missing
    duplicates = sum(n - 1 for n in got.values() if n > 1)
    # At-least-once: only messages whose answer was lost are sent again.
    assert 0 < lost_answers and duplicates <= lost_answers, got.most_common(3)
    assert not any(got[c] for c in [*blocked, gone])
    assert len(tg.calls) < len(chats) * 2  # nothing spins
    async with sessions() as s:
        failed = dict((await s.execute(select(OutboxItem.chat_id, OutboxItem.last_error).where(
            OutboxItem.batch == "faults", OutboxItem.status == OutboxStatus.FAILED))).all())
        report = await Outbox(s, clock).batch_report("faults")
    assert set(failed) == {*blocked, gone}
    assert all("blocked" in (failed[b] or "") for b in blocked)
    assert report["sent"] == len(deliverable) and report["failed"] == 4
    # The next morning the office hears about it, once.
    tg.add_chat(OFFICE, type="supergroup", title="Office")
    clock.set(clock() + timedelta(days=1))
    from bot.jobs import JobContext

    async with sessions() as s:
        await outbox_failure_summary(s, JobContext(sessions, clock, harness.dp["settings"], harness.bot))
        await s.commit()
    await harness.deliver()
    line = tg.texts(OFFICE)
    assert len(line) == 1 and "4" in line[0], line


async def test_group_upgraded_while_a_card_waits(harness: BotHarness, community: Any, clock: FrozenClock,
                                                 sessions: async_sessionmaker[AsyncSession]) -> None:
    """The team chat becomes a supergroup: pending messages follow it, and so does its link."""
    tg = harness.tg
    tg.add_chat(B1_TEAM, type="group", title="B1 team")
    new_id = -1001000000999
    tg.migrate(B1_TEAM, new_id)
    await _enqueue(sessions, clock, [B1_TEAM], community.id)
    async with sessions() as s:
        await Outbox(s, clock).enqueue(key="second", kind="card", chat_id=B1_TEAM, text="second")
        await s.commit()
    for _ in range(3):
        await harness.deliver()
    assert [c.text for c in tg.sent(new_id)] == [f"Water off at 9 · {B1_TEAM}", "second"]
    from models import ChatLink

    async with sessions() as s:
        assert (await s.execute(select(ChatLink.chat_id).where(ChatLink.chat_id == new_id))).scalar_one() == new_id


# ------------------------------------------------------------------------------ busy database


@pytest.fixture
def unthrottled(harness: BotHarness) -> Iterator[None]:
    with fake_throttle_time(harness.dp, FakeMonotonic()):
        yield


async def test_two_hundred_concurrent_writers(harness: BotHarness, community: Any, unthrottled: None) -> None:
    """200 people send /start at the same moment: each one is a write transaction (a new member)."""
    users = [harness.up.user(unique_id(), f"P{i}", "en") for i in range(200)]
    updates = [harness.up.text(u, "/start") for u in users]
    crashes = capture_crashes()
    try:
        await asyncio.gather(*(harness.dp.feed_update(harness.bot, u) for u in updates))
    finally:
        problems = crashes.release()
    assert not problems, problems[:3]
    for u in users:
        texts = harness.tg.texts(u.id)
        assert any("Hi P" in t for t in texts), texts
        assert not any("went wrong" in t or "locked" in t for t in texts)
    assert not harness.tg.errors()


async def test_update_delivered_twice_is_processed_once(harness: BotHarness, community: Any,
                                                        unthrottled: None) -> None:
    uid = unique_id()
    update = harness.up.text(harness.up.user(uid, "Ann", "en"), "/start")
    await asyncio.gather(*(harness.dp.feed_update(harness.bot, update) for _ in range(3)))  # webhook retries
    await harness.feed(update)
    greetings = [t for t in harness.tg.texts(uid) if "Hi Ann" in t]
    assert len(greetings) == 1


# ----------------------------------------------------------------------------- whole processes


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def start_stub(tmp: Path, *extra: str) -> tuple[Proc, str]:
    """The Bot API server in its own process. Returns it and its base URL."""
    log = tmp / f"stub-{time.monotonic_ns()}.log"
    popen = subprocess.Popen([sys.executable, "-m", "tests.botapi_server", "--port", "0", *extra], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert popen.stdout is not None
    line = popen.stdout.readline()
    if not line.startswith("READY"):
        popen.kill()
        raise RuntimeError(f"stub did not start: {line!r} {log.read_text()}")
    return Proc(popen, log), f"http://127.0.0.1:{int(line.split()[1])}"


def bot_env(database_url: str, api: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "REDIS_", "DATABASE_"))}
    env.update(BOT_TOKEN=TOKEN, BOT_API_URL=api, DATABASE_URL=database_url, SEND_RATE="400", TICK_SECONDS="2",
               LOG_LEVEL="INFO", OUTBOX_LEASE_SECONDS="10", SHUTDOWN_GRACE="2", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def start_bot(tmp: Path, env: dict[str, str], *args: str) -> Proc:
    log = tmp / f"bot-{time.monotonic_ns()}.log"
    popen = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=env, stdout=log.open("w"),
                             stderr=subprocess.STDOUT, text=True)
    return Proc(popen, log)


def run_cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def control(api: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}/_control/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sent_texts(api: str) -> list[dict[str, Any]]:
    return list(control(api, "sent"))


def wait_until(predicate: Any, timeout: float, what: str, procs: tuple[Proc, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for p in procs:
            if not p.alive():
                raise AssertionError(f"process exited while waiting for {what}:\n{p.output()[-3000:]}")
        time.sleep(0.1)
    detail = "\n".join(p.output()[-2000:] for p in procs)
    raise AssertionError(f"timed out waiting for {what}\n{detail}")


@contextlib.contextmanager
def cleanup(*procs: Proc) -> Iterator[list[Proc]]:
    started = list(procs)
    try:
        yield started
    finally:
        for p in started:
            if p.alive():
                p.kill9()


async def insert_batch(database_url: str, batch: str, chats: range | list[int], text: str) -> None:
    """Enqueue one message to each chat directly (as an announcement to every household would)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            now = datetime.now(UTC)
            s.add_all([OutboxItem(dedup_key=f"{batch}:{c}", kind="announcement", chat_id=c, batch=batch,
                                  payload={"method": "message", "text": f"{text} {c}"}, status=OutboxStatus.PENDING,
                                  not_before=now, created_at=now, attempts=0) for c in chats])
            await s.commit()
    finally:
        await engine.dispose()


async def outbox_status(database_url: str, **where: Any) -> Counter[str]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            stmt = select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            for key, value in where.items():
                stmt = stmt.where(getattr(OutboxItem, key) == value)
            return Counter(dict((await s.execute(stmt)).all()))
    finally:
        await engine.dispose()


async def test_kill9_in_the_middle_of_a_large_batch(tmp_path: Path) -> None:
    """kill -9 while 3,000 messages go out; after a restart everyone has it; duplicates ≤ sends in flight."""
    stub, api = start_stub(tmp_path)
    with cleanup(stub) as procs:
        db = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        env = bot_env(db, api)
        await asyncio.to_thread(run_cli, env, "migrate")
        recipients = range(700_000_000, 700_003_000)
        await insert_batch(db, "kill9", recipients, "Water is off on Saturday")
        first = start_bot(tmp_path, env)
        procs.append(first)
        await asyncio.to_thread(wait_until, lambda: control(api, "stats")["sends"] >= 1000, 60, "1000 sends",
                                (first,))
        first.kill9()
        in_flight = (await outbox_status(db, batch="kill9"))[OutboxStatus.SENDING]
        sent_before_kill = control(api, "stats")["sends"]
        second = start_bot(tmp_path, env)
        procs.append(second)

        def everyone() -> bool:
            return len({m["chat_id"] for m in sent_texts(api)}) >= len(recipients)

        await asyncio.to_thread(wait_until, everyone, 90, "every recipient", (second,))
        second.stop()
        got = Counter(m["chat_id"] for m in sent_texts(api) if "Water is off" in (m["text"] or ""))
        duplicates = sum(n - 1 for n in got.values())
        print(f"\nkill -9 after {sent_before_kill} sends: {in_flight} rows were in flight, "
              f"{duplicates} duplicate message(s) after the restart")
        assert set(got) == set(recipients)
        assert duplicates <= in_flight
        status = await outbox_status(db, batch="kill9")
        assert status == Counter({OutboxStatus.SENT: len(recipients)})


def _zone_for_morning() -> str:
    """An Etc/GMT zone where it is now between 09:00 and 20:00, so the morning job is due at once."""
    hour = datetime.now(UTC).hour
    offset = (12 - hour + 12) % 24 - 12  # local ≈ noon
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


async def test_kill9_while_a_due_job_runs(tmp_path: Path) -> None:
    """The daily failure line is due when the bot starts; kill -9 it during start-up (the first tick), start
    it again: the office gets the line exactly once."""
    stub, api = start_stub(tmp_path)
    with cleanup(stub) as procs:
        db = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        env = bot_env(db, api)
        structure = (ROOT / "tests" / "data" / "structure.yaml").read_text(encoding="utf-8")
        structure = structure.replace("timezone: Asia/Shanghai", f"timezone: {_zone_for_morning()}")
        (tmp_path / "s.yaml").write_text(structure, encoding="utf-8")
        await asyncio.to_thread(run_cli, env, "import", str(tmp_path / "s.yaml"))
        engine = create_engine(db)
        async with session_factory(engine)() as s:
            yesterday = datetime.now(UTC) - timedelta(days=1)
            from models import Community

            community_id = (await s.execute(select(Community.id))).scalar_one()
            s.add_all([OutboxItem(dedup_key=f"old:{i}", kind="test", chat_id=800 + i, community_id=community_id,
                                  payload={"method": "message", "text": "x"}, status=OutboxStatus.FAILED,
                                  last_error="Forbidden: bot was blocked by the user", not_before=yesterday,
                                  created_at=yesterday) for i in range(3)])
            await s.commit()
        await engine.dispose()
        # 1. killed as the first tick starts (right after getMe), before the job can commit its line.
        bot = start_bot(tmp_path, env)
        procs.append(bot)
        await asyncio.to_thread(wait_until, lambda: control(api, "stats")["methods"].get("getMe", 0) >= 1, 90,
                                "start-up", (bot,))
        bot.kill9()
        # 2. killed the moment the line is in the outbox (it may be in flight to Telegram).
        bot = start_bot(tmp_path, env)
        procs.append(bot)

        def enqueued() -> bool:
            return sum((asyncio.run(outbox_status(db, kind=SUMMARY_KIND))).values()) > 0

        await asyncio.to_thread(wait_until, enqueued, 90, "the job's line", (bot,))
        bot.kill9()
        in_flight = (await outbox_status(db, kind=SUMMARY_KIND))[OutboxStatus.SENDING]
        # 3. a clean run: the line goes out; later ticks add nothing.
        bot = start_bot(tmp_path, env)
        procs.append(bot)
        await asyncio.to_thread(wait_until, lambda: any(m["chat_id"] == OFFICE for m in sent_texts(api)), 90,
                                "the office line", (bot,))
        await asyncio.sleep(5)  # two more ticks
        bot.stop()
        lines = [m for m in sent_texts(api) if m["chat_id"] == OFFICE]
        print(f"\nkill -9 during the job: {len(lines)} office line(s), {in_flight} in flight at the kill")
        assert 1 <= len(lines) <= 1 + in_flight, lines
        assert "3" in lines[0]["text"]
        # The job's output exists once (its dedup key), whatever moment the kills hit.
        status = await outbox_status(db, kind=SUMMARY_KIND)
        assert sum(status.values()) == 1 and not status[OutboxStatus.FAILED], status


