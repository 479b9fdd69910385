"""CI runs the announcement benchmark in a short smoke mode: real sender, Bot API stub with Telegram's
limits on, a small batch; it must lose nothing and duplicate nothing. On PostgreSQL too (a scratch
database) when TEST_POSTGRES_URL is set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_announce_smoke(backend: str) -> None:
    # A separate process: the script runs its own event loop and pins itself to a core.
    database = ["--postgres", POSTGRES_URL] if backend == "postgres" and POSTGRES_URL else []
    result = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_announce", "--smoke",
                             "--recipients", "40", "--timeout", "120", *database], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "duplicates:      0" in result.stdout and "lost:            0" in result.stdout
    assert ("PostgreSQL" if database else "SQLite") in result.stdout
