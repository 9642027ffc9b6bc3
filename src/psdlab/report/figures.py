"""Figures of the physics report (pyplot-free, so safe in threads and headless runs)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from psdlab.metrics.physics import QBB_CONTINUUM, SURVIVAL_PEAKS, roc_points
from psdlab.plots.common import new_figure

CUT_COLOURS = {"network": "tab:blue", "classical": "tab:orange"}


def roc_figure(
    target: str,
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    aucs: dict[str, float],
) -> Figure:
    """ROC curves; ``curves[name] = (score, label, weight)``, ``aucs[name]`` in the legend.

    Names ending in "(truth)" are drawn dashed: the same scores judged against simulated
    truth instead of the classical label.
    """
    fig, axes = new_figure(size=(5.0, 4.5))
    ax = axes[0, 0]
    for name, (score, label, weight) in curves.items():
        fpr, tpr = roc_points(score, label, weight)
        if fpr.size == 0:
            continue
        colour = CUT_COLOURS["network" if name.startswith("network") else "classical"]
        style = "--" if "truth" in name else "-"
        ax.plot(fpr, tpr, style, color=colour, label=f"{name}: AUC {aucs.get(name, np.nan):.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("background acceptance (false-positive rate)")
    ax.set_ylabel("signal acceptance (true-positive rate)")
    ax.set_title(f"ROC: {target}")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def spectrum_figure(
    target: str, energy: np.ndarray, passed: dict[str, np.ndarray | None]
) -> Figure:
    """Energy spectrum before and after each cut, full range and zoom on DEP/Bi and SEP/FEP."""
    fig, axes = new_figure(ncols=3, size=(4.5, 3.6))
    e = np.asarray(energy, dtype=float)
    ranges = [(0.0, 3000.0, 5.0), (1570.0, 1640.0, 1.0), (2080.0, 2640.0, 2.0)]
    for ax, (lo, hi, bw) in zip(axes[0], ranges, strict=True):
        edges = np.arange(lo, hi + bw, bw)
        ax.hist(e, edges, histtype="step", color="k", label="all events")
        for name, p in passed.items():
            if p is None:
                continue
            ax.hist(e[p], edges, histtype="step", color=CUT_COLOURS.get(name), label=f"{name}")
        for kev in SURVIVAL_PEAKS.values():
            if lo < kev < hi:
                ax.axvline(kev, color="grey", lw=0.5, ls=":")
        if lo < QBB_CONTINUUM[0] < hi:
            ax.axvspan(*QBB_CONTINUUM, color="grey", alpha=0.1)
        ax.set_yscale("log")
        ax.set_xlabel("energy [keV]")
        ax.set_ylabel(f"events / {bw:g} keV")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title(f"{target}: cuts at 90 % DEP")
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
