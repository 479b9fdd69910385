"""Dispatch speed: updates/s through the whole stack (middlewares, database, FSM, i18n, rendering) compared,
in the same run and on the same Bot API test double, with a bare aiogram echo bot.

    python -m tests.benchmarks.bench_dispatch            # the real run (a few thousand updates)
    python -m tests.benchmarks.bench_dispatch --smoke    # a few dozen, to check the script works
    python -m tests.benchmarks.bench_dispatch --profile  # also: where the time of each kind of update goes
    python -m tests.benchmarks.bench_dispatch --postgres postgresql+asyncpg://user:pass@host/db
        # the full stack on that database (its tables are dropped and created: use a scratch database)

Prints figures only (no assertions). Targets (issues 7 and 17): a read command ≥ 1/3 of the echo rate;
a button press on an issue card ≥ 1/5; a report submission (the flow's updates, per submitted report)
≥ 1/10. With --profile each kind also prints its SQL statements per update and the time by layer
(cProfile of the event loop's thread: time the loop sat waiting is the database driver's thread and
the database itself).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.types import Message, Update
from sqlalchemy import event

from bot.clock import FrozenClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from models import Base
from tests.conftest import START, TOKEN, import_structure
from tests.telegram import FakeTelegram, Updates


class Clocked:
    """Time spent inside the dispatcher only: the report driver's own work (finding the next button,
    checking whether the issue is stored yet) is the benchmark's cost, not the bot's."""

    spent = 0.0
    cpu = 0.0
    profiler: cProfile.Profile | None = None  # set while a kind is profiled: only dispatcher time counts
    statements = 0  # SQL statements sent while inside the dispatcher
    inside = False

    @classmethod
    async def feed(cls, dp: Dispatcher, bot: Any, update: Update) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        cls.inside = True
        if cls.profiler is not None:
            cls.profiler.enable()
        try:
            await dp.feed_update(bot, update)
        finally:
            if cls.profiler is not None:
                cls.profiler.disable()
            cls.inside = False
            cls.spent += time.perf_counter() - started
            cls.cpu += time.process_time() - cpu


def count_statements(engine: Any) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        if Clocked.inside:
            Clocked.statements += 1


# Where a function's own time goes, by the file it is defined in (first match wins).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("waiting for the database thread (SQL + driver hops)", ("select.epoll", "selectors.py")),
    ("database driver (aiosqlite/asyncpg, thread hand-offs, greenlet switches)",
     ("aiosqlite", "asyncpg", "threading.py", "queue.py", "concurrent/futures", "SimpleQueue", "greenlet",
      "_thread", "sqlite3", "socket")),
    ("SQLAlchemy ORM", ("sqlalchemy/orm",)),
    ("SQLAlchemy core (SQL building, compiling, results)", ("sqlalchemy",)),
    ("rendering (Jinja2, gettext, our templates)", ("jinja2", "gettext", "babel", "markupsafe", "bot/rendering",
                                                    "bot/i18n", "<template>")),
    ("aiogram + pydantic", ("aiogram", "pydantic", "magic_filter")),
    ("asyncio event loop", ("asyncio",)),
    ("the bot's own code", ("/bot/", "/handlers/", "/models/")),
    ("test double (FakeTelegram)", ("tests/telegram", "tests/")),
]


def layer_of(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for layer, needles in LAYERS:
        if any(n in where for n in needles):
            return layer
    return "other (Python builtins, json, ...)"


def print_profile(label: str, profiler: cProfile.Profile, updates: int, statements: int) -> None:
    stats = pstats.Stats(profiler)
    by_layer: dict[str, float] = {}
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_layer[layer_of(filename, name)] = by_layer.get(layer_of(filename, name), 0.0) + tottime
        total += tottime
    print(f"  profile of {label}: {updates} updates, {statements / max(updates, 1):.1f} SQL statements per update,"
          f" {1000 * total / max(updates, 1):.2f} ms per update under the profiler")
    for layer, spent in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        print(f"    {100 * spent / total:5.1f}%  {1000 * spent / max(updates, 1):6.3f} ms  {layer}")
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]  # type: ignore[attr-defined]
    print("    heaviest functions (own time):")
    for (filename, line, name), (_cc, nc, tottime, _ct, _callers) in top:
        short = "/".join(Path(filename).parts[-2:])
        print(f"      {1000 * tottime / max(updates, 1):6.3f} ms  {nc / max(updates, 1):6.1f} calls"
              f"  {short}:{line} {name}")


PROFILE = False
Make = Callable[[int], Awaitable[int]]


@dataclass
class Kind:
    label: str
    make: Make  # feeds one or more updates through Clocked.feed for run i, returns how many
    wall: list[float] = field(default_factory=list)  # updates/s per round, wall time in the dispatcher
    cpu: list[float] = field(default_factory=list)  # updates/s per round, this process's CPU time
    ratio_wall: list[float] = field(default_factory=list)  # over the echo's rate in the same round
    ratio_cpu: list[float] = field(default_factory=list)
    statements: int = 0
    updates: int = 0


async def measure(echo: Kind, kinds: list[Kind], runs: list[int], echo_runs: int, rounds: int) -> None:
    """Interleaved rounds: per round the echo bot runs `echo_runs` times, then each kind its `runs`, so a
    burst of load from elsewhere on the machine hits all of them alike; the figures are medians over the
    rounds. Wall time and CPU time (this process, every thread: the database driver's thread counts)."""
    for kind in [echo, *kinds]:
        await kind.make(-1)  # warm-up: first-use costs (templates, catalogues, statement caches) are not steady
    counter = 0

    async def run(kind: Kind, times: int) -> tuple[float, float]:
        nonlocal counter
        Clocked.spent = Clocked.cpu = 0.0
        Clocked.statements = 0
        count = 0
        for _ in range(times):
            counter += 1
            count += await kind.make(counter)
        kind.statements += Clocked.statements
        kind.updates += count
        return count / Clocked.spent, count / max(Clocked.cpu, 1e-9)

    for _round in range(rounds):
        echo_wall, echo_cpu = await run(echo, echo_runs)
        echo.wall.append(echo_wall)
        echo.cpu.append(echo_cpu)
        for kind, times in zip(kinds, runs, strict=True):
            wall, cpu = await run(kind, times)
            kind.wall.append(wall)
            kind.cpu.append(cpu)
            kind.ratio_wall.append(wall / echo_wall)
            kind.ratio_cpu.append(cpu / echo_cpu)
    for kind in [echo, *kinds]:
        print(f"{kind.label:<50} {kind.updates:>6} updates: {statistics.median(kind.wall):8.1f}/s wall,"
              f" {statistics.median(kind.cpu):8.1f}/s CPU ({kind.statements / kind.updates:.1f} SQL statements each)")
    if PROFILE:
        for kind, times in zip(kinds, runs, strict=True):
            Clocked.profiler = cProfile.Profile()
            Clocked.statements = 0
            profiled = 0
            try:
                for _ in range(max(5, times * rounds // 4)):
                    counter += 1
                    profiled += await kind.make(counter)
            finally:
                profiler, Clocked.profiler = Clocked.profiler, None
            print_profile(kind.label, profiler, profiled, Clocked.statements)


def echo_kind() -> Kind:
    tg = FakeTelegram()
    bot = tg.make_bot(TOKEN)
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    up = Updates(tg)
    user = up.user(5001, "Ann")

    async def one(_i: int) -> int:
        await Clocked.feed(dp, bot, up.text(user, "/help"))
        return 1

    return Kind("bare aiogram echo bot", one)


async def full_stack(tmp: Path, postgres: str | None = None) -> tuple[list[Kind], Any]:
    from bot.app import create_bot, create_dispatcher
    from bot.capabilities import CAPABILITIES
    from bot.fsm_storage import SqlStorage

    engine = create_engine(postgres or f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}")
    async with engine.begin() as conn:
        if postgres:
            await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    count_statements(engine)
    sessions = session_factory(engine)
    clock = FrozenClock(START)
    await import_structure(sessions, clock)
    async with sessions() as s:  # daily caps (0 = none): thousands of reports by one person are the point here
        from sqlalchemy import select as select_

        from bot.services.limits import URGENT_REPORTS
        from models import Community

        for c in (await s.execute(select_(Community))).scalars():
            c.settings = {**(c.settings or {}), "limits": {URGENT_REPORTS: 0}}
        await s.commit()
    # Throttling would (rightly) slow one person sending thousands of messages; not what is measured.
    settings = Settings(bot_token=TOKEN, database_url="sqlite+aiosqlite:///unused", admin_ids=[9000],
                        throttle_rate=1e9, _env_file=None)  # type: ignore[call-arg]
    dp = create_dispatcher(settings, sessions, clock=clock, storage=SqlStorage(sessions))
    dp["settings"] = settings
    tg = FakeTelegram()
    bot = create_bot(settings, session=tg)
    up = Updates(tg)
    captain = up.user(3001, "Zhang", "en")
    await dp.feed_update(bot, up.text(captain, "/start"))

    async def feed(update: Update) -> None:
        await Clocked.feed(dp, bot, update)

    async def help_(_i: int) -> int:
        await feed(up.text(captain, "/help"))
        return 1

    async def start(_i: int) -> int:
        await feed(up.text(captain, "/start"))
        return 1

    kinds = [Kind(HELP, help_), Kind(START_CMD, start)]
    if "reporting" in CAPABILITIES and importlib.util.find_spec("handlers.reporting") is not None:
        kinds.append(await card_kind(dp, bot, tg, up, sessions, clock))
        kinds.append(report_kind(dp, bot, tg, up, sessions))
    else:
        print(f"{'full stack: report submission':<50} not measured (the reporting capability is not enabled)")
    return kinds, engine


HELP, START_CMD = "full stack: /help (known member)", "full stack: /start (known member)"
CARD, REPORT = "full stack: button press on an issue card (group)", "full stack: report submission (all its updates)"


async def card_kind(dp: Dispatcher, bot: Any, tg: FakeTelegram, up: Updates, sessions: Any, clock: Any) -> Kind:
    """The building's captain presses buttons on an issue card in the team chat: "Deadline" opens its
    sub-menu, "Back" returns (each press re-checks the rights, reloads the issue, edits the buttons)."""
    from sqlalchemy import select

    from bot.sender import OutboxSender
    from bot.services import build_services
    from bot.services.reporting import Draft
    from models import Building

    team = -1001000000011
    up.group(team, "Building 1 team")
    tg.add_chat(3002, type="private")
    async with sessions() as s:
        svc = build_services(s, clock, dp["settings"])
        reporter = await svc.members.by_telegram_id(3002)
        actor = await svc.members.actor(reporter)
        b = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        draft = Draft(community_id=b.community_id, photos=["in-photo-bench"], photos_done=True, category="lighting",
                      building_id=b.id, place_done=True, description="The stairwell lamp is broken",
                      description_done=True, duplicates_done=True)
        await svc.reporting.create(reporter, actor, draft)
        await s.commit()
    await OutboxSender(bot, sessions, rate=10_000, clock=clock, private_interval=0, group_interval=0).drain()
    from bot.keyboards.issues import IssueCb

    card = next(c for c in tg.sent(team) if c.method == "sendPhoto")
    assert card.message is not None
    key = (team, card.message.message_id)
    issue_id = IssueCb.unpack(tg.messages[key]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]).id
    captain = up.user(3001, "Zhang", "en")

    async def one(i: int) -> int:
        data = IssueCb(action="deadline" if i % 2 else "back", id=issue_id).pack()
        await Clocked.feed(dp, bot, up.callback(captain, data, message=tg.messages[key]))
        return 1

    await one(1)
    return Kind(CARD, one)


def report_kind(dp: Dispatcher, bot: Any, tg: FakeTelegram, up: Updates, sessions: Any) -> Kind:
    """Drive /report → photo → the first sensible button of each question → send, for one resident each
    time. Generic on purpose (the flow's wording may change): it presses the first inline button that
    does not go back, cancel, edit or page, until an issue is stored."""
    from sqlalchemy import func, select

    from models import Issue

    skip = ("cancel", "back", "edit", "more", "no photo", "same", "came back", "取消", "返回", "修改", "更多", "◀", "▶",
            "⬅")
    user = up.user(3002, "Wang", "en")

    async def issues() -> int:
        async with sessions() as s:
            return int((await s.execute(select(func.count()).select_from(Issue))).scalar_one())

    async def one(_i: int) -> int:
        before = await issues()
        updates = [up.text(user, "/report"), up.photo(user)]
        for u in updates:
            await Clocked.feed(dp, bot, u)
        fed = len(updates)
        for _step in range(12):
            if await issues() > before:
                return fed
            # The newest message of the bot in this chat that carries inline buttons (a question may come
            # as two messages: one with the reply keyboard, one with the buttons).
            current: dict[str, Any] | None = None
            for call in reversed(tg.calls):
                if call.ok and call.chat_id == user.id and call.message is not None and (
                        call.method.startswith("send") or call.method.startswith("edit")):
                    message = tg.messages.get((user.id, call.message.message_id)) or {}
                    if (message.get("reply_markup") or {}).get("inline_keyboard"):
                        current = message
                        break
            markup = (current or {}).get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row
                       if b.get("callback_data") and not any(s in b.get("text", "").lower() for s in skip)]
            if not buttons:
                await Clocked.feed(dp, bot, up.text(user, "Bikes block the fire lane since Monday"))
            else:
                await Clocked.feed(dp, bot, up.callback(user, buttons[0]["callback_data"], message=current))
            fed += 1
        last = [c.plain for c in tg.sent(user.id)][-2:]
        raise RuntimeError(f"could not drive the report flow to a stored issue; the bot said last: {last!r}")

    return Kind(REPORT, one)


async def main(smoke: bool, postgres: str | None = None, rounds: int = 10, updates: int = 2000) -> None:
    n = 40 if smoke else updates
    rounds = 2 if smoke else rounds
    print(f"database: {'PostgreSQL ' + postgres.split('@')[-1] if postgres else 'SQLite (temporary file)'}")
    with tempfile.TemporaryDirectory() as tmp:
        kinds, engine = await full_stack(Path(tmp), postgres)
        echo = echo_kind()
        try:
            quick = [k for k in kinds if k.label != REPORT]
            await measure(echo, quick, [n // rounds] * len(quick), n // rounds, rounds)
            report = [k for k in kinds if k.label == REPORT]
            if report:  # a report is about a dozen updates: n // 20 reports against n // 2 echoes
                echo = echo_kind()
                await measure(echo, report, [max(1, n // 20 // rounds)], n // 2 // rounds, rounds)
        finally:
            await engine.dispose()
    targets = {HELP: 0.33, START_CMD: 0.33, CARD: 0.20, REPORT: 0.10}
    for kind in kinds:
        print(f"ratio {kind.label.removeprefix('full stack: '):<42}: {statistics.median(kind.ratio_wall):.2f} of echo"
              f" (wall), {statistics.median(kind.ratio_cpu):.2f} (CPU)  target ≥ {targets[kind.label]:.2f}")


def _asyncpg(url: str) -> str:
    from tests.benchmarks import _pg

    return _pg.asyncpg_url(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a quick run that only checks the script works")
    parser.add_argument("--profile", action="store_true", help="print where each kind of update spends its time")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (figures are their medians)")
    parser.add_argument("--updates", type=int, default=2000, help="updates per kind in all (a report: 1/20 of it)")
    parser.add_argument("--scratch", action="store_true",
                        help="with --postgres: a scratch database beside the URL's, dropped afterwards")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="run the full stack on this PostgreSQL database (its tables are dropped and created)")
    args = parser.parse_args()
    PROFILE = args.profile

    async def run() -> None:
        if args.postgres and args.scratch:
            from tests.benchmarks import _pg

            async with _pg.scratch_database(args.postgres, "bench_dispatch") as url:
                await main(args.smoke, url, args.rounds, args.updates)
        else:
            await main(args.smoke, args.postgres and _asyncpg(args.postgres), args.rounds, args.updates)

    asyncio.run(run())
