"""The benchmark scripts stay runnable: their --smoke modes run in CI (the real runs do not). The digest
benchmark's SQLite smoke is tests/unit/test_digests_bench.py; its PostgreSQL one is here, collected
only when TEST_POSTGRES_URL is set."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_URL, ROOT


@pytest.mark.parametrize("script", ["bench_dispatch", "bench_memory"])
def test_benchmark_smoke(script: str) -> None:
    proc = subprocess.run([sys.executable, "-m", f"tests.benchmarks.{script}", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    if script == "bench_dispatch":
        assert "bare aiogram echo bot" in out and "ratio /help" in out
        assert "ratio button press on an issue card" in out and "ratio report submission" in out
    else:
        assert "idle RSS" in out and "MB" in out


def test_dispatch_profile_smoke() -> None:
    """--profile prints, per kind of update, its SQL statements and where its time goes."""
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_dispatch", "--smoke", "--profile"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "profile of full stack: /help" in proc.stdout and "SQL statements per update" in proc.stdout
    assert "SQLAlchemy ORM" in proc.stdout and "heaviest functions" in proc.stdout


def test_process_benchmark_smoke() -> None:
    """main.py and a bare aiogram bot against the Bot API stand-in, a few people sending /help at once."""
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_process", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ratio known people" in proc.stdout and "ratio first contact" in proc.stdout
    assert "Traceback" not in proc.stdout


if POSTGRES_URL:

    def test_dispatch_benchmark_smoke_on_postgres() -> None:
        proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_dispatch", "--smoke", "--scratch",
                               "--postgres", POSTGRES_URL], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "database: PostgreSQL" in proc.stdout and "ratio /help" in proc.stdout

    def test_digest_benchmark_smoke_on_postgres() -> None:
        proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_digest", "--smoke", "--runs", "3",
                               "--postgres", POSTGRES_URL], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "database: PostgreSQL" in proc.stdout and "ratio" in proc.stdout


def test_dashboard_benchmark_smoke() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_dashboard", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ledger page query" in proc.stdout and "slowest:" in proc.stdout and "reference search" in proc.stdout


def test_minute_benchmark_smoke() -> None:
    """main.py against the Bot API stand-in with Telegram's limits on: a cleaning-day reminder to 50
    residents while 20 of them tap "I'll join" and 10 send /cleaning. Only correctness is asserted (the
    script exits 1 otherwise): every tap answered and recorded once, every reminder delivered once, no
    "database is locked"."""
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_minute", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "taps recorded:      20 of 20 (members with more than one row: 0)" in out
    assert "unanswered 0" in out and "duplicates 0, lost 0" in out and "database is locked: 0" in out
    assert "Traceback" not in out
