"""Background jobs, the rules: one job per person at a time, claimed by one worker under a lease, resumed
after a crash (or failed once it has been tried too often), and its outcome recorded.

Work that may take more than a second or two (a ledger export with photos, a digest on demand) must not
run inside the update's handler: the poller confirms a batch only after handling all of it, so everyone
else would wait. The handler calls `submit()` and answers at once; the worker (bot/worker.py) runs the
job's kind, edits a progress message and sends the result through the outbox. No aiogram here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.services.outbox import on_sent
from models import BackgroundJob, JobStatus, OutboxItem

# A running job renews its lease with every progress report; a worker that died stops renewing, and
# after this long another worker (or this one restarted) takes the job over.
LEASE = timedelta(seconds=60)
# A job is tried this many times (a crash or a restart in the middle counts); then it fails with a message.
MAX_ATTEMPTS = 2


class JobFailed(Exception):
    """Raised by a job kind with the words to show the person (already in their language)."""


@dataclass
class JobRun:
    """What a job kind gets from the worker: the job's data, a read path to the database, a folder for its
    files, and `report()` to say how far it is. It returns a JobOutcome."""

    id: int
    kind: str
    member_id: int
    chat_id: int
    locale: str
    params: dict[str, Any]
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    folder: Path
    max_bytes: int
    # report(text): the progress in words; the worker writes it to the progress message (at most every
    # few seconds), renews the lease and enforces the time cap.
    report: Callable[[str], Awaitable[None]]
    # Tools the worker lends (e.g. "download": file_id -> bytes through the bot).
    tools: dict[str, Any] = field(default_factory=dict)
    settings: Any = None  # bot.config.Settings


@dataclass
class JobMessage:
    """One message of a job's result: a text, a photo (bytes) or a document (a file in the job's folder)."""

    text: str | None = None
    document: Path | None = None
    photo: bytes | None = None
    buttons: list[list[tuple[str, str]]] | None = None


@dataclass
class JobOutcome:
    summary: str  # the progress message's last words ("✅ …"); "" for a job without one says nothing more
    messages: list[JobMessage] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # figures kept with the job


JobKind = Callable[[JobRun], Awaitable[JobOutcome]]
JOB_KINDS: dict[str, JobKind] = {}


def job_kind(name: str) -> Callable[[JobKind], JobKind]:
    def register(fn: JobKind) -> JobKind:
        JOB_KINDS[name] = fn
        return fn

    return register


class BackgroundService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def running_for(self, member_id: int) -> BackgroundJob | None:
        return (await self.session.execute(select(BackgroundJob).where(
            BackgroundJob.active_for == member_id))).scalar_one_or_none()

    async def submit(self, *, kind: str, member_id: int, chat_id: int, locale: str, params: dict[str, Any],
                     message_id: int | None = None) -> BackgroundJob | None:
        """Queue a job, or None when the person has one queued or running already."""
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        if await self.running_for(member_id) is not None:
            return None
        job = BackgroundJob(kind=kind, member_id=member_id, active_for=member_id, chat_id=chat_id,
                            message_id=message_id, locale=locale, params=params, status=JobStatus.QUEUED,
                            created_at=self.clock(), progress={}, result={}, attempts=0)
        try:
            async with self.session.begin_nested():
                self.session.add(job)
                await self.session.flush()
        except IntegrityError:  # another update of the same person got there first
            return None
        return job


# ---------------------------------------------------------------------- the worker's side (own sessions)


async def claim(session: AsyncSession, instance: str, now: datetime) -> BackgroundJob | None:
    """Take the oldest queued job, or a running one whose worker stopped renewing its lease."""
    candidates = (await session.execute(
        select(BackgroundJob.id).where(or_(
            BackgroundJob.status == JobStatus.QUEUED,
            (BackgroundJob.status == JobStatus.RUNNING) & (BackgroundJob.lease_until < now)))
        .order_by(BackgroundJob.id).limit(5))).scalars().all()
    for job_id in candidates:
        result = await session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job_id, or_(
                BackgroundJob.status == JobStatus.QUEUED,
                (BackgroundJob.status == JobStatus.RUNNING) & (BackgroundJob.lease_until < now)))
            .values(status=JobStatus.RUNNING, claimed_by=instance, lease_until=now + LEASE,
                    attempts=BackgroundJob.attempts + 1, started_at=now))
        if getattr(result, "rowcount", 0):
            # Read before the commit: a read after it would open a new (on SQLite, write-locking) transaction.
            job = await session.get(BackgroundJob, job_id, populate_existing=True)
            await session.commit()
            return job
    await session.commit()
    return None


async def renew(session: AsyncSession, job_id: int, instance: str, now: datetime,
                progress: dict[str, Any] | None = None) -> None:
    """Keep the job (and record how far it is)."""
    values: dict[str, Any] = {"lease_until": now + LEASE}
    if progress is not None:
        values["progress"] = progress
    await session.execute(update(BackgroundJob).where(
        BackgroundJob.id == job_id, BackgroundJob.claimed_by == instance,
        BackgroundJob.status == JobStatus.RUNNING).values(**values))


async def finish(session: AsyncSession, job_id: int, now: datetime, *, status: str,
                 result: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Done or failed: the person may ask for another job."""
    await session.execute(update(BackgroundJob).where(BackgroundJob.id == job_id).values(
        status=status, active_for=None, lease_until=None, finished_at=now, result=result or {},
        error=error[:2000] if error else None))


async def put_back(session: AsyncSession, job_id: int, instance: str) -> None:
    """A clean stop in the middle: queued again at once (not counted as an attempt), resumed at the next start."""
    await session.execute(update(BackgroundJob).where(
        BackgroundJob.id == job_id, BackgroundJob.claimed_by == instance).values(
        status=JobStatus.QUEUED, lease_until=None, claimed_by=None, attempts=BackgroundJob.attempts - 1))


@on_sent("job_file")
async def _forget_sent_file(session: AsyncSession, item: OutboxItem) -> None:
    """A job's file is deleted once Telegram has it (its folder too, after the last one)."""
    path = Path(str((item.payload.get("document") or {}).get("path", "")))
    if path.name and path.parent.name.startswith("job-"):
        await asyncio.to_thread(_remove, path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    with suppress(OSError):  # other files of the job are still to be sent
        path.parent.rmdir()


__all__ = ["JOB_KINDS", "LEASE", "MAX_ATTEMPTS", "BackgroundService", "JobFailed", "JobMessage", "JobOutcome",
           "JobRun", "claim", "finish", "job_kind", "put_back", "renew"]
