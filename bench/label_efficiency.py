"""Summarise a label-efficiency multirun: test AUROC vs labelled events, scratch vs
pre-trained (docs/results.md, "Self-supervised pre-training").

    python bench/label_efficiency.py SWEEP_DIR [SWEEP_DIR ...] [--out docs/figures/label_efficiency.png]

Reads each trial's ``.hydra/overrides.yaml`` (``data.max_train_events``, ``pretrained``,
``seed``) and ``metrics.json`` (``test/auroc``). A trial's mode is ``scratch`` or the name of
the pre-training run its checkpoint comes from (``<run>/checkpoints/best.ckpt``), so several
pre-trainings (masked reconstruction, with DSP targets) can be compared in one call. For each
pre-training: mean, sample standard deviation and the per-seed values per size against
scratch as a Markdown table, then one line per size that sets the paired gain against the
issue's yardstick (the seed-to-seed spread of each column); one curve per mode.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml


def read_trials(sweep_dir: Path) -> dict[tuple[str, str], dict[int, float]]:
    """(size, mode) -> {seed: test AUROC}; size "all" for null, mode scratch or the
    pre-training run's name."""
    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for trial in sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file()):
        items = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        ov = dict(item.split("=", 1) for item in items)
        size = ov.get("data.max_train_events", "null")
        size = "all" if size in ("null", "None") else size
        mode = pretraining_name(ov.get("pretrained", "null"))
        auroc = json.loads((trial / "metrics.json").read_text()).get("test/auroc")
        if auroc is not None:
            out[(size, mode)][int(ov.get("seed", 0))] = float(auroc)
    return out


def pretraining_name(checkpoint: str) -> str:
    """``scratch`` for no checkpoint, else the run directory holding ``checkpoints/``."""
    if checkpoint in ("null", "None", ""):
        return "scratch"
    path = Path(checkpoint)
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem


def pretrained_modes(results: dict[tuple[str, str], dict[int, float]]) -> list[str]:
    return sorted({m for _, m in results if m != "scratch"})


def _size_key(size: str) -> float:
    return float("inf") if size == "all" else float(size)


def markdown_table(results: dict[tuple[str, str], dict[int, float]], mode: str) -> str:
    """Mean ± sample std of scratch and of the pre-training ``mode``, the paired gain (same
    seed = same labelled subset) and the per-seed values in seed order."""
    rows = [
        "| labelled events | scratch AUROC | pre-trained AUROC | gain (mean ± std of paired) "
        "| per seed: scratch / pre-trained |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for size in sorted({s for s, m in results if m in ("scratch", mode)}, key=_size_key):
        sc, pt = results.get((size, "scratch"), {}), results.get((size, mode), {})
        cells = []
        for vals in (sc, pt):
            v = np.array([vals[k] for k in sorted(vals)])
            sd = f"{v.std(ddof=1):.4f}" if len(v) > 1 else "-"
            cells.append(f"{v.mean():.4f} ± {sd}" if len(v) else "-")
        both = sorted(set(sc) & set(pt))
        diff = np.array([pt[k] - sc[k] for k in both])
        gain = "-"
        if len(diff):
            sd = f"{diff.std(ddof=1):.4f}" if len(diff) > 1 else "-"
            gain = f"{diff.mean():+.4f} ± {sd}"
        seeds = "; ".join(
            f"{k}: " + " / ".join(f"{v[k]:.4f}" if k in v else "-" for v in (sc, pt))
            for k in sorted(set(sc) | set(pt))
        )
        rows.append(f"| {size} | {cells[0]} | {cells[1]} | {gain} | {seeds} |")
    return "\n".join(rows)


def gain_summary(results: dict[tuple[str, str], dict[int, float]], mode: str) -> list[str]:
    """Per size with both modes on two or more common seeds: how many seeds gain, the mean
    paired gain with its standard error, and whether it exceeds the seed-to-seed spread
    (sample standard deviation) of the scratch and of the pre-trained column."""
    lines = []
    for size in sorted({s for s, _ in results}, key=_size_key):
        sc, pt = results.get((size, "scratch"), {}), results.get((size, mode), {})
        both = sorted(set(sc) & set(pt))
        if len(both) < 2:
            continue
        a, b = np.array([sc[k] for k in both]), np.array([pt[k] for k in both])
        diff = b - a
        gain, sem = diff.mean(), diff.std(ddof=1) / np.sqrt(len(diff))
        spread_a, spread_b = a.std(ddof=1), b.std(ddof=1)
        verdict = "above" if gain > max(spread_a, spread_b) else "not above"
        lines.append(
            f"{size}: {(diff > 0).sum()} of {len(diff)} seeds gain; gain {gain:+.4f} "
            f"(standard error {sem:.4f}), {verdict} the seed-to-seed spread "
            f"(scratch {spread_a:.4f}, pre-trained {spread_b:.4f})"
        )
    return lines


def plot(
    results: dict[tuple[str, str], dict[int, float]],
    path: Path,
    n_all: int,
    ylabel: str = "test AUROC (low A/E)",
) -> None:
    from psdlab.plots.common import new_figure

    fig, axes = new_figure(size=(5.5, 4.0))
    ax = axes[0, 0]
    colors = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange")
    for mode, color in zip(["scratch", *pretrained_modes(results)], colors, strict=False):
        sizes = sorted({s for s, m in results if m == mode}, key=_size_key)
        x = [n_all if s == "all" else int(s) for s in sizes]
        vals = [np.array(list(results[(s, mode)].values())) for s in sizes]
        mean = [v.mean() for v in vals]
        sd = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals]
        ax.errorbar(x, mean, yerr=sd, marker="o", capsize=3, color=color, label=mode)
        for xi, v in zip(x, vals):
            ax.plot([xi] * len(v), v, ".", color=color, alpha=0.4)
    if ("all", "scratch") in results:
        ref = np.mean(list(results[("all", "scratch")].values()))
        ax.axhline(ref, color="0.5", ls="--", lw=0.8, label="scratch, all labels")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training events")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=None, help="figure path (PNG)")
    parser.add_argument("--n-all", type=int, default=32000, help="x position of 'all'")
    parser.add_argument("--ylabel", default="test AUROC (low A/E)", help="y-axis label")
    args = parser.parse_args()
    results: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for sweep_dir in args.sweep_dirs:
        for key, values in read_trials(sweep_dir).items():
            results[key].update(values)
    for mode in pretrained_modes(results):
        print(f"## {mode}\n")
        print(markdown_table(results, mode))
        print()
        print("\n".join(gain_summary(results, mode)))
        print()
    if args.out:
        plot(results, args.out, args.n_all, args.ylabel)


if __name__ == "__main__":
    main()
