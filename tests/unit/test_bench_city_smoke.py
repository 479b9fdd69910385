"""The city-scale benchmark (issue 17) stays runnable: its --smoke mode runs in CI (5 communities, SQLite,
one worker; with TEST_POSTGRES_URL also on PostgreSQL with two workers sharing the digests)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_URL, ROOT


@pytest.mark.parametrize("postgres", [False, True] if POSTGRES_URL else [False])
def test_city_benchmark_smoke(postgres: bool) -> None:
    extra = ["--postgres", POSTGRES_URL] if postgres and POSTGRES_URL else []
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_city", "--smoke", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # Every community's digest reached the outbox once (office chat + staff member), and people were answered.
    assert "digests handed to the outbox: 10 of 10" in out, out
    assert "last digest enqueued:" in out and "/help during that window:" in out and "failed jobs: none" in out
