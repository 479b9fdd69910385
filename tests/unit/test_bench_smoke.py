"""The benchmark scripts stay runnable: their --smoke modes run in CI (the real runs do not)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("script", ["bench_dispatch", "bench_memory"])
def test_benchmark_smoke(script: str) -> None:
    proc = subprocess.run([sys.executable, "-m", f"tests.benchmarks.{script}", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    if script == "bench_dispatch":
        assert "bare aiogram echo bot" in out and "ratio /help" in out
    else:
        assert "idle RSS" in out and "MB" in out
