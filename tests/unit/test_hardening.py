"""Operations: online backup, structured logs with the update id, the daily failure line to the office,
and per-user throttling."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from bot.jobs import JobContext
from bot.logging import ContextFilter, JsonFormatter, PlainFormatter, UpdateContext, update_context
from bot.services.operations import (
    SUMMARY_KIND,
    OperationsService,
    backup_sqlite,
    cmd_backup,
    failure_reason,
    outbox_failure_summary,
    pg_dump_command,
)
from models import Base, Community, Member, OutboxItem, OutboxStatus
from tests.conftest import ROOT, TOKEN, BotHarness, import_structure, unique_id

OFFICE = -1001000000001

# ------------------------------------------------------------------------------------------ backup


async def _sqlite_with_structure(path: Path, clock: FrozenClock) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await import_structure(session_factory(engine), clock)
    await engine.dispose()


def _count(path: Path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


async def test_backup_copies_a_live_database_that_opens_with_its_rows(tmp_path: Path, clock: FrozenClock) -> None:
    db = tmp_path / "bot.sqlite3"
    await _sqlite_with_structure(db, clock)
    # The bot keeps a connection open (WAL with uncheckpointed pages) while the backup runs.
    live = sqlite3.connect(db)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("INSERT INTO members (telegram_id, first_name, prefs, started, created_at) "
                 "VALUES (777, 'Late', '{}', 0, '2026-11-20 01:00:00')")
    live.commit()
    out = tmp_path / "backups" / "copy.sqlite3"
    settings = Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}", _env_file=None)  # type: ignore[call-arg]
    # The command line is synchronous (it runs its own event loop); call it as main.py would.
    assert await asyncio.to_thread(cmd_backup, argparse.Namespace(out=str(out)), settings) == 0
    live.close()
    assert out.is_file() and not out.with_name(out.name + ".partial").exists()
    assert _count(out, "communities") == 1
    assert _count(out, "members") == _count(db, "members")
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT first_name FROM members WHERE telegram_id = 777").fetchone()[0] == "Late"
    con.close()
    # The copy is a working database for the bot (restore = put it back as DATABASE_URL).
    engine = create_engine(f"sqlite+aiosqlite:///{out}")
    async with session_factory(engine)() as s:
        assert (await s.execute(select(Community.code))).scalar_one() == "NC"
    await engine.dispose()


async def test_backup_is_readable_by_its_owner_only(tmp_path: Path, clock: FrozenClock) -> None:
    """A backup holds every resident's name and chat id: 0600 from its first byte, whatever the umask."""
    db = tmp_path / "bot.sqlite3"
    await _sqlite_with_structure(db, clock)
    assert db.stat().st_mode & 0o777 == 0o600  # the database file itself, created by the engine
    out = tmp_path / "copy.sqlite3"
    settings = Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}", _env_file=None)  # type: ignore[call-arg]
    old = os.umask(0o022)
    try:
        assert await asyncio.to_thread(cmd_backup, argparse.Namespace(out=str(out)), settings) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o600


def test_backup_explains_missing_database_and_postgres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path / 'nope.sqlite3'}",
                       _env_file=None)  # type: ignore[call-arg]
    assert cmd_backup(argparse.Namespace(out=str(tmp_path / "x.sqlite3")), missing) == 1
    assert "does not exist" in capsys.readouterr().err
    pg = Settings(bot_token=TOKEN, database_url="postgresql+asyncpg://bot:secret@db.local:5432/bot",
                  _env_file=None)  # type: ignore[call-arg]
    assert cmd_backup(argparse.Namespace(out="bot.dump"), pg) == 2
    err = capsys.readouterr().err
    assert "pg_dump --format=custom --file=bot.dump --host=db.local --port=5432 --username=bot bot" in err
    assert "secret" not in err
    expected = "pg_dump --format=custom --file=f --host=h --username=u d"
    assert pg_dump_command("postgresql+asyncpg://u@h/d", "f") == expected


def test_backup_refuses_to_overwrite_the_database(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    sqlite3.connect(db).close()
    settings = Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}", _env_file=None)  # type: ignore[call-arg]
    assert cmd_backup(argparse.Namespace(out=str(db)), settings) == 2


async def test_backup_command_line(tmp_path: Path, clock: FrozenClock) -> None:
    db = tmp_path / "bot.sqlite3"
    await _sqlite_with_structure(db, clock)
    out = tmp_path / "b.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "BOT_TOKEN": TOKEN}
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "main.py", "backup", "--out", str(out)],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "written to" in proc.stdout
    assert _count(out, "buildings") == 3
    help_text = (await asyncio.to_thread(subprocess.run, [sys.executable, "main.py", "--help"], cwd=ROOT, env=env,
                                         capture_output=True, text=True, timeout=60)).stdout
    assert "backup" in help_text


def test_backup_sqlite_in_steps(tmp_path: Path) -> None:
    src = tmp_path / "a.sqlite3"
    con = sqlite3.connect(src)
    con.execute("CREATE TABLE t (x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("y" * 500,) for _ in range(2000)])
    con.commit()
    con.close()
    size = backup_sqlite(src, tmp_path / "b.sqlite3", pages_per_step=5)
    assert size > 1_000_000 and _count(tmp_path / "b.sqlite3", "t") == 2000


# ------------------------------------------------------------------------------------------ logs


def _record(msg: str = "hello", exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("bot.test", logging.ERROR, __file__, 1, msg, None, exc_info)
    ContextFilter().filter(record)
    return record


def test_json_lines_carry_the_update_context() -> None:
    token = update_context.set(UpdateContext(update_id=42, user_id=5001, chat_id=-100))
    try:
        line = JsonFormatter().format(_record("saved #NC0001 — 已受理", exc=True))
    finally:
        update_context.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["update_id"] == 42 and entry["user_id"] == 5001 and entry["chat_id"] == -100
    assert entry["level"] == "ERROR" and entry["logger"] == "bot.test"
    assert entry["message"] == "saved #NC0001 — 已受理"
    assert "ValueError: boom" in entry["exc"]
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    outside = json.loads(JsonFormatter().format(_record()))
    assert outside["update_id"] is None and outside["user_id"] is None


def test_plain_lines_name_the_update() -> None:
    token = update_context.set(UpdateContext(update_id=7, user_id=1, chat_id=1))
    try:
        line = PlainFormatter().format(_record("x"))
    finally:
        update_context.reset(token)
    assert line.endswith("bot.test: x [u=7 user=1 chat=1]")
    assert "[u=" not in PlainFormatter().format(_record("y"))


def test_setup_logging_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.logging import setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        setup_logging("INFO", json_lines=True, stream=stream)
        setup_logging("INFO", json_lines=True, stream=stream)  # idempotent: one handler
        logging.getLogger("bot.x").info("one line")
        assert len([h for h in root.handlers if getattr(h, "_bot_handler", False)]) == 1
    finally:
        for h in list(root.handlers):
            if getattr(h, "_bot_handler", False):
                root.removeHandler(h)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "one line"


async def test_records_made_while_handling_an_update_carry_its_id(harness: BotHarness, community: Any) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot.middlewares.db")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    uid = unique_id()
    try:
        update = harness.up.text(harness.up.user(uid, "Ann"), "/help")
        await harness.feed(update)
        await harness.feed(update)  # a webhook retry: skipped, and logged with the update's id
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    skipped = [e for e in entries if "already processed" in e["message"]]
    assert skipped and skipped[0]["update_id"] == update.update_id
    assert skipped[0]["user_id"] == uid and skipped[0]["chat_id"] == uid
    assert len(harness.tg.texts(uid)) == 1


# ------------------------------------------------------------------------------- failure summary


async def _failed(session: AsyncSession, key: str, chat_id: int, error: str, due: datetime, *,
                  community_id: int | None = None, member_id: int | None = None,
                  status: str = OutboxStatus.FAILED) -> None:
    session.add(OutboxItem(dedup_key=key, kind="test", chat_id=chat_id, payload={"method": "message", "text": "x"},
                           status=status, not_before=due, created_at=due, last_error=error,
                           community_id=community_id, member_id=member_id))


async def _member_id(session: AsyncSession, telegram_id: int) -> int:
    return int((await session.execute(select(Member.id).where(Member.telegram_id == telegram_id))).scalar_one())


async def test_daily_failure_line_reaches_the_office_once(harness: BotHarness, community: Any,
                                                          sessions: async_sessionmaker[AsyncSession],
                                                          clock: FrozenClock) -> None:
    # Thursday 19 Nov (local, Asia/Shanghai) had failures; Friday 20 Nov 09:00 is "today".
    yesterday = datetime(2026, 11, 19, 4, 0, tzinfo=UTC)
    async with sessions() as s:
        captain = await _member_id(s, 3001)
        volunteer = await _member_id(s, 4001)
        await _failed(s, "a", 3001, "Forbidden: bot was blocked by the user", yesterday, member_id=captain)
        await _failed(s, "b", 4001, "Forbidden: bot was blocked by the user", yesterday, member_id=volunteer)
        await _failed(s, "c", -1001000000011, "Bad Request: chat not found", yesterday, community_id=community.id)
        # Not counted: the day before, still pending, another community's, sent.
        await _failed(s, "d", 3001, "Forbidden: bot was blocked by the user", yesterday - timedelta(days=1),
                      member_id=captain)
        await _failed(s, "e", 3002, "429", yesterday, member_id=captain, status=OutboxStatus.PENDING)
        await _failed(s, "f", 99, "Forbidden: bot was blocked by the user", yesterday, community_id=community.id + 999)
        await s.commit()
    ctx = JobContext(sessions, clock, harness.dp["settings"], harness.bot)
    clock.set(datetime(2026, 11, 19, 23, 30, tzinfo=UTC))  # 07:30 local: too early, nothing yet
    async with sessions() as s:
        await outbox_failure_summary(s, ctx)
        await s.commit()
        assert not (await s.execute(select(OutboxItem).where(OutboxItem.kind == SUMMARY_KIND))).first()
    clock.set(datetime(2026, 11, 20, 1, 0, tzinfo=UTC))  # 09:00 local
    for _ in range(3):  # every tick of the day: enqueued once
        async with sessions() as s:
            await outbox_failure_summary(s, ctx)
            await s.commit()
    async with sessions() as s:
        items = (await s.execute(select(OutboxItem).where(OutboxItem.kind == SUMMARY_KIND))).scalars().all()
    assert len(items) == 1 and items[0].chat_id == OFFICE
    harness.tg.add_chat(OFFICE, type="supergroup", title="Office")
    await harness.deliver()
    texts = harness.tg.texts(OFFICE)
    assert texts == ["📮 昨天有3条消息未能送达：2人屏蔽了机器人，1个聊天不存在。"]
    # The next morning there is nothing new to say: no line.
    clock.set(datetime(2026, 11, 21, 1, 0, tzinfo=UTC))
    async with sessions() as s:
        await outbox_failure_summary(s, ctx)
        await s.commit()
        assert (await s.execute(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == SUMMARY_KIND))).scalar_one() == 1


async def test_failure_line_in_english(session: AsyncSession, riverside: Any, clock: FrozenClock) -> None:
    # Riverside is on London time: "yesterday" is its own local day.
    day = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
    await _failed(session, "r1", 5, "Forbidden: user is deactivated", day, community_id=riverside.id)
    await _failed(session, "r2", -5, "Forbidden: bot was kicked from the supergroup chat", day,
                  community_id=riverside.id)
    await _failed(session, "r3", 6, "Bad Request: can't parse entities", day, community_id=riverside.id)
    await _failed(session, "r4", 7, "Forbidden: bot was blocked by the user", day, community_id=riverside.id)
    await session.flush()
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    community = await session.get(Community, riverside.id)
    assert community is not None
    assert await OperationsService(session, clock).report_failures(community)
    assert not await OperationsService(session, clock).report_failures(community)
    item = (await session.execute(select(OutboxItem).where(OutboxItem.kind == SUMMARY_KIND))).scalar_one()
    assert item.chat_id == -1002000000001
    assert item.payload["text"] == ("📮 4 messages could not be delivered yesterday: 1 person blocked the bot, "
                                    "1 account was deleted, 1 group removed the bot, 1 refused by Telegram.")


def test_failure_reasons() -> None:
    assert failure_reason("Forbidden: bot was blocked by the user") == "blocked"
    assert failure_reason("Bad Request: chat not found") == "not_found"
    assert failure_reason("Forbidden: bot was kicked from the group chat") == "kicked"
    assert failure_reason("Forbidden: user is deactivated") == "deactivated"
    assert failure_reason(None) == "other"


# ------------------------------------------------------------------------------------ throttling


class _FakeTime:
    """Monotonic time the test moves by hand, so "50 messages a second" is exact and no test sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


async def test_flooding_user_is_slowed_down_others_are_not(harness: BotHarness, community: Any) -> None:
    from tests.e2e.test_authz_matrix import fake_throttle_time

    fake = _FakeTime()
    with fake_throttle_time(harness.dp, fake):
        await _flood(harness, fake)


async def _flood(harness: BotHarness, fake: _FakeTime) -> None:
    flood_id, calm_id = unique_id(), unique_id()
    flooder = harness.up.user(flood_id, "Flo")
    calm = harness.up.user(calm_id, "Cal")
    for i in range(50):  # 50 messages in one second, while the other person asks for help twice
        await harness.feed(harness.up.text(flooder, "/help"))
        if i in (10, 40):
            await harness.feed(harness.up.text(calm, "/help"))
        fake.now += 0.02
    flood_texts = harness.tg.texts(flood_id)
    notices = [t for t in flood_texts if "very fast" in t]
    answers = [t for t in flood_texts if "What I can do" in t]
    assert len(notices) == 1
    assert 10 <= len(answers) <= 15, len(answers)  # the burst, then about 3 a second; the rest dropped
    calm_texts = harness.tg.texts(calm_id)
    assert len(calm_texts) == 2 and all("What I can do" in t for t in calm_texts)
    # After a pause the flooder is answered normally again.
    fake.now += 5
    await harness.feed(harness.up.text(flooder, "/help"))
    assert "What I can do" in harness.tg.texts(flood_id)[-1]
    assert not harness.tg.errors()
