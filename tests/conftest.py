"""Shared fixtures: a real database per test (SQLite file; PostgreSQL too when reachable), a frozen
clock, the Bot API test double, a dispatcher built once per session, and the sample community."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import i18n
from bot.clock import FrozenClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from bot.sender import OutboxSender
from models import Base
from tests.telegram import FakeTelegram, Updates

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TOKEN = "123456:TEST-token"
ADMIN_ID = 9000
# Friday 2026-11-20 09:00 in Shanghai.
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
# Background jobs' files: one folder per test run, so two runs on one machine never share a job-1.
JOBS_FOLDER = Path(tempfile.mkdtemp(prefix="bot-test-jobs-"))


def pytest_configure(config: pytest.Config) -> None:
    i18n.compile_all()
    if os.environ.get("REQUIRE_SERVICES") == "1" and not (POSTGRES_URL and REDIS_URL):
        raise pytest.UsageError("REQUIRE_SERVICES=1 but TEST_POSTGRES_URL/TEST_REDIS_URL are not set")


def pytest_report_header(config: pytest.Config) -> str:
    engines = ", ".join(BACKENDS) + (", redis" if REDIS_URL else "")
    missing = "" if POSTGRES_URL and REDIS_URL else " (PostgreSQL/Redis not tested here)"
    return f"database backends: {engines}{missing}"


_pg_engine: AsyncEngine | None = None


async def _postgres_engine() -> AsyncEngine:
    global _pg_engine
    if _pg_engine is None:
        assert POSTGRES_URL
        _pg_engine = create_engine(POSTGRES_URL)
        async with _pg_engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
    return _pg_engine


async def _truncate(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgres":
        eng = await _postgres_engine()
        await _truncate(eng)
        yield eng
        return
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}")
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(bot_token=TOKEN, database_url="sqlite+aiosqlite:///unused.sqlite3", admin_ids=[ADMIN_ID],
                    _env_file=None)  # type: ignore[call-arg]


async def import_structure(sessions: async_sessionmaker[AsyncSession], clock: Any, name: str = "structure.yaml"
                           ) -> Any:
    from bot.services.structure import StructureService

    async with sessions() as s:
        report = await StructureService(s, clock).import_text((DATA / name).read_text(encoding="utf-8"))
        await s.commit()
        return report.community


@pytest.fixture
async def community(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> Any:
    return await import_structure(sessions, clock)


@pytest.fixture
async def riverside(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> Any:
    return await import_structure(sessions, clock, "riverside.yaml")


# ---------------------------------------------------------------------------------- Telegram side


@dataclass
class BotHarness:
    """Everything an end-to-end test needs: feed updates, read what users saw, deliver the outbox."""

    dp: Dispatcher
    bot: Bot
    tg: FakeTelegram
    up: Updates
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock

    transcript: list[str] | None = None
    names: dict[int, str] | None = None
    _seen: int = 0

    async def feed(self, *updates: Any) -> None:
        for update in updates:
            if self.transcript is not None:
                self._log_update(update)
            await self.dp.feed_update(self.bot, update)
            if self.transcript is not None:
                self._log_calls()

    # ---- transcripts: a readable record of a conversation, kept in tests/transcripts/

    def record(self, names: dict[int, str]) -> None:
        """Start a transcript; `names` maps chat/user ids to who they are ("Ann (resident)")."""
        self.transcript, self.names, self._seen = [], names, len(self.tg.calls)

    def note(self, line: str) -> None:
        if self.transcript is not None:
            self._log_calls()
            self.transcript.append(f"\n_{line}_\n")

    def _who(self, chat_id: Any) -> str:
        return (self.names or {}).get(int(chat_id), str(chat_id)) if chat_id is not None else "?"

    def _button_text(self, data: str) -> str:
        for call in reversed(self.tg.calls):
            markup = call.params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for b in row:
                    if b.get("callback_data") == data:
                        return str(b.get("text"))
        return data

    def _log_update(self, update: Any) -> None:
        assert self.transcript is not None
        if update.message is not None:
            m = update.message
            who = self._who(m.from_user.id if m.from_user else m.chat.id)
            where = "" if m.chat.type == "private" else f" in {self._who(m.chat.id)}"
            if m.text:
                what = m.text
            elif m.photo:
                what = "[photo]" + (f" {m.caption}" if m.caption else "")
            elif m.location:
                what = f"[location {m.location.latitude:.4f}, {m.location.longitude:.4f}]"
            else:
                what = f"[{m.content_type}]"
            self.transcript.append(f"**{who}**{where}: {what}")
        elif update.callback_query is not None:
            q = update.callback_query
            self.transcript.append(f"**{self._who(q.from_user.id)}** taps [{self._button_text(q.data or '')}]")
        elif update.my_chat_member is not None:
            self.transcript.append(f"_the bot is added to {self._who(update.my_chat_member.chat.id)}_")

    def _log_calls(self) -> None:
        assert self.transcript is not None
        for call in self.tg.calls[self._seen:]:
            if call.error or not (call.method.startswith("send") or call.method.startswith("edit")
                                  or call.method == "answerCallbackQuery"):
                continue
            if call.method == "answerCallbackQuery":
                if call.params.get("text"):
                    self.transcript.append(f"> 🤖 (alert) {call.params['text']}")
                continue
            verb = "edits" if call.method.startswith("edit") else "→"
            body = (call.params.get("text") or call.params.get("caption") or "").strip()
            media = " [photo]" if call.method == "sendPhoto" else " [album]" if call.method == "sendMediaGroup" \
                else " [file]" if call.method == "sendDocument" else ""
            lines = [f"> 🤖 {verb} {self._who(call.chat_id)}{media}:"]
            lines += [f"> {line}" for line in body.splitlines()] or ["> "]
            markup = call.params.get("reply_markup") or {}
            rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
            for row in rows:
                lines.append("> " + " ".join(f"[{b.get('text')}]" for b in row))
            self.transcript.append("\n".join(lines))
        self._seen = len(self.tg.calls)

    def save_transcript(self, name: str, title: str) -> Path:
        assert self.transcript is not None
        self._log_calls()
        path = ROOT / "tests" / "transcripts" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {title}\n\n" + "\n\n".join(self.transcript) + "\n", encoding="utf-8")
        return path

    async def deliver(self) -> OutboxSender:
        """Send everything due in the outbox now (no pacing: time is frozen in tests)."""
        sender = OutboxSender(self.bot, self.sessions, rate=10_000, clock=self.clock,
                              private_interval=0, group_interval=0)
        await sender.drain()
        return sender

    def document(self, chat: int, index: int = -1) -> tuple[str, bytes, str]:
        """(file name, bytes, caption) of a document sent to `chat`. Background jobs send files from disk
        and delete them once sent, so the bytes are what the Bot API double received."""
        call = self.tg.sent(chat, "sendDocument")[index]
        upload = next(iter(call.files.values()))
        data = getattr(upload, "data", None)
        if data is None:
            data = self.tg.file_content(call.result.document.file_id)
        return upload.filename or "", data, call.plain or ""

    async def work(self) -> int:
        """Run every queued background job to the end, as the bot's job worker does (progress edits with
        no pause between them). Returns how many ran."""
        from bot.worker import JobWorker

        worker = JobWorker(self.bot, self.sessions, self.dp["settings"], clock=self.clock, progress_interval=0,
                           folder=JOBS_FOLDER)
        ran = 0
        while await worker.run_once():
            ran += 1
        return ran

    async def tick(self) -> list[str]:
        from bot.jobs import JobContext, Ticker

        return await Ticker(JobContext(self.sessions, self.clock, self.dp["settings"], self.bot)).tick()


_dispatcher: Dispatcher | None = None


def _shared_dispatcher(settings: Settings, sessions: async_sessionmaker[AsyncSession],
                       clock: FrozenClock) -> Dispatcher:
    """One dispatcher per test session (routers attach once); each test points it at its own DB."""
    global _dispatcher
    from bot.app import create_dispatcher
    from bot.fsm_storage import SqlStorage

    if _dispatcher is None:
        _dispatcher = create_dispatcher(settings, sessions, clock=clock, storage=SqlStorage(sessions))
        _dispatcher["settings"] = settings
    mw = _dispatcher["db_middleware"]
    mw.sessions, mw.clock = sessions, clock
    storage = _dispatcher.storage
    if isinstance(storage, SqlStorage):
        storage.sessions = sessions
    return _dispatcher


@pytest.fixture
def tg() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def bot(tg: FakeTelegram) -> Iterator[Bot]:
    from bot.app import create_bot

    yield create_bot(Settings(bot_token=TOKEN, _env_file=None), session=tg)  # type: ignore[call-arg]


@pytest.fixture
def harness(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FrozenClock,
            tg: FakeTelegram, bot: Bot) -> BotHarness:
    dp = _shared_dispatcher(settings, sessions, clock)
    return BotHarness(dp, bot, tg, Updates(tg), sessions, clock)


def unique_id() -> int:
    """A fresh Telegram-like user id, so FSM state never leaks between tests."""
    return 10_000_000 + uuid.uuid4().int % 1_000_000_000


class _TestSpeedTime:
    """The throttle's clock during tests: each reading is far after the last, so the per-user bucket is
    always full again. Tests type faster than any person and machines differ in speed; a throttle on real
    time made stories stall on fast machines ("please wait") and pass on slow ones. The throttle itself
    is tested on a clock moved by hand (tests/unit/test_hardening.py, test_throttling.py)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def monotonic(self) -> float:
        self.now += 3_600.0
        return self.now

    def time(self) -> float:
        return self.monotonic()


# One clock for the whole session: the dispatcher and its buckets are shared by every test, so their stamps
# must never lie in this clock's future (a fresh clock per test would start behind them and throttle).
_TEST_SPEED_TIME = _TestSpeedTime()


@pytest.fixture(autouse=True)
def _throttle_at_test_speed(request: pytest.FixtureRequest) -> Iterator[None]:
    import bot.middlewares.throttling as throttling

    if request.node.get_closest_marker("real_throttle_time"):  # the throttle's own tests
        yield
        return

    real = throttling.time
    throttling.time = _TEST_SPEED_TIME  # type: ignore[assignment]
    try:
        yield
    finally:
        throttling.time = real  # type: ignore[assignment]


@pytest.fixture
def fast_presses(harness: BotHarness) -> Iterator[None]:
    """Long stories (a campaign, an inspection) are many presses by the same people within seconds of test
    time: lift the per-user throttle for the test, then put it back (the dispatcher is shared)."""
    from bot.middlewares.throttling import ThrottlingMiddleware

    throttles = [mw for mw in harness.dp.update.outer_middleware if isinstance(mw, ThrottlingMiddleware)]
    saved = [(mw.rate, mw.burst) for mw in throttles]
    for mw in throttles:
        mw.buckets.clear()
        mw.rate, mw.burst = 1e6, 10**6
    yield
    for mw, (rate, burst) in zip(throttles, saved, strict=True):
        mw.rate, mw.burst = rate, burst
        mw.buckets.clear()
