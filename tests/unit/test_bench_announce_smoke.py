"""CI runs the announcement benchmark in a short smoke mode: real sender, Bot API stub with Telegram's
limits on, a small batch; it must lose nothing and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_announce_smoke() -> None:
    # A separate process: the script runs its own event loop and pins itself to a core.
    result = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_announce", "--smoke",
                             "--recipients", "40", "--timeout", "120"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "duplicates:      0" in result.stdout and "lost:            0" in result.stdout
