"""Alembic environment: async engine, batch mode for SQLite, the models' metadata."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models
from bot.db import create_engine
from bot.migrate import include_object

config = context.config
target_metadata = models.Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from bot.config import load_settings

        url = load_settings().database_url
    return str(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several workers starting together: one migrates, the others wait and find nothing to do.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7201104)")
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


existing = config.attributes.get("connection")
if context.is_offline_mode():
    run_migrations_offline()
elif existing is not None:
    _configure(existing)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
