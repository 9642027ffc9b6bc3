"""Quality against cost: test AUROC of each backbone against the run's wall time, per label.

What a group choosing a framework or a default compares is not the best AUROC but what each
minute of training buys. Every trial of one or more sweeps (typically
``model=cnn,resnet,... trainer.max_epochs=4,12`` for single-label tasks and ``task=psd_all``)
becomes one point per label it was tested on: x the whole process's wall time
(``run_record.json``), y the test AUROC of that label, joined per backbone in order of time.
Reference points (another code's published or re-measured result) are drawn in black.

    python -m psdlab.sweeps.frontier SWEEP_DIR [SWEEP_DIR ...] --out docs/images/frontier.png \
        --point "MAJORANA_ACP:12.5:0.965:low_avse"
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psdlab.sweeps.summary import summarize
from psdlab.sweeps.trials import Trial, read_yaml

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LABELS = ("low_avse", "high_avse", "dcr", "lq")


@dataclass(frozen=True)
class FrontierPoint:
    """One (backbone, label) result of one run: wall time in minutes, test AUROC."""

    model: str
    label: str
    minutes: float
    auroc: float
    multi_label: bool = False
    epochs: int | None = None
    run: str = ""


def trial_points(trial: Trial) -> list[FrontierPoint]:
    """The points of one finished trial: one per label it was tested on (none if unfinished)."""
    if trial.status != "done" or trial.wall_time_s is None:
        return []
    cfg = read_yaml(trial.path / "config_resolved.yaml") or {}
    model = str(trial.overrides.get("model") or _target_name(cfg))
    targets = (((cfg.get("task") or {}).get("parts") or {}).get("psd") or {}).get("targets")
    targets = list(targets or [])
    minutes = trial.wall_time_s / 60.0
    points = []
    for label in targets:
        key = "test/auroc" if len(targets) == 1 else f"test/auroc_{label}"
        value = trial.test_metrics.get(key)
        if value is not None:
            points.append(
                FrontierPoint(
                    model, label, minutes, value, len(targets) > 1, trial.epochs, str(trial.path)
                )
            )
    return points


def _target_name(cfg: dict) -> str:
    target = str((cfg.get("model") or {}).get("_target_", "?"))
    return target.rsplit(".", 1)[-1].lower()


def collect(sweep_dirs: list[Path]) -> list[FrontierPoint]:
    """Every point of every finished trial of the sweeps."""
    return [p for d in sweep_dirs for t in summarize(d).trials for p in trial_points(t)]


def parse_reference(text: str) -> FrontierPoint:
    """``NAME:MINUTES:AUROC[:LABEL]`` (label: low_avse when omitted)."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"--point must be NAME:MINUTES:AUROC[:LABEL], got '{text}'")
    label = parts[3] if len(parts) == 4 else "low_avse"
    return FrontierPoint(parts[0], label, float(parts[1]), float(parts[2]))


def frontier_figure(points: list[FrontierPoint], references: list[FrontierPoint]) -> Figure:
    """One panel per label: AUROC vs wall time, a line per backbone (single-label runs solid,
    multi-label psd_all runs dashed), references as black markers."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from psdlab.plots.common import new_figure

    labels = [lab for lab in LABELS if any(p.label == lab for p in points + references)]
    ncols = min(len(labels), 2)
    fig, axes = new_figure(ncols, -(-len(labels) // ncols), size=(4.6, 3.6))
    models = sorted({p.model for p in points})
    colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
    for ax, label in zip(axes.ravel(), labels):
        series: dict[tuple[str, bool], list[FrontierPoint]] = defaultdict(list)
        for p in points:
            if p.label == label:
                series[(p.model, p.multi_label)].append(p)
        for (model, multi), pts in sorted(series.items()):
            pts.sort(key=lambda p: p.minutes)
            ax.plot(
                [p.minutes for p in pts],
                [p.auroc for p in pts],
                "o" + ("--" if multi else "-"),
                color=colors[model],
                label=f"{model}{' (psd_all)' if multi else ''}",
                ms=4,
            )
        for i, ref in enumerate(references):
            if ref.label == label:
                marker = "*PXD"[i % 4]
                ax.plot([ref.minutes], [ref.auroc], marker, ms=11, color="k", label=ref.model)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("wall time of the run [min]")
        ax.set_ylabel(f"test AUROC ({label})")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.ravel()[len(labels) :]:
        ax.set_visible(False)
    return fig


def write_csv(points: list[FrontierPoint], path: Path) -> Path:
    fields = ["model", "label", "multi_label", "epochs", "minutes", "auroc", "run"]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for p in sorted(points, key=lambda p: (p.label, p.model, p.minutes)):
            w.writerow({k: getattr(p, k) for k in fields})
    return path


def main(argv: list[str] | None = None) -> list[FrontierPoint]:
    parser = argparse.ArgumentParser(
        prog="python -m psdlab.sweeps.frontier",
        description="Test AUROC against wall time, per backbone and label, from sweeps.",
    )
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("frontier.png"))
    parser.add_argument("--point", action="append", default=[], help="NAME:MINUTES:AUROC[:LABEL]")
    args = parser.parse_args(argv)
    from psdlab.plots.common import save_figure
    from psdlab.utils.io import atomic_path

    points = collect(args.sweep_dirs)
    if not points:
        raise SystemExit(f"no finished trial with a test AUROC under {args.sweep_dirs}")
    refs = [parse_reference(text) for text in args.point]
    save_figure(frontier_figure(points, refs), args.out)
    with atomic_path(args.out.with_suffix(".csv")) as tmp:
        write_csv(points, tmp)
    for p in sorted(points, key=lambda p: (p.label, p.model, p.minutes)):
        print(f"{p.label:10s} {p.model:12s} {p.minutes:6.2f} min  AUROC {p.auroc:.4f}")
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')}")
    return points


if __name__ == "__main__":
    main()
