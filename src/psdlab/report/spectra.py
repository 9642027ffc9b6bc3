"""Energy-resolved figures of one PSD target: the spectrum at each line before and after each
cut, the survival fraction against energy, and each score against energy.

A cut is judged line by line (DEP kept, SEP/FEP/Q_bb removed), so every line gets its own
labelled zoom with its peak window and side bands shaded; the network is drawn as a thin line
over the classical cut's thick one, so neither hides the other when they agree. Survival and
score against energy show what a single number hides: a network that has learned the energy
instead of the pulse shape passes a different fraction in every energy bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from psdlab.metrics.physics import PEAK_HALF_WIDTH, QBB_CONTINUUM, QBB_EXCLUDE, SURVIVAL_PEAKS
from psdlab.plots.common import new_figure

CUT_COLOURS = {"network": "tab:blue", "classical": "tab:orange"}
CUT_WIDTHS = {"network": 1.2, "classical": 2.6}  # thin over thick: both stay visible
LINE_TITLES = {
    "DEP": "DEP 1592.5 keV (signal-like)",
    "Bi212": "²¹²Bi 1620.7 keV (background-like)",
    "SEP": "SEP 2103.5 keV (background-like)",
    "FEP": "FEP 2614.5 keV (background-like)",
    "Qbb": "Q$_{ββ}$ region 1950-2350 keV",
}
ZOOM_HALF_KEV = 20.0
SURVIVAL_BIN_KEV = 50.0
MIN_BIN_EVENTS = 5  # survival-vs-energy bins with fewer events are not drawn


def _fraction_text(s: Mapping[str, Any] | None) -> str:
    """``0.90 ± 0.05`` for a legend, with the low-statistics mark."""
    if not s or s.get("fraction") is None or not np.isfinite(s["fraction"]):
        return "n/a"
    low = " (low stat.)" if s.get("low_statistics") else ""
    return f"{s['fraction']:.2f} ± {s['error']:.2f}{low}"


def _zoom(
    ax: Axes,
    e: np.ndarray,
    passed: Mapping[str, np.ndarray | None],
    line: str,
    survival: Mapping[str, Mapping[str, Any]],
) -> None:
    """One labelled line panel: all events filled, each cut's survivors, windows shaded."""
    if line == "Qbb":
        lo, hi, bw = QBB_CONTINUUM[0] - 50.0, QBB_CONTINUUM[1] + 50.0, 10.0
        ax.axvspan(*QBB_CONTINUUM, color="green", alpha=0.08, label="region")
        for a, b in QBB_EXCLUDE:
            ax.axvspan(a, b, color="grey", alpha=0.15, label="excluded (SEP)")
    else:
        kev = SURVIVAL_PEAKS[line]
        lo, hi, bw = kev - ZOOM_HALF_KEV, kev + ZOOM_HALF_KEV, 1.0
        w = PEAK_HALF_WIDTH
        ax.axvspan(kev - w, kev + w, color="green", alpha=0.08, label="peak window")
        for a in (kev - 3 * w, kev + 2 * w):
            ax.axvspan(a, a + w, color="grey", alpha=0.15)
    edges = np.arange(lo, hi + bw / 2, bw)
    ax.hist(e, edges, histtype="stepfilled", color="0.85", label="all events")
    for who in ("classical", "network"):
        p = passed.get(who)
        if p is None:
            continue
        frac = _fraction_text(survival.get(who, {}).get(line))
        ax.hist(
            e[p],
            edges,
            histtype="step",
            color=CUT_COLOURS[who],
            lw=CUT_WIDTHS[who],
            label=f"{who}: {frac}",
        )
    ax.set_xlim(lo, hi)
    ax.set_title(LINE_TITLES[line], fontsize=10)
    ax.set_xlabel("energy [keV]")
    ax.set_ylabel(f"events / {bw:g} keV")
    ax.legend(fontsize=7, loc="upper right", title="survival", title_fontsize=7)


def spectrum_figure(
    target: str,
    energy: np.ndarray,
    passed: Mapping[str, np.ndarray | None],
    survival: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """The full spectrum and one labelled zoom per line (DEP, ²¹²Bi, SEP, FEP, Q_ββ), before
    and after each cut at 90 % DEP, each cut's survival fraction in the zoom's legend."""
    fig, axes = new_figure(ncols=3, nrows=2, size=(4.6, 3.6))
    e = np.asarray(energy, dtype=float)
    ax = axes[0, 0]
    edges = np.arange(0.0, 3005.0, 5.0)
    ax.hist(e, edges, histtype="stepfilled", color="0.85", label="all events")
    for who in ("classical", "network"):
        p = passed.get(who)
        if p is not None:
            ax.hist(e[p], edges, histtype="step", color=CUT_COLOURS[who], lw=CUT_WIDTHS[who] / 2)
            ax.plot([], [], color=CUT_COLOURS[who], lw=CUT_WIDTHS[who], label=f"{who} cut")
    for kev in SURVIVAL_PEAKS.values():
        ax.axvline(kev, color="grey", lw=0.5, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("energy [keV]")
    ax.set_ylabel("events / 5 keV")
    ax.set_title(f"{target}: cuts keeping 90 % of DEP", fontsize=10)
    ax.legend(fontsize=7)
    for ax, line in zip(axes.ravel()[1:], ("DEP", "Bi212", "SEP", "FEP", "Qbb"), strict=True):
        _zoom(ax, e, passed, line, survival or {})
    return fig


def survival_vs_energy_figure(
    target: str, energy: np.ndarray, passed: Mapping[str, np.ndarray | None]
) -> Figure:
    """Fraction of events passing each cut per 50 keV energy bin, binomial 1-sigma errors."""
    fig, axes = new_figure(size=(8.0, 4.0))
    ax = axes[0, 0]
    e = np.asarray(energy, dtype=float)
    ok = np.isfinite(e)
    top = max(3000.0, float(np.nanmax(e[ok]))) if ok.any() else 3000.0
    edges = np.arange(0.0, min(top, 3500.0) + SURVIVAL_BIN_KEV, SURVIVAL_BIN_KEV)
    n_all, _ = np.histogram(e[ok], edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    use = n_all >= MIN_BIN_EVENTS
    for shift, (who, p) in zip((-0.1, 0.1), passed.items()):
        if p is None:
            continue
        n_pass, _ = np.histogram(e[ok & p], edges)
        f = n_pass[use] / n_all[use]
        err = np.sqrt(f * (1 - f) / n_all[use])
        x = centre[use] + shift * SURVIVAL_BIN_KEV  # side by side: neither hides the other
        ax.errorbar(x, f, err, fmt="o", ms=3, color=CUT_COLOURS[who], capsize=0, label=who)
    for name, kev in SURVIVAL_PEAKS.items():
        ax.axvline(kev, color="grey", lw=0.6, ls=":")
        ax.text(kev, 1.01, name, rotation=90, fontsize=7, va="bottom", ha="center")
    ax.axvspan(*QBB_CONTINUUM, color="green", alpha=0.06)
    ax.set_ylim(0.0, 1.12)
    ax.set_xlabel(f"energy [keV] ({SURVIVAL_BIN_KEV:g} keV bins, ≥ {MIN_BIN_EVENTS} events)")
    ax.set_ylabel("fraction passing the cut")
    ax.set_title(f"{target}: survival vs energy, cuts at 90 % DEP", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def _clip_range(x: np.ndarray) -> tuple[float, float]:
    """The 0.5-99.5 % range of the finite values (a few outliers must not set the axis)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(x, [0.5, 99.5])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)


def score_vs_energy_figure(
    target: str,
    energy: np.ndarray,
    scores: Mapping[str, np.ndarray],
    names: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> Figure:
    """Each score (network, classical parameter) against energy, its 90 %-DEP cut as a line."""
    fig, axes = new_figure(ncols=len(scores), size=(5.2, 4.0))
    e = np.asarray(energy, dtype=float)
    for ax, (who, s) in zip(axes[0], scores.items(), strict=True):
        s = np.asarray(s, dtype=float)
        ok = np.isfinite(s) & np.isfinite(e)
        y_lo, y_hi = _clip_range(s[ok])
        if ok.any():
            h = ax.hist2d(
                e[ok],
                np.clip(s[ok], y_lo, y_hi),
                bins=[np.arange(0.0, 3025.0, 25.0), np.linspace(y_lo, y_hi, 61)],
                norm=LogNorm(),
                cmap="viridis",
            )
            if np.nanmax(h[0], initial=0.0) > 0:  # all events outside 0-3000 keV: no colours
                fig.colorbar(h[3], ax=ax, label="events")
        thr = thresholds.get(who, float("nan"))
        if thr is not None and np.isfinite(thr):
            ax.axhline(thr, color="red", lw=1.0, ls="--", label=f"90 % DEP cut ({thr:.3g})")
            ax.legend(fontsize=7, loc="lower right")
        for kev in SURVIVAL_PEAKS.values():
            ax.axvline(kev, color="white", lw=0.4, ls=":")
        ax.set_xlabel("energy [keV]")
        ax.set_ylabel(names.get(who, who))
        ax.set_title(f"{target}: {who} vs energy", fontsize=10)
    return fig
