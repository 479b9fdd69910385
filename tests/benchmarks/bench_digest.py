"""Benchmark: the daily digest must not slow down as the ledger's history grows.

Builds two SQLite databases with the same recent activity (60 days, ~40 issues a day, with events) and
10k or 1M historical issues (closed, older than that), then times the digest for one day on each and
prints both timings and the ratio. Target: ratio ≤ 2 (every query reads a bounded window through an
index; none scans the history).

    python -m tests.benchmarks.bench_digest            # 10k vs 1M (about a minute to build)
    python -m tests.benchmarks.bench_digest --smoke    # 1k vs 5k, a few seconds (run by the test suite)
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, create_engine

NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # Friday 09:00 in Shanghai
DAY = date(2026, 11, 20)
RECENT_DAYS = 60
PER_DAY = 40
CATEGORIES = ["litter", "clutter", "fire_lane", "ebike_charging", "posters", "parking", "road", "drainage",
              "lighting", "greenery", "waste_sorting", "facility", "other"]


def _ts(value: datetime | None) -> str | None:
    # UTCDateTime stores naive UTC; SQLAlchemy's SQLite DateTime format.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, history: int, seed: int = 7) -> dict[str, Any]:
    """Create the schema and fill it: structure, recent activity, `history` old closed issues."""
    from models import Base

    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    created = _ts(NOW - timedelta(days=3 * 365))
    con.execute("INSERT INTO communities (id, key, code, name, timezone, locale, settings, next_issue_number, "
                "created_at) VALUES (1, 'nanchi', 'NC', 'Nanchi Community', 'Asia/Shanghai', 'zh_Hans', '{}', 1, ?)",
                (created,))
    buildings: list[tuple[int, int]] = []
    for a in range(1, 4):
        con.execute("INSERT INTO areas (id, community_id, key, name) VALUES (?, 1, ?, ?)", (a, f"a{a}", f"Area {a}"))
        for b in range(10):
            bid = (a - 1) * 10 + b + 1
            con.execute("INSERT INTO buildings (id, community_id, area_id, key, name) VALUES (?, 1, ?, ?, ?)",
                        (bid, a, f"b{bid}", f"Building {bid}"))
            buildings.append((bid, a))

    from models import Issue

    columns = [c for c in Issue.__table__.columns if c.name != "id"]
    defaults: dict[str, Any] = {}
    for c in columns:
        if c.default is not None and getattr(c.default, "is_scalar", False):
            defaults[c.name] = c.default.arg
        elif isinstance(c.type, Boolean):
            defaults[c.name] = False
        else:
            defaults[c.name] = None
    names = [c.name for c in columns]
    sql = f"INSERT INTO issues ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    ev_sql = "INSERT INTO issue_events (issue_id, at, kind, from_status, to_status, public) VALUES (?, ?, ?, ?, ?, 1)"
    number = 0

    def row(created_at: datetime, status: str, **kw: Any) -> tuple[Any, ...]:
        nonlocal number
        number += 1
        bid, aid = buildings[rng.randrange(len(buildings))]
        values = dict(defaults, community_id=1, number=number, reference=f"NC{number:07d}", area_id=aid,
                      building_id=bid, category=rng.choice(CATEGORIES), status=status, description="",
                      created_at=_ts(created_at), updated_at=_ts(created_at), **kw)
        for key in ("deadline_at", "accepted_at", "resolved_at", "closed_at"):
            if isinstance(values.get(key), datetime):
                values[key] = _ts(values[key])
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
        events.append((first_id + i, _ts(at + timedelta(hours=1)), "status", "new", "accepted"))
        events.append((first_id + i, _ts(at + timedelta(days=2)), "escalated" if i % 50 == 0 else "status",
                       "accepted", "resolved"))
        if len(batch) >= 50_000:
            con.executemany(sql, batch)
            con.executemany(ev_sql, events)
            batch, events = [], []
    con.executemany(sql, batch)
    con.executemany(ev_sql, events)
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
            events.append((next_id, _ts(at + timedelta(hours=3)), "escalated" if fate > 0.95 else "status",
                           "new", "reopened" if 0.6 <= fate < 0.62 else "accepted"))
            next_id += 1
    con.executemany(sql, batch)
    con.executemany(ev_sql, events)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return {"history": history, "recent": next_id - history - 1}


async def time_digest(path: Path, runs: int) -> float:
    """Median seconds for building and rendering the digest dated DAY (chart excluded: it does not
    touch the database)."""
    from bot.clock import FrozenClock
    from bot.db import create_engine as create_async_engine
    from bot.db import session_factory
    from bot.services.digests import DigestService
    from models import Community

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    small, large = (1_000, 5_000) if args.smoke else (10_000, 1_000_000)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (small, large):
            path = Path(tmp) / f"bench-{size}.sqlite3"
            started = time.perf_counter()
            info = build(path, size)
            built = time.perf_counter() - started
            results[size] = asyncio.run(time_digest(path, args.runs))
            print(f"{size:>9,} historical issues (+{info['recent']:,} recent): built in {built:5.1f} s, "
                  f"digest {results[size] * 1000:7.1f} ms")
    ratio = results[large] / results[small]
    print(f"ratio {large:,} / {small:,}: {ratio:.2f}× (target ≤ 2×)")
    # Smoke sizes are too small for a meaningful ratio (noise dominates): they only prove the script works.
    return 0 if args.smoke or ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
