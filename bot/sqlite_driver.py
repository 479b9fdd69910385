"""SQLAlchemy's aiosqlite adapter, with one trip to the driver's thread per statement instead of four.

aiosqlite runs every sqlite3 call on its own thread and hands the result back through the event loop.
SQLAlchemy's adapter makes a separate trip for each DBAPI step of a statement: open a cursor, execute,
fetch the rows, close the cursor. Each trip is a queue hand-off, a thread wake-up, a GIL switch and an
event loop wake-up, and under load they were most of a short statement's cost (the dispatch
benchmark's profile). Here one function runs the four steps on that thread and brings back the
description, the rows and the counts together. The statement still runs on the driver's thread, so a
BEGIN IMMEDIATE waiting for another connection's write lock (busy_timeout) never stalls the event loop.

Once a connection holds SQLite's write lock (its BEGIN IMMEDIATE succeeded on the driver's thread), the
rest of that transaction — the statements and the COMMIT — runs right here on the event loop's thread:
in WAL mode nothing the lock holder does can wait for another connection (readers never block it, the
automatic checkpoint is the passive kind), so there is no wait to keep off the loop, and a handler's
statements are a few dozen microseconds of SQLite against a thread hand-off each that cost far more
(the GIL and the OS scheduler, worst on a loaded machine). Read-only transactions (plain BEGIN: digests,
exports, the desk) stay entirely on the driver's thread: they can be long.

Also skipped: the rollback the connection pool issues when a connection comes back, when the sqlite3
connection says no transaction is open (SQLite's own autocommit flag; nothing to undo). Server-side
cursors (`stream()`) keep aiosqlite's own cursor.
"""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run(raw: Any, operation: str, parameters: Any, many: bool) -> tuple[Any, list[Any], int, int | None]:
    """The whole statement, cursor to close (on aiosqlite's thread, or inline under the write lock)."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _adapt_connection: OneTripConnection  # only ever made by OneTripConnection (its _cursor_cls)

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: nothing to open
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None  # the cursor is already closed, its rows kept

    def close(self) -> None:
        self._rows.clear()

    async def _trip(self, operation: Any, parameters: Any, many: bool) -> Any:
        adapt = self._adapt_connection
        raw = self._connection._connection  # the sqlite3 connection
        async with adapt._execute_mutex:
            if adapt.write_locked and raw is not None and raw.in_transaction:
                result = _run(raw, operation, parameters, many)
            else:
                result = await self._connection._execute(_run, raw, operation, parameters, many)
                if operation == "BEGIN IMMEDIATE":
                    adapt.write_locked = True  # bot/db.py's begin event: the lock is ours until commit/rollback
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)
        return self

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, True)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("write_locked",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.write_locked = False

    def rollback(self) -> None:
        raw = self._connection._connection  # the sqlite3 connection (None once closed)
        locked, self.write_locked = self.write_locked, False
        if raw is not None and not raw.in_transaction:
            return  # SQLite has no transaction open: nothing to undo, no trip to the thread
        if locked and raw is not None:
            try:
                raw.rollback()
            except Exception as error:
                self._handle_exception(error)
            return
        super().rollback()

    def commit(self) -> None:
        raw = self._connection._connection
        locked, self.write_locked = self.write_locked, False
        if locked and raw is not None:
            try:
                raw.commit()
            except Exception as error:
                self._handle_exception(error)
            return
        super().commit()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    """The module to give create_async_engine(module=...) for a sqlite+aiosqlite URL."""
    import sqlite3

    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
