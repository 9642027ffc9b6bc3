"""Figure of a sweep: the monitored validation metric against each swept parameter.

One panel per parameter, one point per scored trial, the best trial highlighted, so the
sensitivity to each axis (and an axis worth refining) is visible at a glance.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from psdlab.sweeps.trials import finite_float
from psdlab.utils.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from psdlab.sweeps.summary import SweepSummary

PLOT_FILE = "sweep_summary.png"


def sweep_figure(summary: SweepSummary) -> Figure | None:
    """Metric vs parameter panels; None when no trial has a metric or nothing was swept."""
    # matplotlib only when a figure is drawn: the Optuna sweeper imports this package for
    # its storage factory, and `--no-plot` summaries need no figure
    from psdlab.plots.common import new_figure

    scored = [t for t in summary.trials if t.best_val is not None]
    params = summary.params
    if not scored or not params:
        return None
    ncols = min(len(params), 3)
    nrows = math.ceil(len(params) / ncols)
    fig, axes = new_figure(ncols, nrows, size=(4.0, 3.2))
    flat = axes.ravel()
    for ax, param in zip(flat, params):
        raw = [t.overrides.get(param) for t in scored]
        nums = [finite_float(v) for v in raw]
        if all(v is not None for v in nums):
            xs = nums
            positive = [x for x in xs if x > 0]
            if len(positive) == len(xs) and max(xs) / min(xs) > 50:
                ax.set_xscale("log")
        else:
            labels = list(dict.fromkeys(str(v) for v in raw))
            xs = [labels.index(str(v)) for v in raw]
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ys = [t.best_val for t in scored]
        colors = ["tab:red" if t.status == "failed" else "tab:blue" for t in scored]
        ax.scatter(xs, ys, c=colors, s=22, alpha=0.8)
        if summary.best is not None and summary.best in scored:
            i = scored.index(summary.best)
            ax.scatter([xs[i]], [ys[i]], marker="*", s=160, c="tab:orange", label="best")
            ax.legend(loc="best", fontsize=8)
        ax.set_xlabel(param)
        ax.set_ylabel(f"best {summary.monitor or 'val'}")
        ax.grid(alpha=0.3)
    for ax in flat[len(params) :]:
        ax.set_visible(False)
    fig.suptitle(f"{summary.sweep_dir.name}: {len(scored)} trials ({summary.mode})")
    return fig


def write_plot(summary: SweepSummary, path: str | Path | None = None) -> Path | None:
    """The monitored metric against each swept parameter, as a PNG (None: nothing to plot)."""
    fig = sweep_figure(summary)
    if fig is None:
        return None
    target = Path(path) if path else summary.sweep_dir / PLOT_FILE
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return target
