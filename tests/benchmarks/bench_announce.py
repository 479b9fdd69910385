"""Benchmark: one announcement to thousands of residents through the real outbox sender.

Starts the Bot API stub (tests/botapi_server.py) in its own process, pinned to the other CPU core
when there are two, builds a temporary SQLite database (or, with --postgres, a scratch PostgreSQL
database next to the one in URL: unique name, dropped afterwards; the URL's user needs CREATEDB) with
N residents who started the bot, queues one announcement to all of them (plus the building's
residents' chat) and runs bot/sender.py's OutboxSender against the stub until the batch is done.
Prints messages/s, 429s received, duplicates and losses.

    python -m tests.benchmarks.bench_announce                 # stub limits on, SEND_RATE 28 (target >= 27/s)
    python -m tests.benchmarks.bench_announce --ceiling       # stub limits off, SEND_RATE 2000 (target >= 450/s)
    python -m tests.benchmarks.bench_announce --smoke         # 300 recipients, quick; exit 1 on loss/dup
    python -m tests.benchmarks.bench_announce --postgres postgresql+asyncpg://user:pass@host:5432/db [...]

Exit status: 0 when nothing was lost or duplicated (and, outside --smoke, the target was met), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.benchmarks import _pg  # noqa: E402  (after the sys.path fix-up above)

TOKEN = "123456:BENCH-token"
RESIDENTS_CHAT = -1001000000031


def _pin(stub_pid: int) -> str:
    """Stub on the last core, this process on the others, so the two never compete for one core."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return "not pinned (no sched_setaffinity)"
    if len(cores) < 2:
        return "not pinned (one core)"
    os.sched_setaffinity(stub_pid, {cores[-1]})
    os.sched_setaffinity(0, set(cores[:-1]))
    return f"stub on core {cores[-1]}, sender on {cores[:-1]}"


def start_stub(limits: bool) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "tests.botapi_server", "--port", "0"] + (["--limits"] if limits else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"Bot API stub did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


async def prepare(db_url: str, recipients: int) -> tuple[Any, Any]:
    """A database with the sample community and `recipients` residents of Building 1."""
    from sqlalchemy import insert, select

    from bot.clock import system_clock
    from bot.db import create_engine, session_factory
    from bot.services.structure import StructureService
    from models import Base, Building, Member, Role

    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    async with sessions() as s:
        text = (ROOT / "tests" / "data" / "structure.yaml").read_text(encoding="utf-8")
        report = await StructureService(s, system_clock).import_text(text)
        await s.commit()
        community = report.community
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        base = 500_000_000
        await s.execute(insert(Member), [
            {"telegram_id": base + i, "first_name": f"R{i}", "language_code": "zh-hans" if i % 2 else "en",
             "started": True, "prefs": {}} for i in range(recipients)])
        ids = (await s.execute(select(Member.id).where(Member.telegram_id >= base))).scalars().all()
        await s.execute(insert(Role), [
            {"member_id": mid, "role": "resident", "community_id": community.id, "building_id": b1.id,
             "source": "import"} for mid in ids])
        await s.commit()
    return engine, sessions


async def run(args: argparse.Namespace) -> int:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from sqlalchemy import select

    from bot.clock import system_clock
    from bot.sender import OutboxSender
    from bot.services.announcements import AnnDraft, AnnouncementsService
    from bot.services.members import MembersService
    from models import Community

    limits = not args.ceiling
    rate = args.rate or (2000.0 if args.ceiling else float(os.environ.get("SEND_RATE", "28")))
    if args.postgres:
        pg_url = _pg.asyncpg_url(args.postgres)
        database = _pg.label(pg_url, await _pg.server_version(pg_url))
    else:
        database = _pg.label(None)
    proc, url = start_stub(limits)
    pinning = _pin(proc.pid)
    engine = None
    stack = AsyncExitStack()
    try:
        if args.postgres:
            db_url = await stack.enter_async_context(_pg.scratch_database(pg_url, "bench_announce"))
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            db_url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        engine, sessions = await prepare(db_url, args.recipients)
        t_queue = time.perf_counter()
        async with sessions() as s:
            staff = await MembersService(s).by_telegram_id(2002)
            assert staff is not None
            community = (await s.execute(select(Community))).scalar_one()
            actor = await MembersService(s).actor(staff)
            svc = AnnouncementsService(s)
            b1 = next(o.id for o in await svc.options(actor, community.id) if o.kind == "building")
            ann, _ = await svc.create(actor, AnnDraft(
                community_id=community.id, audience="buildings", building_ids=[b1],
                body_html="<b>Water cut</b> tomorrow 09:00–12:00. Please store water.", urgent=True))
            await s.commit()
            batch, expected = ann.batch, int(ann.counts["queued"])
        queue_s = time.perf_counter() - t_queue

        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url), limit=200),
                  default=DefaultBotProperties(parse_mode="HTML"))
        sender = OutboxSender(bot, sessions, rate=rate, clock=system_clock, poll_interval=0.05)
        t0 = time.perf_counter()
        task = asyncio.create_task(sender.run())
        deadline = t0 + args.timeout
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.25)
            async with sessions() as s:
                report = await AnnouncementsService(s).outbox.batch_report(batch)
            if report["pending"] == 0:
                break
        elapsed = time.perf_counter() - t0
        await sender.stop()
        await task
        await bot.session.close()
        await engine.dispose()

        sent = _get(f"{url}/_control/sent")
        stats = _get(f"{url}/_control/stats")
        per_chat = Counter(m["chat_id"] for m in sent)
        duplicates = sum(n - 1 for n in per_chat.values())
        lost = expected - len(per_chat)
        times = sorted(m["time"] for m in sent)
        span = (times[-1] - times[0]) if len(times) > 1 else elapsed
        rate_achieved = (len(sent) - 1) / span if span > 0 else float("inf")
        print(f"mode:            {'ceiling (stub limits off)' if args.ceiling else 'Telegram limits on'}"
              f"{' [smoke]' if args.smoke else ''}")
        print(f"database:        {database}")
        print(f"recipients:      {args.recipients} residents + 1 residents' chat ({expected} messages)")
        print(f"SEND_RATE:       {rate:g}/s; {pinning}")
        print(f"queueing:        {queue_s:.2f} s for {expected} outbox rows")
        print(f"delivered:       {len(sent)} messages in {elapsed:.1f} s (first→last {span:.1f} s)")
        print(f"messages/s:      {rate_achieved:.1f}")
        print(f"429s received:   {stats.get('rate_limited', 0)} (sender saw {sender.stats['retry_after']})")
        print(f"duplicates:      {duplicates}")
        print(f"lost:            {lost}")
        failed = duplicates > 0 or lost != 0
        if not args.smoke:
            target = 450.0 if args.ceiling else 27.0
            print(f"target:          >= {target:g}/s: {'met' if rate_achieved >= target else 'NOT met'}")
            failed = failed or rate_achieved < target
        return 1 if failed else 0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        if engine is not None:
            await engine.dispose()  # again after a failure: no connection may outlive the run
        await stack.aclose()  # the temporary file or the scratch PostgreSQL database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=None, help="residents (default 3000; smoke 300)")
    parser.add_argument("--ceiling", action="store_true", help="stub limits off, SEND_RATE high")
    parser.add_argument("--smoke", action="store_true", help="quick run for CI; fails on loss or duplicates")
    parser.add_argument("--rate", type=float, default=None, help="SEND_RATE for the sender")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="run on a scratch PostgreSQL database next to URL instead of a SQLite file")
    args = parser.parse_args(argv)
    if args.recipients is None:
        args.recipients = 300 if args.smoke else 3000
    import logging

    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
