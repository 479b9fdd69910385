"""Scheduled entry points. APScheduler runs one periodic tick in the bot's event loop; the tick runs
every registered job, each in its own session, under a lease so that with several instances only one
ticks at a time. Jobs turn due rows of the project's own tables into outbox rows with unique keys, so a
missed tick (the bot was down) is caught up by the next and a double tick changes nothing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from models import JobLease, OutboxItem, OutboxStatus, ProcessedUpdate

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    bot: Any = None  # aiogram Bot, for the few jobs that act rather than send (leaving a group)


JobFn = Callable[[AsyncSession, JobContext], Awaitable[None]]
JOBS: dict[str, JobFn] = {}


# Jobs that claim their own work row by row (the digests: an advisory lock per community, and DigestRun rows
# that decide once): on PostgreSQL every instance runs them, not only the one holding the tick lease, so
# that three workers share a thousand communities' digests at 08:00.
SHARED: set[str] = set()


def job(name: str, *, shared: bool = False) -> Callable[[JobFn], JobFn]:
    """Register a periodic job. It gets a fresh session; the tick commits after it returns."""

    def register(fn: JobFn) -> JobFn:
        JOBS[name] = fn
        if shared:
            SHARED.add(name)
        return fn

    return register


async def acquire_lease(session: AsyncSession, name: str, holder: str, now: Any, ttl: timedelta) -> bool:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    ins: Any = postgresql.insert(JobLease) if dialect == "postgresql" else sqlite.insert(JobLease)
    await session.execute(ins.values(name=name, holder=holder, until=now - timedelta(seconds=1))
                          .on_conflict_do_nothing(index_elements=["name"]))
    result = await session.execute(
        update(JobLease)
        .where(JobLease.name == name, (JobLease.until < now) | (JobLease.holder == holder))
        .values(holder=holder, until=now + ttl))
    return bool(getattr(result, "rowcount", 0))


class Ticker:
    def __init__(self, ctx: JobContext, instance: str | None = None,
                 on_done: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.instance = instance or uuid.uuid4().hex[:12]
        self.on_done = on_done
        self.stopping = False
        self._running: set[asyncio.Task[Any]] = set()

    async def stop(self, grace: float) -> None:
        """No new tick starts; a running one finishes (its jobs commit) before the caller disposes the
        engine. Cancelled after `grace` seconds: a tick that outlives the grace period is simply run again by
        the next start (jobs are idempotent)."""
        self.stopping = True
        running = {t for t in self._running if not t.done()}
        if not running:
            return
        _done, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            log.warning("stopping in the middle of a scheduler tick; it runs again at the next start")
            task.cancel()
        if late:
            await asyncio.wait(late)

    @property
    def lease_ttl(self) -> timedelta:
        return timedelta(seconds=max(60, self.ctx.settings.tick_seconds * 3))

    async def _lease(self) -> bool:
        async with self.ctx.sessions() as session:
            held = await acquire_lease(session, "tick", self.instance, self.ctx.clock(), self.lease_ttl)
            await session.commit()
        return held

    async def release(self) -> None:
        """Give the lease up on a clean stop, so that another instance (or this one restarted) ticks at
        once instead of waiting for the lease to run out."""
        async with self.ctx.sessions() as session:
            await session.execute(delete(JobLease).where(JobLease.name == "tick", JobLease.holder == self.instance))
            await session.commit()

    async def tick(self) -> list[str]:
        """Run every job once. Returns the names of jobs that failed (logged, retried next tick)."""
        if self.stopping:
            return []
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        held = await self._lease()
        share = self._can_share()
        if not held and not share:
            return []
        from bot.capabilities import load_all

        load_all()
        failed = []
        ran = 0
        for index, (name, fn) in enumerate(list(JOBS.items())):
            if not (share and name in SHARED):
                # A long tick (many communities' digests) renews its lease between jobs, so that another
                # instance does not start the same jobs alongside; if the lease was lost, only shared jobs
                # are left to this instance.
                if not held:
                    continue
                if index and not await self._lease():
                    log.warning("tick lease lost after %d job(s); another instance carries on", index)
                    held = False
                    continue
            ran += 1
            try:
                async with self.ctx.sessions() as session:
                    await fn(session, self.ctx)
                    await session.commit()
            except Exception:
                log.exception("job %s failed; it will run again at the next tick", name)
                failed.append(name)
        if self.on_done is not None and ran:
            self.on_done()
        return failed

    def _can_share(self) -> bool:
        """Shared jobs run in every instance on PostgreSQL only: SQLite has one writer, and a second
        instance building digests would only queue behind the first one's write lock."""
        bind = getattr(self.ctx.sessions, "kw", {}).get("bind")
        return bind is not None and bind.dialect.name == "postgresql"


@job("prune_processed_updates")
async def prune_processed_updates(session: AsyncSession, ctx: JobContext) -> None:
    await session.execute(delete(ProcessedUpdate).where(
        ProcessedUpdate.at < ctx.clock() - timedelta(days=2)))


# Outbox rows the prune keeps however old: an issue card's own message, which the bot edits for as long
# as the issue lives (its row holds the message id).
PRUNE_KEEP_KINDS = ("issue_card",)


@job("prune_outbox")
async def prune_outbox(session: AsyncSession, ctx: JobContext) -> None:
    """Once a day, delete finished outbox rows (sent, failed, cancelled or expired) older than
    OUTBOX_RETENTION_DAYS: they hold chat ids and message texts nobody needs once delivered. A lease
    row with a day's lifetime makes it daily however often the tick runs (and whichever instance)."""
    now = ctx.clock()
    if not await acquire_lease(session, "prune_outbox", uuid.uuid4().hex, now, timedelta(days=1)):
        return
    cutoff = now - timedelta(days=ctx.settings.outbox_retention_days)
    finished = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.EXPIRED)
    result = await session.execute(delete(OutboxItem).where(
        OutboxItem.status.in_(finished), OutboxItem.kind.not_in(PRUNE_KEEP_KINDS),
        OutboxItem.created_at < cutoff, (OutboxItem.sent_at.is_(None)) | (OutboxItem.sent_at < cutoff)))
    log.info("outbox prune: %s row(s) older than %s days removed", getattr(result, "rowcount", "?"),
             ctx.settings.outbox_retention_days)


@job("leave_unlinked_groups")
async def leave_unlinked_groups(session: AsyncSession, ctx: JobContext) -> None:
    from bot.services.chats import ChatsService

    chats = ChatsService(session, ctx.clock)
    for chat_id in await chats.stale_groups():
        if ctx.bot is not None:
            try:
                await ctx.bot.leave_chat(chat_id)
            except Exception:
                log.info("could not leave group %s", chat_id, exc_info=True)
        await chats.bot_removed(chat_id)


__all__ = ["JOBS", "SHARED", "JobContext", "Ticker", "acquire_lease", "job", "select"]
