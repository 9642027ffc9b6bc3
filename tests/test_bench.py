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
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path, Path]:
    sys.path.insert(0, str(BENCH))
    import run as bench_cli

    docs = tmp_path_factory.mktemp("docs") / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHand-written context.\n")
    work = tmp_path_factory.mktemp("work")
    rows = bench_cli.main(["--tiny", "--docs", str(docs), "--workdir", str(work)])
    return rows, docs, work


def test_tiny_benchmark_has_expected_rows(bench_run: tuple[list[dict], Path, Path]) -> None:
    rows, _, _ = bench_run
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


def test_docs_keep_hand_written_text(bench_run: tuple[list[dict], Path, Path]) -> None:
    _, docs, _ = bench_run
    text = docs.read_text()
    assert "Hand-written context." in text
    for section in ("meta", "simulate", "train", "data"):
        assert f"<!-- bench:{section}:start -->" in text
    assert "| train mlp | psdlab (Lightning, defaults) |" in text


def test_gpu_section_runs_on_the_cpu(bench_run: tuple[list[dict], Path, Path]) -> None:
    """The GPU section's code path (bf16 loops, psdlab's bf16-mixed Trainer, the lecture
    loop with per-batch copies) on the CPU, so it is not first run on a lent GPU."""
    _, _, work = bench_run
    import gpu_bench

    rows = gpu_bench.run("tiny", work, next(work.glob("sim_*.hdf5")), device="cpu")
    names = {(r["group"], r["name"]) for r in rows}
    for model in ("mlp", "cnn"):
        for label in ("psdlab / raw", "psdlab / lecture", "raw bf16 loop, batch 64"):
            assert (f"gpu {model}", label) in names
    for r in rows:
        assert math.isfinite(r["value"]) and r["value"] > 0, r


def test_lecture_pipeline_feeds_psdlab_numbers(compose_train_cfg, tiny_dataset, monkeypatch):
    """The lecture loop is a fair baseline: its per-item preprocessing gives the same inputs
    and labels as psdlab's cache for the same events."""
    import numpy as np

    sys.path.insert(0, str(BENCH))
    import lecture

    from psdlab.run.build import build_datamodule

    cfg = compose_train_cfg("model=mlp", "task=avse")
    monkeypatch.setattr(lecture, "BASELINE", (0, cfg.preprocess.baseline.stop))
    dm = build_datamodule(cfg.data, "fit")
    ours = dm._dataset("train")
    batch = ours[np.arange(len(ours))]
    file = tiny_dataset["train"][0]
    data = lecture.load_file(file)
    items = lecture.LectureDataset(data["waveform"], data["tp0"], data["label"])
    row_of = {int(i): k for k, i in enumerate(data["id"])}
    in_file = [j for j, i in enumerate(batch["id"].tolist()) if i in row_of]
    assert len(in_file) > 100
    for j in in_file:
        x, y = items[row_of[int(batch["id"][j])]]
        assert x.shape == batch["waveform"][j].shape
        np.testing.assert_allclose(x.numpy(), batch["waveform"][j].numpy(), atol=1e-5)
        assert float(y) == float(batch["labels"][j, 0])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_lecture_network_is_psdlab_network_in_stock_layers(model):
    """Same seed, same function: the lecture's stock-layer network starts from psdlab's
    weights, so the two training loops differ only in their machinery."""
    import torch

    sys.path.insert(0, str(BENCH))
    import lecture

    torch.manual_seed(0)
    ours = lecture.build_model(model, 1000).eval()
    torch.manual_seed(0)
    stock = lecture.build_model(model, 1000, stock=True).eval()
    layers = {type(m) for m in stock.modules()}
    assert torch.nn.Conv2d not in layers
    if model == "cnn":
        assert torch.nn.Conv1d in layers and torch.nn.MaxPool1d in layers
    x = torch.randn(8, 1, 1000)
    torch.testing.assert_close(stock(x), ours(x), rtol=1e-5, atol=1e-5)


def test_backbone_step_table_and_stock_rewrite():
    """bench/backbone_step.py: one row per model (and per stock 1-D rewrite), positive times;
    the stock rewrite computes the same function."""
    import torch

    sys.path.insert(0, str(BENCH))
    import backbone_step

    argv = ["cnn", "resnet:norm=batch", "inception", "--stock", "--rounds", "1"]
    threads = torch.get_num_threads()
    try:
        rows = backbone_step.main([*argv, "--batch", "4", "--length", "200", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)  # main() sets the process-wide thread count
    assert [r["name"] for r in rows][:2] == ["cnn", "cnn (stock 1-D)"]
    assert len(rows) == 6
    assert all(r["min_ms"] > 0 and r["params"] > 0 for r in rows)
    assert rows[0]["ratio"] == 1.0
    for spec in ("resnet:norm=batch", "inception"):
        torch.manual_seed(0)
        net, _ = backbone_step.build(spec, (1, 200), stock=False)
        stock = torch.nn.Sequential(backbone_step.Stock1D(net[0]), net[1]).eval()
        x = torch.randn(3, 1, 200)
        torch.testing.assert_close(stock(x), net.eval()(x), rtol=1e-5, atol=1e-5)
