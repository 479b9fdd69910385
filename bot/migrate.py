"""Apply Alembic migrations programmatically (python main.py migrate, and before the bot starts)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "bot" / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    log.debug("database schema is up to date (%s)", _safe_url(database_url))


def _safe_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


async def upgrade_async(database_url: str) -> None:
    # Alembic's env.py runs its own event loop; keep it off ours.
    await asyncio.to_thread(upgrade, database_url)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's comparison leaves alone the search objects made by hand (models/search.py: an FTS5 table
    and its shadow tables on SQLite, a pg_trgm index on PostgreSQL): they are outside the models' metadata
    on purpose, and autogenerate would otherwise offer to drop them."""
    from models.search import SEARCH_OBJECTS

    return name not in SEARCH_OBJECTS
