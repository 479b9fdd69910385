"""bot/sqlite_driver.py: one trip to aiosqlite's thread per statement, the write-lock holder's statements on
the event loop's thread, and the waits that must never stall the loop still on the driver's thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.db import create_engine, read_session_factory, session_factory


async def make(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.sqlite3'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    return engine


async def test_writes_run_on_the_loop_thread_reads_on_the_drivers(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import sqlite_driver

    engine = await make(tmp_path)
    ran: list[tuple[str, bool]] = []
    original = sqlite_driver._run

    def spy(raw, operation, parameters, many):  # type: ignore[no-untyped-def]
        ran.append((operation.split()[0], threading.current_thread() is threading.main_thread()))
        return original(raw, operation, parameters, many)

    monkeypatch.setattr(sqlite_driver, "_run", spy)
    async with session_factory(engine)() as s:
        await s.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
        await s.commit()
    async with read_session_factory(engine)() as s:
        assert (await s.execute(text("SELECT v FROM t"))).scalar_one() == "a"
    # BEGIN IMMEDIATE may wait for the lock: the driver's thread. Under the lock: the loop's thread.
    # A read-only transaction (plain BEGIN) may be long: the driver's thread throughout.
    assert ran == [("BEGIN", False), ("INSERT", True), ("SELECT", True), ("BEGIN", False), ("SELECT", False)]
    await engine.dispose()


async def test_waiting_for_the_write_lock_never_stalls_the_loop(tmp_path: Path) -> None:
    engine = await make(tmp_path)
    sessions = session_factory(engine)
    holder = sessions()
    await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))  # holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())

    async def second() -> None:
        async with sessions() as s:
            await s.execute(text("INSERT INTO t (v) VALUES ('second')"))  # BEGIN IMMEDIATE waits here
            await s.commit()

    waiter = asyncio.create_task(second())
    await asyncio.sleep(0.5)
    assert not waiter.done()
    assert ticks >= 10  # the loop kept running while the second connection waited for the lock
    await holder.commit()
    await holder.close()
    await asyncio.wait_for(waiter, 10)
    ticker.cancel()
    async with sessions() as s:
        assert (await s.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == ["first", "second"]
    await engine.dispose()


async def test_an_error_under_the_lock_rolls_back_and_the_connection_lives_on(tmp_path: Path) -> None:
    engine = await make(tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s:
        await s.execute(text("INSERT INTO t (id, v) VALUES (1, 'a')"))
        with pytest.raises(IntegrityError):
            await s.execute(text("INSERT INTO t (id, v) VALUES (1, 'b')"))
        await s.rollback()
        await s.execute(text("INSERT INTO t (id, v) VALUES (2, 'c')"))
        await s.commit()
    async with sessions() as s:
        assert (await s.execute(text("SELECT id FROM t"))).scalars().all() == [2]
    await engine.dispose()
