"""Benchmark: the daily digest must not slow down as the ledger's history grows.

Builds two databases with the same recent activity (60 days, ~40 issues a day, with events) and
10k or 1M historical issues (closed, older than that), then times the digest for one day on each and
prints both timings and the ratio. Target: ratio ≤ 2 (every query reads a bounded window through an
index; none scans the history).

The databases are temporary SQLite files, or with --postgres scratch PostgreSQL databases created next
to the one in URL (unique names, dropped afterwards; the URL's user needs CREATEDB). Either way the schema
comes from the models (metadata.create_all) and the rows are bulk-loaded (executemany on SQLite, COPY on
PostgreSQL), then the planner statistics are refreshed (ANALYZE; VACUUM ANALYZE on PostgreSQL).

    python -m tests.benchmarks.bench_digest            # 10k vs 1M on SQLite (about a minute to build)
    python -m tests.benchmarks.bench_digest --smoke    # 1k vs 5k, a few seconds (run by the test suite)
    python -m tests.benchmarks.bench_digest --postgres postgresql+asyncpg://user:pass@host:5432/db [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, create_engine

from tests.benchmarks import _pg

NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # Friday 09:00 in Shanghai
DAY = date(2026, 11, 20)
RECENT_DAYS = 60
PER_DAY = 40
BATCH = 50_000
CATEGORIES = ["litter", "clutter", "fire_lane", "ebike_charging", "posters", "parking", "road", "drainage",
              "lighting", "greenery", "waste_sorting", "facility", "other"]
EVENT_COLUMNS = ["issue_id", "at", "kind", "from_status", "to_status", "public"]


def _naive(value: datetime) -> datetime:
    # UTCDateTime stores naive UTC on every engine.
    return value.astimezone(UTC).replace(tzinfo=None)


def _ts(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DateTime format (of a naive UTC datetime).
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")


def structure() -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """The community, 3 areas, 30 buildings: table → (columns, rows)."""
    created = _naive(NOW - timedelta(days=3 * 365))
    areas, buildings = [], []
    for a in range(1, 4):
        areas.append((a, 1, f"a{a}", f"Area {a}"))
        for b in range(10):
            bid = (a - 1) * 10 + b + 1
            buildings.append((bid, 1, a, f"b{bid}", f"Building {bid}"))
    return {
        "communities": (["id", "key", "code", "name", "timezone", "locale", "settings", "next_issue_number",
                         "created_at"],
                        [(1, "nanchi", "NC", "Nanchi Community", "Asia/Shanghai", "zh_Hans", "{}", 1, created)]),
        "areas": (["id", "community_id", "key", "name"], areas),
        "buildings": (["id", "community_id", "area_id", "key", "name"], buildings),
    }


def issue_columns() -> tuple[list[str], dict[str, Any]]:
    from models import Issue

    defaults: dict[str, Any] = {}
    for c in Issue.__table__.columns:
        if c.default is not None and getattr(c.default, "is_scalar", False):
            defaults[c.name] = c.default.arg
        elif isinstance(c.type, Boolean):
            defaults[c.name] = False
        else:
            defaults[c.name] = None
    return [c.name for c in Issue.__table__.columns], defaults


def generate(history: int, seed: int = 7, *, describe: bool = False) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """The issues and their events, in batches: ("issues" | "issue_events", rows), datetimes naive UTC.
    Issue ids are explicit (1, 2, ...); events take theirs from the database. `describe` gives every issue
    a description of a few words (the desk's text search needs something to search; a separate random
    stream, so the other columns stay the same)."""
    rng = random.Random(seed)
    words = random.Random(seed + 99)
    buildings = [(b[0], b[2]) for b in structure()["buildings"][1]]
    names, defaults = issue_columns()
    number = 0

    def row(created_at: datetime, status: str, **kw: Any) -> tuple[Any, ...]:
        nonlocal number
        number += 1
        bid, aid = buildings[rng.randrange(len(buildings))]
        values = dict(defaults, id=number, community_id=1, number=number, reference=f"NC{number:07d}",
                      area_id=aid, building_id=bid, category=rng.choice(CATEGORIES), status=status,
                      description=_describe(words) if describe else "", created_at=_naive(created_at),
                      updated_at=_naive(created_at), **kw)
        for key in ("deadline_at", "accepted_at", "resolved_at", "closed_at"):
            if isinstance(values.get(key), datetime):
                values[key] = _naive(values[key])
        return tuple(values[n] for n in names)

    # History: closed issues between 3 years and RECENT_DAYS + 1 days ago, with two events each.
    start = NOW - timedelta(days=3 * 365)
    span = (3 * 365 - RECENT_DAYS - 1) * 86400
    batch: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    first_id = 1
    for i in range(history):
        at = start + timedelta(seconds=rng.randrange(span))
        batch.append(row(at, "closed", accepted_at=at + timedelta(hours=1), resolved_at=at + timedelta(days=2),
                         closed_at=at + timedelta(days=3), deadline_at=at + timedelta(days=3),
                         satisfaction=rng.randint(3, 5)))
        events.append((first_id + i, _naive(at + timedelta(hours=1)), "status", "new", "accepted", True))
        events.append((first_id + i, _naive(at + timedelta(days=2)), "escalated" if i % 50 == 0 else "status",
                       "accepted", "resolved", True))
        if len(batch) >= BATCH:
            yield "issues", batch
            yield "issue_events", events
            batch, events = [], []
    yield "issues", batch
    yield "issue_events", events
    batch, events = [], []
    # Recent activity: the same in every database (same seed offset).
    rng2 = random.Random(seed + 1)
    next_id = history + 1
    for d in range(RECENT_DAYS, -1, -1):
        for _ in range(PER_DAY if d else 4):
            at = NOW - timedelta(days=d, seconds=rng2.randrange(86400 if d else 3600))
            fate = rng2.random()
            kw: dict[str, Any] = {"deadline_at": at + timedelta(days=rng2.choice([1, 3, 7]))}
            status = "new"
            if fate < 0.85 and at + timedelta(hours=2) < NOW:
                kw["accepted_at"] = at + timedelta(minutes=rng2.randrange(10, 300))
                status = "accepted"
            if fate < 0.7 and at + timedelta(days=2) < NOW:
                kw["resolved_at"] = at + timedelta(hours=rng2.randrange(3, 48))
                status = "resolved"
            if fate < 0.6 and at + timedelta(days=3) < NOW:
                kw["closed_at"] = kw["resolved_at"] + timedelta(hours=12)
                kw["satisfaction"] = rng2.randint(2, 5)
                status = "closed"
            kw["urgent"] = rng2.random() < 0.05
            batch.append(row(at, status, **kw))
            events.append((next_id, _naive(at + timedelta(hours=3)), "escalated" if fate > 0.95 else "status",
                           "new", "reopened" if 0.6 <= fate < 0.62 else "accepted", True))
            next_id += 1
    yield "issues", batch
    yield "issue_events", events


WORDS = ("bikes", "block", "the", "fire", "lane", "lamp", "out", "by", "gate", "bags", "left", "near", "bins",
         "stairwell", "boxes", "water", "leak", "in", "basement", "door", "broken", "lift", "noise", "at", "night",
         "parking", "on", "grass", "wires", "charging", "e-bike", "hallway", "smell", "rubbish", "corner", "楼道",
         "堆放", "杂物", "消防", "通道", "占用", "路灯", "不亮", "漏水", "垃圾", "电梯", "故障", "噪音", "飞线", "充电")


def _describe(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


def build(path: Path, history: int, seed: int = 7, *, describe: bool = False) -> dict[str, Any]:
    """SQLite: create the schema and fill it: structure, recent activity, `history` old closed issues."""
    from models import Base
    from models.base import UTCDateTime

    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    def insert(table: str, names: list[str], rows: list[tuple[Any, ...]]) -> None:
        stamps = [i for i, n in enumerate(names) if isinstance(Base.metadata.tables[table].c[n].type, UTCDateTime)]
        converted = []
        for r in rows:
            values = list(r)
            for i in stamps:
                values[i] = _ts(values[i])
            converted.append(values)
        con.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                        converted)

    # The search index's triggers index row by row; a bulk load indexes once at the end instead (the same
    # index, built faster), and the triggers come back for whatever the benchmark writes later.
    from models.search import FTS_TABLE, sqlite_rebuild, sqlite_statements

    for suffix in ("ai", "ad", "au"):
        con.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")
    for table, (names, rows) in structure().items():
        insert(table, names, rows)
    columns = {"issues": issue_columns()[0], "issue_events": EVENT_COLUMNS}
    count = 0
    for table, rows in generate(history, seed, describe=describe):
        insert(table, columns[table], rows)
        count += len(rows) if table == "issues" else 0
    con.execute(sqlite_rebuild())
    for statement in sqlite_statements():
        con.execute(statement)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return {"history": history, "recent": count - history}


async def build_postgres(url: str, history: int, seed: int = 7, *, schema: str | None = None,
                         describe: bool = False) -> dict[str, Any]:
    """PostgreSQL: the same schema and rows as build(), loaded with COPY (into `schema` when given)."""
    from bot.db import create_engine as create_async_engine
    from models import Base

    engine = create_async_engine(url, **_pg.schema_args(schema))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()
    con = await _pg.connect(url)
    try:
        if schema:
            await con.execute(f'SET search_path TO "{schema}"')
        await con.execute("SET synchronous_commit = off")  # like SQLite's synchronous=OFF while building
        columns = {"issues": issue_columns()[0], "issue_events": EVENT_COLUMNS}
        count = 0
        async with con.transaction():
            for table, (names, rows) in structure().items():
                await con.copy_records_to_table(table, records=rows, columns=names)
            for table, rows in generate(history, seed, describe=describe):
                if rows:
                    await con.copy_records_to_table(table, records=rows, columns=columns[table])
                count += len(rows) if table == "issues" else 0
            # Explicit ids bypassed the sequences: move them past the rows, as a real database would be.
            for table in ("communities", "areas", "buildings", "issues"):
                await con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))")
        # A long-lived database is vacuumed and analyzed by autovacuum; a freshly loaded one not yet.
        await con.execute("VACUUM ANALYZE" if not schema else "ANALYZE")
    finally:
        await con.close()
    return {"history": history, "recent": count - history}


async def time_digest(url: str, runs: int) -> float:
    """Median seconds for building and rendering the digest dated DAY (chart excluded: it does not
    touch the database)."""
    from bot.clock import FrozenClock
    from bot.db import create_engine as create_async_engine
    from bot.db import session_factory
    from bot.services.digests import DigestService
    from models import Community

    engine = create_async_engine(url)
    timings = []
    try:
        sessions = session_factory(engine)
        for i in range(runs + 1):
            async with sessions() as session:
                community = await session.get(Community, 1)
                assert community is not None
                service = DigestService(session, FrozenClock(NOW))
                started = time.perf_counter()
                digest = await service.daily(community, DAY)
                service.render_daily(digest, "zh_Hans")
                elapsed = time.perf_counter() - started
                if i:  # the first run warms caches and the template
                    timings.append(elapsed)
    finally:
        await engine.dispose()
    return statistics.median(timings)


def _line(size: int, info: dict[str, Any], built: float, seconds: float) -> str:
    return (f"{size:>9,} historical issues (+{info['recent']:,} recent): built in {built:5.1f} s, "
            f"digest {seconds * 1000:7.1f} ms")


async def run_postgres(url: str, sizes: tuple[int, ...], runs: int) -> dict[int, float]:
    results = {}
    for size in sizes:
        async with _pg.scratch_database(url, "bench_digest") as db:
            started = time.perf_counter()
            info = await build_postgres(db, size)
            built = time.perf_counter() - started
            results[size] = await time_digest(db, runs)
        print(_line(size, info, built, results[size]), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="run on scratch PostgreSQL databases next to URL instead of SQLite files")
    args = parser.parse_args(argv)
    small, large = (1_000, 5_000) if args.smoke else (10_000, 1_000_000)
    if args.postgres:
        url = _pg.asyncpg_url(args.postgres)
        print(f"database: {_pg.label(url, asyncio.run(_pg.server_version(url)))}", flush=True)
        results = asyncio.run(run_postgres(url, (small, large), args.runs))
    else:
        print(f"database: {_pg.label(None)}", flush=True)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for size in (small, large):
                path = Path(tmp) / f"bench-{size}.sqlite3"
                started = time.perf_counter()
                info = build(path, size)
                built = time.perf_counter() - started
                results[size] = asyncio.run(time_digest(f"sqlite+aiosqlite:///{path}", args.runs))
                print(_line(size, info, built, results[size]), flush=True)
    ratio = results[large] / results[small]
    print(f"ratio {large:,} / {small:,}: {ratio:.2f}× (target ≤ 2×)")
    # Smoke sizes are too small for a meaningful ratio (noise dominates): they only prove the script works.
    return 0 if args.smoke or ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
