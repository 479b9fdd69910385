"""PostgreSQL for the benchmarks: a scratch database with a unique name, dropped afterwards (also when the
run fails or is interrupted), and a label for the printed figures."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import make_url


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL the bot uses (postgresql+asyncpg://...), whatever driver the caller wrote."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"--postgres wants a postgresql:// URL, not {parsed.drivername}://")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def connect(url: str, database: str | None = None) -> Any:
    """A raw asyncpg connection to `database` (default: the URL's own)."""
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(user=parsed.username, password=parsed.password, host=parsed.host,
                                 port=parsed.port, database=database or parsed.database)


async def _admin(url: str, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside the database concerned: connect to the maintenance one.
    conn = await connect(url, "postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(url: str, prefix: str) -> AsyncIterator[str]:
    """Create an empty database next to the one in `url`, yield its asyncpg URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(asyncpg_url(url)).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: a connection left open by a failed run must not keep the database alive.
        await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_schema(url: str, prefix: str) -> AsyncIterator[str]:
    """Create an empty schema inside the URL's own database (for a shared server where one may use only
    that database), yield its name, drop it with everything in it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()


def schema_args(schema: str | None) -> dict[str, Any]:
    """Engine keyword arguments that put every connection in `schema` alone: with public on the path too,
    tables of that name in public (the shared database's own) would be taken for the scratch ones."""
    return {"connect_args": {"server_settings": {"search_path": f'"{schema}"'}}} if schema else {}


async def server_version(url: str) -> str:
    conn = await connect(url, "postgres")
    try:
        return str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


def label(url: str | None, version: str | None = None) -> str:
    """How the output names the database: the password never appears."""
    if url is None:
        return f"SQLite {sqlite3.sqlite_version} (temporary file)"
    parsed = make_url(url)
    return (f"PostgreSQL {version or '?'} (scratch database on {parsed.host}:{parsed.port or 5432}, "
            f"dropped afterwards)")
