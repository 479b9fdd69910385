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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import Update, User
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.db import create_engine, session_factory
from bot.services.operations import SUMMARY_KIND, outbox_failure_summary
from bot.services.outbox import Outbox
from models import OutboxItem, OutboxStatus
from tests.conftest import ROOT, TOKEN, BotHarness, unique_id
from tests.e2e.test_authz_matrix import FakeMonotonic, capture_crashes, fake_throttle_time
from tests.telegram import FakeTelegram, Updates

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
    """The daily digest and the daily failure line are due when the bot starts; kill -9 it during start-up
    (the first tick), again the moment the jobs' output is in the outbox, start it once more: the office
    gets the digest and the line once each (a repeat only of what was in flight at the kill)."""
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

            community = (await s.execute(select(Community))).scalar_one()
            s.add_all([OutboxItem(dedup_key=f"old:{i}", kind="test", chat_id=800 + i, community_id=community.id,
                                  payload={"method": "message", "text": "x"}, status=OutboxStatus.FAILED,
                                  last_error="Forbidden: bot was blocked by the user", not_before=yesterday,
                                  created_at=yesterday) for i in range(3)])
            # The community has been there since before this morning's digest time (08:00; it is about
            # noon there now): today's daily digest is due as well.
            community.created_at = datetime.now(UTC) - timedelta(hours=6)
            await s.commit()
        await engine.dispose()
        kinds = (SUMMARY_KIND, "digest_daily")

        async def office_rows() -> list[tuple[str, str, dict[str, Any]]]:
            engine = create_engine(db)
            try:
                async with session_factory(engine)() as s:
                    rows = (await s.execute(select(OutboxItem.kind, OutboxItem.status, OutboxItem.payload).where(
                        OutboxItem.kind.in_(kinds)))).all()
                    return [(k, st, p) for k, st, p in rows]
            finally:
                await engine.dispose()

        # 1. killed as the first tick starts (right after getMe), before the jobs can commit anything.
        bot = start_bot(tmp_path, env)
        procs.append(bot)
        await asyncio.to_thread(wait_until, lambda: control(api, "stats")["methods"].get("getMe", 0) >= 1, 90,
                                "start-up", (bot,))
        bot.kill9()
        # 2. killed the moment the first of them is in the outbox (it may be in flight to Telegram).
        bot = start_bot(tmp_path, env)
        procs.append(bot)
        # The killed instance may hold the tick lease: the new one waits for it to run out (60 s) first.
        await asyncio.to_thread(wait_until, lambda: bool(asyncio.run(office_rows())), 180, "the jobs' output",
                                (bot,))
        bot.kill9()
        in_flight = sum(1 for _k, status, _p in await office_rows() if status == OutboxStatus.SENDING)
        # 3. a clean run: everything goes out; later ticks add nothing.

        def all_sent() -> bool:
            rows = asyncio.run(office_rows())
            return {k for k, _s, _p in rows} == set(kinds) and all(s == OutboxStatus.SENT for _k, s, _p in rows)

        bot = start_bot(tmp_path, env)
        procs.append(bot)
        await asyncio.to_thread(wait_until, all_sent, 180, "the digest and the line", (bot,))
        await asyncio.sleep(5)  # two more ticks
        bot.stop()
        rows = await office_rows()
        office = Counter(m["text"] for m in sent_texts(api) if m["chat_id"] == OFFICE)
        expected = [p.get("text") or p.get("caption") for _k, _s, p in rows]
        print(f"\nkill -9 during the morning jobs: {Counter(k for k, _s, _p in rows)} outbox item(s), "
              f"{in_flight} in flight at the kill, office got {sum(office.values())} message(s)")
        assert Counter(k for k, _s, _p in rows)[SUMMARY_KIND] == 1
        assert any("3" in (text or "") for text in expected)
        # Each part once; a part that was in flight at the kill may come twice.
        for text in expected:
            assert 1 <= office[text] <= 1 + in_flight, (text, office[text], in_flight)
        assert sum(office.values()) <= len(expected) + in_flight


# ------------------------------------------------------------------ residents filing reports, for real

REPORTED = "Thank you! Your report is"


@dataclass
class Reporter:
    """One resident going through /report; what they did last, so that they can do it again."""

    index: int
    user: User
    started: bool = False
    answered: int = 0  # message_id of the last question of the bot they answered
    again: Callable[[], Update] | None = None  # their last update, made afresh (a person taps again)
    at: float = 0.0  # when they last did something
    retries: int = 0
    confirmations: list[str] = field(default_factory=list)
    filed_unconfirmed: bool = False  # their report is stored, but its confirmation was lost (kill -9)

    @property
    def done(self) -> bool:
        return bool(self.confirmations) or self.filed_unconfirmed


def inline_data(message: dict[str, Any]) -> list[str]:
    markup = (message.get("params") or {}).get("reply_markup")
    if not isinstance(markup, dict):
        return []
    return [str(b["callback_data"]) for row in markup.get("inline_keyboard") or [] for b in row
            if isinstance(b, dict) and "callback_data" in b]


class ReportFlow:
    """Residents filing one report each, the way people do it: each answers the question the bot asked
    them last (read from the Bot API server's record of sent messages), one step at a time — /report,
    a photo or «No photo», a category, their building, a description or Skip, «A new problem» when the
    bot shows a similar report, ✅ Send — until the bot confirms.

    `post(reporter, update)` delivers an update (the Bot API server's queue, or a webhook). With
    `retry_after` set, someone who heard nothing for that long, while the bot is quiet and nothing
    waits to be delivered (`pending()`), taps again once; if that brings nothing either, they look at
    /my (`filed()`: the database) and start over with /report when their report is not there.
    """

    def __init__(self, api: str, http: aiohttp.ClientSession, up: Updates, users: list[User],
                 post: Callable[[Reporter, Update], Awaitable[None]]) -> None:
        self.api = api
        self.http = http
        self.up = up
        self.post = post
        self.people = {u.id: Reporter(i, u) for i, u in enumerate(users)}
        self.seen = 0
        self.posted: list[int] = []  # update ids, in order
        self.active_at = time.monotonic()  # when the bot last wrote to one of them
        self.retry_after: float | None = None
        self.pending: Callable[[], Awaitable[int]] | None = None
        self.filed: Callable[[list[int]], Awaitable[set[int]]] | None = None

    @property
    def confirmed(self) -> int:
        return sum(1 for r in self.people.values() if r.confirmations)

    @property
    def finished(self) -> bool:
        return all(r.done for r in self.people.values())

    async def _do(self, r: Reporter, make: Callable[[], Update]) -> None:
        r.again, r.at = make, time.monotonic()
        update = make()
        self.posted.append(update.update_id)
        await self.post(r, update)

    async def start(self, r: Reporter) -> None:
        r.started = True
        await self._do(r, lambda: self.up.text(r.user, "/report"))

    def _press(self, r: Reporter, message: dict[str, Any], data: str) -> Callable[[], Update]:
        shown = {"message_id": message["message_id"], "date": int(message["time"]),
                 "chat": {"id": r.user.id, "type": "private", "first_name": r.user.first_name},
                 "from": {"id": int(TOKEN.split(":")[0]), "is_bot": True, "first_name": "Test Bot",
                          "username": "test_bot"},
                 "text": message["text"] or "…"}
        return lambda: self.up.callback(r.user, data, message=shown)

    def _answer(self, r: Reporter, message: dict[str, Any]) -> Callable[[], Update] | None:
        data = inline_data(message)

        def first(prefix: str) -> str | None:
            return next((d for d in data if d.startswith(prefix)), None)

        if send := first("rp:send:"):
            return self._press(r, message, send)
        if new := first("rp:new"):
            return self._press(r, message, new)
        if skip := first("rp:skip"):
            if r.index % 4 == 0:
                return self._press(r, message, skip)
            return lambda: self.up.text(r.user, f"Lamp on floor {r.index % 30 + 1} is out since Monday ({r.index})")
        if building := first("rp:bld:"):
            return self._press(r, message, building)
        kinds = [d for d in data if d.startswith("rp:cat:")]
        if kinds:
            return self._press(r, message, kinds[r.index % len(kinds)])
        if no_photo := first("rp:nophoto"):
            if r.index % 2:
                return lambda: self.up.photo(r.user)
            return self._press(r, message, no_photo)
        return None

    async def poll(self) -> None:
        async with self.http.get(f"{self.api}/_control/sent", params={"since": str(self.seen)}) as response:
            new = await response.json()
        self.seen += len(new)
        questions: dict[int, dict[str, Any]] = {}
        for message in new:
            r = self.people.get(message["chat_id"])
            if r is None:
                continue
            self.active_at = time.monotonic()
            if REPORTED in (message["text"] or ""):
                r.confirmations.append(message["text"])
            elif any(d.startswith("rp:") for d in inline_data(message)):
                questions[r.user.id] = message  # the latest question counts
        for chat, message in questions.items():
            r = self.people[chat]
            if r.done or message["message_id"] <= r.answered:
                continue
            make = self._answer(r, message)
            if make is not None:
                r.answered = message["message_id"]
                await self._do(r, make)

    async def _retry(self) -> None:
        if self.retry_after is None or self.pending is None or self.filed is None:
            return
        now = time.monotonic()
        stalled = [r for r in self.people.values()
                   if r.started and not r.done and r.again is not None and now - r.at > self.retry_after]
        # Only once the bot is quiet (nothing for them in 3 s, nothing waiting): slow is not lost.
        if not stalled or now - self.active_at < 3 or await self.pending():
            return
        filed = await self.filed([r.user.id for r in stalled if r.retries])
        for r in stalled:
            r.retries += 1
            assert r.retries <= 4, f"{r.user.id} is stuck"
            if r.retries == 1:
                await self._do(r, r.again)  # type: ignore[arg-type]
            elif r.user.id in filed:
                r.filed_unconfirmed = True
            else:
                await self.start(r)

    async def run(self, until: Callable[[], bool], within: float, procs: tuple[Proc, ...] = (),
                  stagger: float = 0.0) -> None:
        """Start people `stagger` seconds apart and answer the bot until `until()`."""
        began = time.monotonic()
        waiting = [r for r in self.people.values() if not r.started]
        while not until():
            now = time.monotonic()
            assert now - began < within, f"timed out: {self.confirmed} of {len(self.people)} confirmed\n" + \
                "\n".join(p.output()[-2000:] for p in procs)
            for p in procs:
                assert p.alive(), p.output()[-3000:]
            while waiting and (not stagger or now - began >= waiting[0].index * stagger):
                await self.start(waiting.pop(0))
            await self.poll()
            await self._retry()
            await asyncio.sleep(0.1)


async def make_residents(database_url: str, users: list[User], building: str = "b1") -> None:
    """Residents of a building, directly in the database (as if they had joined by invite earlier)."""
    from bot.clock import system_clock
    from bot.services.members import MembersService, TelegramPerson
    from models import Building

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            members = MembersService(s, system_clock)
            b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
            place = await members.building_place(b.id)
            for u in users:
                member = await members.touch(TelegramPerson(id=u.id, first_name=u.first_name,
                                                            language_code=u.language_code))
                member.started = True
                await members.grant(member, "resident", place, source="invite")
            await s.commit()
    finally:
        await engine.dispose()


async def reports_by_person(database_url: str, telegram_ids: list[int]) -> dict[int, list[str]]:
    """Telegram id → the references of the issues they reported."""
    from models import Issue, Member

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            rows = (await s.execute(select(Member.telegram_id, Issue.reference).join(
                Issue, Issue.reporter_id == Member.id).where(Member.telegram_id.in_(telegram_ids)))).all()
    finally:
        await engine.dispose()
    out: dict[int, list[str]] = {}
    for telegram_id, reference in rows:
        out.setdefault(int(telegram_id), []).append(str(reference))
    return out


async def processed_updates(database_url: str) -> set[int]:
    from models import ProcessedUpdate

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            return set((await s.execute(select(ProcessedUpdate.update_id))).scalars())
    finally:
        await engine.dispose()


def check_reports(flow: ReportFlow, stored: dict[int, list[str]]) -> None:
    """Everyone has exactly one report; every confirmation names it; nobody was confirmed twice."""
    twice = {uid: refs for uid, refs in stored.items() if len(refs) > 1}
    assert not twice, f"{len(twice)} people have two or more reports: {list(twice.items())[:5]}"
    missing = [uid for uid in flow.people if uid not in stored]
    assert not missing, f"{len(missing)} people have no report: {missing[:5]}"
    for uid, r in flow.people.items():
        assert len(r.confirmations) <= 1, (uid, r.confirmations)
        if r.confirmations:
            assert f"#{stored[uid][0]}" in r.confirmations[0], (uid, stored[uid], r.confirmations)


async def test_kill9_during_two_hundred_report_submissions(tmp_path: Path) -> None:
    """kill -9 of the bot while 200 residents file reports at once: after a restart every report that got
    its confirmation is there, once; updates the killed bot had not acknowledged are delivered again and
    processed once; and everyone ends up with exactly one report."""
    stub, api = start_stub(tmp_path)
    with cleanup(stub) as procs:
        db = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        env = bot_env(db, api)
        await asyncio.to_thread(run_cli, env, "import", str(ROOT / "tests" / "data" / "structure.yaml"))
        up = Updates(FakeTelegram(), first_update_id=1_000)
        users = [up.user(720_000_000 + i, f"R{i}", "en") for i in range(200)]
        await make_residents(db, users)
        bot = start_bot(tmp_path, env)
        procs.append(bot)

        async with aiohttp.ClientSession() as http:

            async def queue(_r: Reporter, update: Update) -> None:
                async with http.post(f"{api}/_control/updates", json=update.model_dump(
                        mode="json", by_alias=True, exclude_none=True)) as response:
                    assert response.status == 200

            async def pending() -> int:
                async with http.get(f"{api}/_control/updates") as response:
                    return len(await response.json())

            async def filed(telegram_ids: list[int]) -> set[int]:
                return set(await reports_by_person(db, telegram_ids))

            flow = ReportFlow(api, http, up, users, queue)
            flow.pending, flow.filed = pending, filed
            # 1. People start 0.1 s apart; kill -9 once about a quarter have their confirmation.
            await flow.run(lambda: flow.confirmed >= 50, 120, (bot,), stagger=0.1)
            bot.kill9()
            await flow.poll()  # everything the killed bot sent
            confirmed_before = {uid for uid, r in flow.people.items() if r.confirmations}
            posted_before = list(flow.posted)
            redelivered = await pending()
            # 2. Restarted: it gets what the killed one had not acknowledged; the rest carry on.
            bot = start_bot(tmp_path, env)
            procs.append(bot)
            flow.retry_after = 8.0
            await flow.run(lambda: flow.finished, 120, (bot,), stagger=0.1)
            await asyncio.sleep(1)
            await flow.poll()
            bot.stop()
        stored = await reports_by_person(db, [u.id for u in users])
        processed = await processed_updates(db)
        skipped = bot.output().count("already processed; skipped")
        # Taken by the killed bot but never processed (the next getUpdates would have acknowledged them).
        lost = [u for u in posted_before if u not in processed]
        retried = sum(1 for r in flow.people.values() if r.retries)
        unconfirmed = sum(1 for r in flow.people.values() if r.filed_unconfirmed)
        print(f"\nkill -9 after {len(confirmed_before)} of 200 confirmations: {redelivered} update(s) re-delivered "
              f"({skipped} already processed, skipped); {len(lost)} taken but lost with the process, so "
              f"{retried} person(s) tapped again; {unconfirmed} report(s) stored without a confirmation; "
              f"{len(flow.posted)} updates in all")
        # Polling confirms a batch only once it was handled (bot/polling.py): nothing is lost with the process.
        assert lost == [] and set(flow.posted) <= processed
        assert 0 < len(confirmed_before) < 200
        for uid in confirmed_before:
            assert len(stored.get(uid, [])) == 1, (uid, stored.get(uid))
        check_reports(flow, stored)
        assert "Traceback" not in bot.output(), bot.output()[-3000:]
