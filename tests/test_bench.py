"""Smoke test of the benchmark suite: ``python bench/run.py --tiny`` code path, in seconds.

Only the shape of the output is checked (expected rows, finite positive numbers): the
throughput targets depend on the machine and its load, so CI does not assert them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    sys.path.insert(0, str(BENCH))
    import run as bench_cli

    docs = tmp_path_factory.mktemp("docs") / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHand-written context.\n")
    work = tmp_path_factory.mktemp("work")
    rows = bench_cli.main(["--tiny", "--docs", str(docs), "--workdir", str(work)])
    return rows, docs


def test_tiny_benchmark_has_expected_rows(bench_run: tuple[list[dict], Path]) -> None:
    rows, _ = bench_run
    names = {(r["group"], r["name"]) for r in rows}
    for model in ("mlp", "cnn"):
        for label in (
            "psdlab (Lightning, defaults)",
            "raw PyTorch loop",
            "lecture-style loop",
            "psdlab / raw",
            "psdlab / lecture",
            "training FLOPs per waveform",
        ):
            assert (f"train {model}", label) in names
        assert (f"predict {model}", "psdlab trainer.predict") in names
    assert ("hardware", "torch.mm float32 rate") in names
    assert any(g == "simulate" for g, _ in names)
    assert any(g == "data" for g, _ in names)
    for r in rows:
        assert math.isfinite(r["value"]) and r["value"] > 0, r


def test_docs_keep_hand_written_text(bench_run: tuple[list[dict], Path]) -> None:
    _, docs = bench_run
    text = docs.read_text()
    assert "Hand-written context." in text
    for section in ("meta", "simulate", "train", "data"):
        assert f"<!-- bench:{section}:start -->" in text
    assert "| train mlp | psdlab (Lightning, defaults) |" in text
