"""Idle memory: the bot process with 100,000 members and 1,000,000 issues in its SQLite database.

    python -m tests.benchmarks.bench_memory            # the real run (building the database takes a while)
    python -m tests.benchmarks.bench_memory --smoke    # 1,000 members and 10,000 issues

Builds the database (migrations, the sample structure, then a fast bulk insert), starts `python main.py`
against the local Bot API server, lets it settle (start-up, first ticks, the outbox sender idle), and
prints its resident set size from /proc/<pid>/status (VmRSS). Target from issue 7: ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import insert

from models import Issue, Member
from tests.e2e.test_faults import bot_env, cleanup, control, run_cli, start_bot, start_stub, wait_until

CATEGORIES = ["litter", "clutter", "fire_lane", "parking", "road", "drainage", "lighting", "other"]
STATUSES = ["new", "accepted", "resolved", "closed", "rejected"]


def build_database(path: Path, members: int, issues: int) -> float:
    """Bulk insert with SQLAlchemy Core executemany (Python-side defaults applied) in big transactions."""
    started = time.perf_counter()
    engine = create_sync_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        community_id, area_id, building_id = conn.exec_driver_sql(
            "SELECT community_id, area_id, id FROM buildings ORDER BY id LIMIT 1").one()
        now = datetime.now(UTC)
        batch = 50_000
        for start in range(0, members, batch):
            conn.execute(insert(Member), [
                {"telegram_id": 1_000_000_000 + i, "first_name": f"Resident {i}", "language_code": "zh-hans",
                 "prefs": {}, "created_at": now} for i in range(start, min(members, start + batch))])
            conn.commit()
        for start in range(0, issues, batch):
            rows = []
            for i in range(start, min(issues, start + batch)):
                # A ledger as it looks after years of use: nearly everything closed out (销号), a few
                # hundred in progress with deadlines ahead, and the last few reports still new.
                created = now - timedelta(minutes=2 * i + 1)
                row = {"community_id": community_id, "number": 10_000 + i, "reference": f"NC{10_000 + i}",
                       "area_id": area_id, "building_id": building_id, "category": CATEGORIES[i % 8],
                       "description": "Bags of rubbish by entrance 2 since Monday",
                       "reporter_id": 1 + i % max(members, 1), "created_at": created, "updated_at": created}
                if i < 20:
                    row["status"] = "new"
                elif i < 600:
                    row.update(status="accepted", accepted_at=created + timedelta(minutes=30),
                               deadline_at=now + timedelta(days=3))
                else:
                    row.update(status=STATUSES[3 + i % 2], accepted_at=created + timedelta(minutes=30),
                               resolved_at=created + timedelta(days=1), closed_at=created + timedelta(days=2))
                rows.append(row)
            conn.execute(insert(Issue), rows)
            conn.commit()
    engine.dispose()
    return time.perf_counter() - started


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def measure(members: int, issues: int, settle: float) -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stub, api = start_stub(tmp)
        with cleanup(stub) as procs:
            db_path = tmp / "bot.sqlite3"
            env = bot_env(f"sqlite+aiosqlite:///{db_path}", api, TICK_SECONDS="5")
            run_cli(env, "import", str(Path(__file__).resolve().parents[1] / "data" / "structure.yaml"))
            took = build_database(db_path, members, issues)
            size = db_path.stat().st_size / 1_048_576
            count = sqlite3.connect(db_path).execute("SELECT count(*) FROM issues").fetchone()[0]
            print(f"database: {members:,} members, {count:,} issues, {size:,.0f} MB, built in {took:.0f} s")
            bot = start_bot(tmp, env)
            procs.append(bot)
            wait_until(lambda: control(api, "stats")["methods"].get("getMe", 0) >= 1, 180, "start-up", (bot,))
            time.sleep(settle)
            samples = []
            for _ in range(5):
                samples.append(rss_kb(bot.popen.pid))
                time.sleep(0.5)
            bot.stop()
            rss = max(samples)
            print(f"idle RSS after start-up settled: {rss / 1024:.1f} MB (target ≤ 150 MB)")
            return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="1,000 members and 10,000 issues")
    args = parser.parse_args()
    if args.smoke:
        measure(1_000, 10_000, settle=2)
    else:
        measure(100_000, 1_000_000, settle=15)


if __name__ == "__main__":
    main()
