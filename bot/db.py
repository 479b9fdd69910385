"""Engine and session factory: SQLite tuned for a bot (WAL, busy timeout, write lock up front), or
PostgreSQL through asyncpg with the same code."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_SECONDS = 30


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it: it holds
    residents' names and chat ids. SQLite gives its -wal and -shm files the database file's mode, and
    an empty file is a valid empty database. An existing file keeps the mode the operator gave it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            create_private(path)
        if parsed.drivername == "sqlite+aiosqlite":
            from bot.sqlite_driver import dbapi

            kwargs.setdefault("module", dbapi())  # see bot/sqlite_driver.py
            # The lock holder's statements run on the event loop's thread, the rest on aiosqlite's; never
            # both at once (each connection's calls are awaited one after the other).
            connect_args: dict[str, Any] = {"check_same_thread": False}
        else:
            connect_args = {}
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "isolation_level": None, **connect_args}, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Plain BEGIN upgrades to a write lock mid-transaction and fails at once with "database is
        # locked" under concurrency; take the lock up front and let busy_timeout queue writers.
        # Read-only sessions (exports, digests) begin deferred so they never block writers.
        if conn.get_execution_options().get("sqlite_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for long reads (exports, digests): on SQLite they do not take the write lock."""
    return async_sessionmaker(
        engine.execution_options(sqlite_readonly=True), expire_on_commit=False, autoflush=False)


# The session of the update being handled. Two things use it: the FSM storage (state changes join
# the update's transaction) and the bot's request middleware, which commits it before any call to
# Telegram so that a confirmation is only ever shown after its data is committed, and so that the
# SQLite write lock is never held across a network round trip.
current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)
