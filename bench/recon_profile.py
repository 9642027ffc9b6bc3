"""Masked reconstruction error by time in the window: where a pre-trained model finds real
pulses unlike the simulated ones (docs/results.md, "Domain gap").

    python bench/recon_profile.py CKPT FILE [FILE ...] [--edges -2 0 1.3 3 8] [--max-events 10000]

Scores each file with the checkpoint's own preprocessing and the seeded evaluation masks of
``task=pretrain`` (the same hidden samples as ``eval.py``), sums the squared error of the
hidden samples per window position, and prints a Markdown table of the mean error per time
bin (µs from tp0), one column per file. A single number per file (``test/recon_mse_masked``)
says how far apart two sets of pulses are; this says in which part of the pulse.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from psdlab.run.build import build_datamodule, figure_settings
from psdlab.run.evaluate import evaluation_data_config, load_run_config
from psdlab.tasks import Task
from psdlab.tasks.compat import load_task


def binned_profile(
    sq_sum: np.ndarray, n_sum: np.ndarray, times_us: np.ndarray, edges_us: Sequence[float]
) -> list[float]:
    """Mean squared error of the hidden samples in each [edge_i, edge_i+1) time bin: the sum
    of squared errors over the bin's positions over their count of hidden samples (nan where
    none is hidden)."""
    out = []
    for lo, hi in itertools.pairwise(edges_us):
        sel = (times_us >= lo) & (times_us < hi)
        n = n_sum[sel].sum()
        out.append(float(sq_sum[sel].sum() / n) if n > 0 else float("nan"))
    return out


def position_errors(
    task: Task, run_cfg: DictConfig, data_state: dict, file: str, max_events: int
) -> tuple[np.ndarray, ...]:
    """(sum of squared errors, count of hidden samples) per window position, and the
    positions' times in µs from tp0, over the first ``max_events`` events of ``file``.

    ``data_state`` is the checkpoint's data module state (the training split's scaler)."""
    part = task.parts["recon"]
    data_cfg = evaluation_data_config(run_cfg, OmegaConf.create({"test_files": file}))
    datamodule = build_datamodule(data_cfg, "test")
    datamodule.load_state_dict(data_state)
    sq_sum = n_sum = None
    seen = 0
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            prepared = task._prepare(batch)
            sq = part._sq_error(task.outputs(prepared)["recon"], prepared)
            hidden = prepared["recon_mask"].float()
            batch_sq, batch_n = (sq * hidden).sum(0), hidden.sum(0)
            sq_sum = batch_sq if sq_sum is None else sq_sum + batch_sq
            n_sum = batch_n if n_sum is None else n_sum + batch_n
            seen += len(sq)
            if seen >= max_events:
                break
    axis = figure_settings(datamodule)["waveform_axis"]
    times = axis["time_offset_us"] + np.arange(len(sq_sum)) * axis["sample_ns"] / 1000.0
    return sq_sum.numpy(), n_sum.numpy(), times


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", type=Path, help="a task=pretrain checkpoint")
    parser.add_argument("files", nargs="+", help="HDF5 files of the schema")
    parser.add_argument("--edges", type=float, nargs="+", default=None, help="bin edges, µs")
    parser.add_argument("--max-events", type=int, default=10000)
    args = parser.parse_args(argv)
    # the model, its run's config and its data state, once for all files
    run_cfg = load_run_config(args.ckpt, None)
    task = load_task(args.ckpt).eval()
    state = torch.load(args.ckpt, map_location="cpu", weights_only=True)
    data_state = state.get("WaveformDataModule") or {}
    columns, times = [], None
    for file in args.files:
        sq_sum, n_sum, times = position_errors(task, run_cfg, data_state, file, args.max_events)
        columns.append((sq_sum, n_sum))
    end = float(times[-1]) + float(times[1] - times[0])
    # clipped to the window, which both ends close
    inner = [e for e in (args.edges or [0.0, 1.3, 3.0]) if times[0] < e < end]
    edges = [float(times[0]), *sorted(inner), end]
    values = [binned_profile(sq, n, times, edges) for sq, n in columns]
    rows = ["| µs from tp0 | " + " | ".join(Path(f).name for f in args.files) + " |"]
    rows.append("| --- |" + " ---: |" * len(args.files))
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        rows.append(f"| {lo:g} to {hi:g} | " + " | ".join(f"{v[i]:.4f}" for v in values) + " |")
    totals = [float(sq.sum() / n.sum()) for sq, n in columns]
    rows.append("| whole window | " + " | ".join(f"{t:.4f}" for t in totals) + " |")
    table = "\n".join(rows)
    print(table)
    return table


if __name__ == "__main__":
    main()
