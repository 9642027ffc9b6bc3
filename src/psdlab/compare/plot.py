"""The comparison figure: one panel per feature, both sets as normalised histograms."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from psdlab.compare.features import FEATURES, Feature
from psdlab.compare.stats import display_range, transformed
from psdlab.plots.common import new_figure
from psdlab.utils.io import atomic_path

COLOURS = ("tab:blue", "tab:orange")


def _bins(a: np.ndarray, b: np.ndarray, clip: float, n: int = 60) -> np.ndarray:
    """Common bins over :func:`display_range`, so a few outliers cannot squash a panel."""
    lo, hi = display_range(a, b, clip)
    return np.linspace(lo, hi, n + 1)


def _title(feature: Feature, row: dict) -> str:
    ks, w = row.get("ks"), row.get("wasserstein_norm")
    if ks is None or not math.isfinite(ks):
        return f"{feature.label}\n(too few values to compare)"
    return f"{feature.label}\nKS {ks:.2f}, W/spread {w:.2f}"


def _panel(ax, feature: Feature, sets: Sequence, row: dict) -> None:
    vals = [transformed(s.values[feature.name], feature) for s in sets]
    ax.set_title(_title(feature, row), fontsize=9)
    ax.set_xlabel(f"log10 {feature.axis_label}" if feature.log else feature.axis_label, fontsize=8)
    ax.set_ylabel("normalised count", fontsize=8)
    if not any(v.size for v in vals):
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return
    bins = _bins(*vals, feature.clip)
    for s, v, colour in zip(sets, vals, COLOURS):
        if v.size:
            outside = np.mean((v < bins[0]) | (v > bins[-1]))
            label = f"{s.label} (n={v.size}, {100 * outside:.1f} % at edges)"
            ax.hist(
                np.clip(v, bins[0], bins[-1]),
                bins=bins,
                density=True,
                histtype="step",
                color=colour,
                lw=1.4,
                label=label,
            )
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)


def comparison_figure(sets: Sequence, rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write the 3x3 figure (one panel per :data:`FEATURES` entry) atomically to ``path``.

    Values outside the common range are piled into the edge bins rather than dropped, so
    each histogram still integrates to the whole set.
    """
    ncols = 3
    nrows = math.ceil(len(FEATURES) / ncols)
    fig, axes = new_figure(ncols, nrows, size=(4.2, 3.2))
    by_name = {r["feature"]: r for r in rows}
    for i, feature in enumerate(FEATURES):
        _panel(axes[i // ncols, i % ncols], feature, sets, by_name.get(feature.name, {}))
    for j in range(len(FEATURES), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.suptitle(f"{sets[0].label} vs {sets[1].label}: pulse features", fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
