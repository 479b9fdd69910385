"""The digest benchmark in smoke mode: the script runs, and history does not slow the digest down."""

from __future__ import annotations

from tests.benchmarks import bench_digest


def test_benchmark_smoke(capsys: object) -> None:
    code = bench_digest.main(["--smoke", "--runs", "3"])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "ratio" in out
    assert code == 0, out
