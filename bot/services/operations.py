"""Operations: what an operator needs to trust the bot with the ledger.

* `python main.py backup --out FILE` — an online backup of the SQLite database (sqlite3's backup API,
  consistent while the bot keeps running); for PostgreSQL it prints the pg_dump command to use.
* A daily line to each community's office chat when outbox items failed permanently the day before
  ("📮 3 messages could not be delivered yesterday: 2 people blocked the bot, 1 chat not found"),
  like FixMyStreet's failure summary, so the office learns that some residents no longer hear the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import subcommand
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.db import sqlite_path
from bot.jobs import JobContext, job
from bot.services.base import events_for
from bot.services.events import Event
from models import ChatLink, Community, OutboxItem, OutboxStatus, Role

# The summary goes out in the morning (local time), not at midnight when the day turns over.
SUMMARY_HOUR = 8
SUMMARY_KIND = "ops_failures"

# ------------------------------------------------------------------------------------------ backup


def backup_sqlite(source: Path, target: Path, pages_per_step: int = 4096) -> int:
    """Copy a live SQLite database with the online backup API. Returns the size of the copy in bytes.

    Written to a temporary file beside the target and renamed at the end, so a crash never leaves a
    half-written file under the name the operator asked for. Copying in steps lets the bot keep
    writing meanwhile (WAL readers never block writers)."""
    if not source.is_file():
        raise FileNotFoundError(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # The copy holds everything the database does: readable by the owner only, from the first byte
    # (sqlite3 would create it with the umask's mode, usually world-readable).
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=pages_per_step)
            # A self-contained file: no -wal beside it that a copy could forget.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)
    return target.stat().st_size


def pg_dump_command(database_url: str, out: str) -> str:
    """The pg_dump command equivalent of a backup, for a PostgreSQL DATABASE_URL (password hidden:
    pass it with PGPASSWORD or ~/.pgpass)."""
    url = make_url(database_url)
    parts = ["pg_dump", "--format=custom", f"--file={out}"]
    if url.host:
        parts.append(f"--host={url.host}")
    if url.port:
        parts.append(f"--port={url.port}")
    if url.username:
        parts.append(f"--username={url.username}")
    parts.append(url.database or "")
    return " ".join(parts)


def _configure_backup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the copy")


@subcommand("backup", "copy the database to a file while the bot runs (SQLite; PostgreSQL: pg_dump)",
            configure=_configure_backup)
def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.out)
    if not settings.is_sqlite:
        print("This database is PostgreSQL: back it up with pg_dump, e.g.\n"
              f"  PGPASSWORD=... {pg_dump_command(settings.database_url, str(out))}\n"
              f"and restore with: pg_restore --clean --dbname=<database> {out}", file=sys.stderr)
        return 2
    source = sqlite_path(settings.database_url)
    if source is None:
        print("error: an in-memory database cannot be backed up", file=sys.stderr)
        return 2
    if out.resolve() == source.resolve():
        print("error: --out must not be the database itself", file=sys.stderr)
        return 2
    try:
        size = asyncio.run(asyncio.to_thread(backup_sqlite, source, out))
    except FileNotFoundError:
        print(f"error: {source} does not exist (check DATABASE_URL)", file=sys.stderr)
        return 1
    except (sqlite3.Error, OSError) as exc:
        print(f"error: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup of {source} written to {out} ({size / 1_048_576:.1f} MB)")
    return 0


# ------------------------------------------------------------------------------ failure summary


@dataclass(frozen=True)
class FailureSummary:
    total: int
    reasons: dict[str, int]  # blocked | not_found | kicked | deactivated | other


def failure_reason(error: str | None) -> str:
    text = (error or "").lower()
    if "blocked" in text:
        return "blocked"
    if "deactivated" in text:
        return "deactivated"
    if "kicked" in text or "not a member" in text or "no rights" in text or "not enough rights" in text:
        return "kicked"
    if "not found" in text or "peer_id_invalid" in text:
        return "not_found"
    return "other"


@dataclass(frozen=True)
class DeliveryFailures(Event):
    """Yesterday's failed deliveries of a community, for its office chat (bot/notices/operations.py words
    and enqueues the line under `key`)."""

    community_id: int
    chat_id: int
    key: str
    summary: FailureSummary
    locale: str
    expires_at: datetime


class OperationsService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def failures(self, community: Community, start: datetime, end: datetime) -> FailureSummary:
        """Outbox items of a community that failed for good and were due in [start, end).

        An item belongs to the community when it was enqueued for it, or when it was a private
        message to someone holding a role there (notifications carry only the member)."""
        member_ids = select(Role.member_id).where(Role.community_id == community.id)
        group_ids = select(ChatLink.chat_id).where(ChatLink.community_id == community.id)
        rows = (await self.session.execute(
            select(OutboxItem.last_error).where(
                OutboxItem.status == OutboxStatus.FAILED,
                OutboxItem.kind != SUMMARY_KIND,
                OutboxItem.not_before >= start, OutboxItem.not_before < end,
                or_(OutboxItem.community_id == community.id,
                    and_(OutboxItem.community_id.is_(None),
                         or_(OutboxItem.member_id.in_(member_ids), OutboxItem.chat_id.in_(group_ids))))))
        ).scalars().all()
        reasons = Counter(failure_reason(e) for e in rows)
        return FailureSummary(len(rows), dict(reasons))

    async def office_chat(self, community_id: int) -> int | None:
        return (await self.session.execute(select(ChatLink.chat_id).where(
            ChatLink.community_id == community_id, ChatLink.place_kind == "community",
            ChatLink.kind == "team"))).scalar_one_or_none()

    async def report_failures(self, community: Community) -> bool:
        """Enqueue yesterday's failure line for one community, once per local day. Returns True when
        a line was enqueued now."""
        tz = ZoneInfo(community.timezone or "UTC")
        now_local = self.clock().astimezone(tz)
        if now_local.hour < SUMMARY_HOUR:
            return False
        today: date = now_local.date()
        start = datetime.combine(today - timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(today, time(0), tzinfo=tz).astimezone(UTC)
        chat = await self.office_chat(community.id)
        if chat is None:
            return False
        summary = await self.failures(community, start, end)
        if summary.total == 0:
            return False
        key = f"{SUMMARY_KIND}:{community.id}:{today.isoformat()}"
        if (await self.session.execute(select(OutboxItem.id).where(OutboxItem.dedup_key == key))).first():
            return False  # told already today
        await events_for(self.session, self.clock).record(DeliveryFailures(
            community.id, chat, key, summary, community.locale or "en",
            # Yesterday's news is useless the day after.
            expires_at=end + timedelta(days=1)))
        return True


@job("outbox_failure_summary")
async def outbox_failure_summary(session: AsyncSession, ctx: JobContext) -> None:
    service = OperationsService(session, ctx.clock)
    for community in (await session.execute(select(Community))).scalars().all():
        await service.report_failures(community)


