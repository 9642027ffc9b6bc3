"""Figures of the physics report (pyplot-free, so safe in threads and headless runs)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from psdlab.metrics.physics import roc_points
from psdlab.plots.classification import acceptances, mark_point, style_roc_axes
from psdlab.plots.common import new_figure
from psdlab.report.spectra import CUT_COLOURS


def roc_figure(
    target: str,
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    aucs: dict[str, float],
    thresholds: Mapping[str, float] | None = None,
) -> Figure:
    """ROC curves; ``curves[name] = (score, label, weight)``, ``aucs[name]`` in the legend.

    The convention of all psdlab ROCs (:mod:`psdlab.plots.classification`): signal
    acceptance against background acceptance on a log axis. ``thresholds`` (``network`` and
    ``classical``: each cut at 90 % DEP) are marked on their curves, so the point a physicist
    would run at is visible, not only the area. Names ending in "truth" are drawn dashed:
    the same scores judged against simulated truth instead of the classical label.
    """
    fig, axes = new_figure(size=(6.6, 5.2))
    ax = axes[0, 0]
    n_bkg = max((int((~np.asarray(c[1]).astype(bool)).sum()) for c in curves.values()), default=1)
    style_roc_axes(ax, n_bkg, f"ROC: {target} (circles: cuts keeping 90 % of DEP)")
    for name, (score, label, weight) in curves.items():
        fpr, tpr = roc_points(score, label, weight)
        if fpr.size == 0:
            continue
        who = "network" if name.startswith("network") else "classical"
        colour = CUT_COLOURS[who]
        style = "--" if "truth" in name else "-"
        auc = aucs.get(name, np.nan)
        ax.plot(fpr, tpr, style, color=colour, lw=1.5, label=f"{name}: AUC {auc:.3f}")
        thr = (thresholds or {}).get(who)
        if thr is not None and np.isfinite(thr):
            point = acceptances(score, label, thr)
            mark_point(ax, point, colour, f"{who} 90 % DEP cut vs {name.split(' vs ')[-1]}")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def energy_figure(binned: dict[str, dict[str, list[float]]]) -> Figure:
    """Bias (median residual) and resolution (half the 16-84 % residual range) vs energy."""
    fig, axes = new_figure(ncols=2, size=(4.8, 3.6))
    for name, b in binned.items():
        c = np.asarray(b["centre"], dtype=float)
        colour = CUT_COLOURS["network" if name == "network" else "classical"]
        axes[0, 0].plot(c, b["bias"], "o-", ms=3, color=colour, label=name)
        axes[0, 1].plot(c, b["resolution"], "o-", ms=3, color=colour, label=name)
    axes[0, 0].axhline(0.0, color="grey", lw=0.6)
    axes[0, 0].set_ylabel("bias: median(E - E_ref) [keV]")
    axes[0, 1].set_ylabel("resolution: half 16-84 % range [keV]")
    for ax in axes[0]:
        ax.set_xlabel("reference energy [keV]")
        ax.legend(fontsize=7)
    return fig


def peak_figure(
    energies: dict[str, np.ndarray], lines: tuple[float, ...], fwhm: dict[str, dict]
) -> Figure:
    """The calibration lines as seen by each energy estimator, FWHM in the legend."""
    fig, axes = new_figure(ncols=len(lines), size=(4.2, 3.4))
    for ax, line in zip(axes[0], lines, strict=True):
        edges = np.arange(line - 25.0, line + 25.5, 0.5)
        for name, e in energies.items():
            f = fwhm.get(name, {}).get(f"{line:g}", {}).get("fwhm", np.nan)
            colour = CUT_COLOURS["network" if name == "network" else "classical"]
            ax.hist(e, edges, histtype="step", color=colour, label=f"{name}: FWHM {f:.2f} keV")
        ax.set_xlabel("energy [keV]")
        ax.set_title(f"{line:g} keV")
        ax.legend(fontsize=7)
    return fig
