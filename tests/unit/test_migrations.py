"""The Alembic migrations build, from an empty database, exactly the schema the models describe (on
SQLite, and on PostgreSQL in a fresh database when TEST_POSTGRES_URL is set).

If this fails after a model changed, regenerate the migration (see docs/DEVELOPING.md: Migrations);
the message lists every difference autogenerate found."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from bot.capabilities import load_all
from bot.db import create_engine
from bot.migrate import alembic_config, include_object, upgrade_async
from models import Base

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
ENGINES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@pytest.fixture(params=ENGINES)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    # A database of its own, so the test fixtures' tables (create_all) are not in the way.
    assert POSTGRES_URL
    name = f"migtest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def _differences(connection: Connection) -> list[Any]:
    # include_object: the hand-made search objects (models/search.py) are not in the metadata on purpose.
    context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                           "render_as_batch": connection.dialect.name == "sqlite",
                                                           "include_object": include_object})
    return list(compare_metadata(context, Base.metadata))


async def _inspect(url: str) -> tuple[list[Any], set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_differences)
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        return diffs, tables, version
    finally:
        await engine.dispose()


def _describe(diff: Any) -> str:
    """One readable line per difference ("add_table patrols", "add_column issues.foo", ...)."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(d) for d in diff)
    op, *rest = diff
    names = [getattr(x, "name", None) or getattr(x, "fullname", None) or repr(x) for x in rest if x is not None]
    return f"{op} {' '.join(str(n) for n in names)}"[:300]


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"several migration heads: {script.get_heads()}"


async def test_upgrade_from_empty_matches_the_models(empty_database: str) -> None:
    load_all()  # every capability's models are registered on Base.metadata
    await upgrade_async(empty_database)
    diffs, tables, version = await _inspect(empty_database)
    assert version == _head()
    assert "alembic_version" in tables
    assert not diffs, "the migrations differ from the models; regenerate them:\n" + "\n".join(
        _describe(d) for d in diffs)


async def test_upgrade_twice_is_harmless(empty_database: str) -> None:
    await upgrade_async(empty_database)
    await upgrade_async(empty_database)  # the bot runs it at every start
    _diffs, _tables, version = await _inspect(empty_database)
    assert version == _head()
