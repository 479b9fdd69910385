"""The scheduler tick: with several instances only the lease holder runs the jobs, a dead holder is
replaced when its lease runs out, and one failing job neither stops the others nor keeps half its work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.jobs as jobs_module
from bot.capabilities import load_all
from bot.clock import FrozenClock
from bot.config import Settings
from bot.jobs import JobContext, Ticker, acquire_lease
from bot.services.outbox import Outbox
from models import JobLease, OutboxItem


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the job registry with three test jobs for the duration of a test."""
    load_all()  # capability jobs register now, into the real registry, not into ours
    ran: list[str] = []

    async def first(session: AsyncSession, ctx: JobContext) -> None:
        ran.append("first")
        await Outbox(session, ctx.clock).enqueue(key=f"first:{ctx.clock().isoformat()}", kind="t", chat_id=1,
                                                 text="from first")

    async def broken(session: AsyncSession, ctx: JobContext) -> None:
        ran.append("broken")
        await Outbox(session, ctx.clock).enqueue(key="broken", kind="t", chat_id=1, text="half done")
        raise RuntimeError("boom")

    async def last(session: AsyncSession, ctx: JobContext) -> None:
        ran.append("last")

    monkeypatch.setattr(jobs_module, "JOBS", {"first": first, "broken": broken, "last": last})
    return ran


def ticker(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings, name: str,
           **kw: Any) -> Ticker:
    return Ticker(JobContext(sessions, clock, settings), instance=name, **kw)


async def test_failing_job_does_not_stop_the_others(runs: list[str], sessions: async_sessionmaker[AsyncSession],
                                                    clock: FrozenClock, settings: Settings) -> None:
    done: list[bool] = []
    failed = await ticker(sessions, clock, settings, "a", on_done=lambda: done.append(True)).tick()
    assert failed == ["broken"]
    assert runs == ["first", "broken", "last"]
    assert done == [True]  # the sender is woken after a tick
    async with sessions() as s:
        keys = set((await s.execute(select(OutboxItem.dedup_key))).scalars())
    assert keys == {f"first:{clock().isoformat()}"}  # the broken job's half-done work was rolled back


async def test_only_the_lease_holder_ticks(runs: list[str], sessions: async_sessionmaker[AsyncSession],
                                           clock: FrozenClock, settings: Settings) -> None:
    a = ticker(sessions, clock, settings, "a")
    b = ticker(sessions, clock, settings, "b")
    await a.tick()
    assert await b.tick() == [] and runs.count("first") == 1  # b stands by
    clock.advance(seconds=30)
    await a.tick()  # the holder keeps its lease by ticking
    clock.advance(seconds=30)
    await b.tick()
    assert runs.count("first") == 2
    # a dies; once its lease runs out, b takes over.
    clock.advance(minutes=5)
    await b.tick()
    assert runs.count("first") == 3
    await a.tick()  # a comes back: b holds the lease now
    assert runs.count("first") == 3
    async with sessions() as s:
        lease = await s.get(JobLease, "tick")
        assert lease is not None and lease.holder == "b"


async def test_a_clean_stop_hands_the_lease_over_at_once(runs: list[str], sessions: async_sessionmaker[AsyncSession],
                                                         clock: FrozenClock, settings: Settings) -> None:
    a = ticker(sessions, clock, settings, "a")
    b = ticker(sessions, clock, settings, "b")
    await a.tick()
    await b.release()  # not b's lease: nothing changes
    assert await b.tick() == [] and runs.count("first") == 1
    await a.release()  # a stops cleanly: b need not wait for the lease to run out
    await b.tick()
    assert runs.count("first") == 2


async def test_a_tick_that_loses_its_lease_stops(runs: list[str], sessions: async_sessionmaker[AsyncSession],
                                                 clock: FrozenClock, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick longer than its lease must not run on alongside the instance that took the lease over."""
    a = ticker(sessions, clock, settings, "a")

    async def slow(session: AsyncSession, ctx: JobContext) -> None:
        runs.append("slow")
        clock.advance(minutes=5)  # the lease ran out while this job ran ...
        async with sessions() as s:  # ... and b took it
            assert await acquire_lease(s, "tick", "b", clock(), timedelta(minutes=1))
            await s.commit()

    monkeypatch.setattr(jobs_module, "JOBS", {"slow": slow, "last": jobs_module.JOBS["last"]})
    await a.tick()
    assert runs == ["slow"]


async def test_lease_is_atomic(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    import asyncio

    async def grab(holder: str) -> bool:
        async with sessions() as s:
            won = await acquire_lease(s, "digest:2026-11-20", holder, clock(), timedelta(minutes=5))
            await s.commit()
            return won

    results = await asyncio.gather(*(grab(f"i{n}") for n in range(10)))
    assert sum(results) == 1


async def test_registered_jobs_run_on_a_real_community(sessions: async_sessionmaker[AsyncSession],
                                                       clock: FrozenClock, settings: Settings,
                                                       community: Any, riverside: Any) -> None:
    """Every job the capabilities register survives a tick on the sample data, now and a day later."""
    t = ticker(sessions, clock, settings, "a")
    assert await t.tick() == []
    clock.advance(days=1, hours=1)
    assert await t.tick() == []


async def test_the_scheduler_keeps_ticking() -> None:
    """The running bot ticks every TICK_SECONDS, not only at start (a paused job once did exactly that)."""
    import asyncio

    from bot.app import start_scheduler

    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    scheduler = start_scheduler(tick, 0.1)
    try:
        for _ in range(100):
            if len(ticks) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    assert len(ticks) >= 3


async def test_stopping_waits_for_a_running_tick_before_the_engine_goes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Stopping the bot while the scheduler's tick runs a job: the job finishes and commits before the
    engine is disposed, and nothing is logged as an error (a traceback from the job's session was)."""
    import asyncio
    import logging

    from bot.app import build_app, run
    from bot.db import create_engine
    from models import Base
    from tests.conftest import TOKEN
    from tests.telegram import FakeTelegram

    load_all()
    db = tmp_path / "bot.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    started, calls, finished = asyncio.Event(), [], []

    async def slow(session: AsyncSession, ctx: JobContext) -> None:
        calls.append(1)
        if len(calls) < 2:
            return  # the first tick at start is quick; the scheduler's next one is the slow one
        started.set()
        await asyncio.sleep(0.5)
        await Outbox(session, ctx.clock).enqueue(key="slow", kind="t", chat_id=1, text="late")
        finished.append(1)

    monkeypatch.setattr(jobs_module, "JOBS", {"slow": slow})
    settings = Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}", tick_seconds=1,
                        shutdown_grace=5, _env_file=None)  # type: ignore[call-arg]
    # The routers attach to one dispatcher per test session: lend the app the shared one (its FSM storage
    # closes as a no-op), pointed at this test's database.
    import bot.app as app_module
    from bot.clock import FrozenClock
    from bot.db import session_factory
    from tests.conftest import START, _shared_dispatcher

    dp = _shared_dispatcher(settings, session_factory(engine), FrozenClock(START))  # built before the patch

    def shared(settings_: Settings, sessions: Any, **_kw: Any) -> Any:
        return _shared_dispatcher(settings_, sessions, FrozenClock(START))

    monkeypatch.setattr(app_module, "create_dispatcher", shared)
    assert dp is shared(settings, session_factory(engine))
    app = build_app(settings, bot_session=FakeTelegram())
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING)
    running = asyncio.create_task(run(app, stop))
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 20)
    assert finished == [1]  # the tick ended before run() returned (and the engine was disposed)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    async with session_factory(engine)() as s:
        assert (await s.execute(select(OutboxItem.dedup_key).where(OutboxItem.dedup_key == "slow"))).scalar()
    await engine.dispose()
