"""Background jobs without Telegram: one per person, claimed once, the lease kept while a job runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.worker as worker_module
from bot.clock import FrozenClock
from bot.config import Settings
from bot.services.background import JOB_KINDS, BackgroundService, JobOutcome, JobRun, claim
from bot.services.members import MembersService, TelegramPerson
from bot.worker import JobWorker
from models import BackgroundJob, JobStatus


async def a_member(session: AsyncSession, clock: FrozenClock) -> Any:
    member = await MembersService(session, clock).touch(TelegramPerson(id=55501, first_name="Ann"))
    await session.commit()
    return member


async def test_one_job_per_person_and_one_claim_per_job(sessions: async_sessionmaker[AsyncSession],
                                                        clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    async def quick(run: JobRun) -> JobOutcome:
        return JobOutcome("done")

    monkeypatch.setitem(JOB_KINDS, "quick", quick)
    async with sessions() as s:
        member = await a_member(s, clock)
        service = BackgroundService(s, clock)
        first = await service.submit(kind="quick", member_id=member.id, chat_id=55501, locale="en", params={})
        second = await service.submit(kind="quick", member_id=member.id, chat_id=55501, locale="en", params={})
        await s.commit()
    assert first is not None and second is None
    async with sessions() as a, sessions() as b:
        got = [await claim(a, "a", clock()), await claim(b, "b", clock())]
    assert [j is not None for j in got] == [True, False]  # two workers: only one gets it


async def test_the_lease_is_kept_while_a_silent_job_runs(sessions: async_sessionmaker[AsyncSession],
                                                         clock: FrozenClock, settings: Settings, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that reports nothing for a long time (one slow download) must not look like a dead worker."""
    started = asyncio.Event()

    async def silent(run: JobRun) -> JobOutcome:
        started.set()
        await asyncio.sleep(0.6)
        return JobOutcome("done")

    monkeypatch.setitem(JOB_KINDS, "silent", silent)
    monkeypatch.setattr(worker_module, "LEASE", timedelta(seconds=0.3))  # beat every 0.1 s
    async with sessions() as s:
        member = await a_member(s, clock)
        await BackgroundService(s, clock).submit(kind="silent", member_id=member.id, chat_id=55501, locale="en",
                                                 params={})
        await s.commit()
    worker = JobWorker(None, sessions, settings, clock=clock, folder=tmp_path)
    running = asyncio.create_task(worker.run_once())
    await started.wait()
    async with sessions() as s:  # as if the lease were about to run out
        await s.execute(update(BackgroundJob).values(lease_until=clock() - timedelta(seconds=1)))
        await s.commit()
    await asyncio.sleep(0.3)
    async with sessions() as s:
        lease = (await s.execute(select(BackgroundJob.lease_until))).scalar_one()
        assert lease > clock()  # renewed by the heartbeat
        assert await claim(s, "other", clock()) is None
    assert await running
    async with sessions() as s:
        assert (await s.execute(select(BackgroundJob.status))).scalar_one() == JobStatus.DONE
