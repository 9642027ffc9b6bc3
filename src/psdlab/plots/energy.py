"""Figures of an energy regressor: predicted vs true, residuals, predicted 228Th spectrum."""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from psdlab.plots.common import new_figure

TH228_LINES_KEV: tuple[float, ...] = (238.6, 583.2, 727.3, 860.6, 1592.5, 1620.7, 2103.5, 2614.5)


def pred_vs_true_figure(true: np.ndarray, pred: np.ndarray, max_energy: float = 3000.0) -> Figure:
    """2-D histogram of predicted against true energy with the diagonal."""
    fig, ax = new_figure(size=(5.0, 4.4))
    ax = ax[0, 0]
    edges = np.linspace(0, max_energy, 121)
    h = ax.hist2d(true, pred, bins=[edges, edges], norm=LogNorm(), cmap="viridis")
    if np.nanmax(h[0], initial=0.0) > 0:  # an untrained net may predict nothing in range
        fig.colorbar(h[3], ax=ax, label="events")
    ax.plot([0, max_energy], [0, max_energy], color="red", lw=0.8, ls="--")
    ax.set_xlabel("true energy [keV]")
    ax.set_ylabel("predicted energy [keV]")
    ax.set_title("predicted vs true")
    return fig


def residual_figure(true: np.ndarray, pred: np.ndarray, max_energy: float = 3000.0) -> Figure:
    """Residual (pred - true) against true energy, with the median and 16-84% band per bin."""
    fig, ax = new_figure(size=(6.0, 4.0))
    ax = ax[0, 0]
    res = pred - true
    lim = max(5.0, float(np.nanpercentile(np.abs(res), 99))) if res.size else 5.0
    ax.hist2d(
        true,
        res,
        bins=[np.linspace(0, max_energy, 61), np.linspace(-lim, lim, 61)],
        norm=LogNorm(),
        cmap="Greys",
    )
    edges = np.linspace(0, max_energy, 31)
    centres, med, lo, hi = [], [], [], []
    for a, b in itertools.pairwise(edges):
        sel = (true >= a) & (true < b)
        if sel.sum() >= 5:
            q = np.percentile(res[sel], [16, 50, 84])
            centres.append(0.5 * (a + b))
            lo.append(q[0])
            med.append(q[1])
            hi.append(q[2])
    if centres:
        ax.plot(centres, med, color="C1", label="median")
        ax.fill_between(centres, lo, hi, color="C1", alpha=0.3, label="16-84%")
        ax.legend(fontsize=8)
    ax.axhline(0, color="red", lw=0.8, ls="--")
    ax.set_xlabel("true energy [keV]")
    ax.set_ylabel("predicted - true [keV]")
    ax.set_title("energy residuals")
    return fig


def spectrum_figure(
    pred: np.ndarray,
    true: np.ndarray | None = None,
    max_energy: float = 3000.0,
    bin_kev: float = 5.0,
) -> Figure:
    """Predicted (and true) energy spectrum, log scale, with the 228Th lines marked."""
    fig, ax = new_figure(size=(8.0, 4.0))
    ax = ax[0, 0]
    edges = np.arange(0, max_energy + bin_kev, bin_kev)
    if true is not None:
        ax.hist(true, bins=edges, histtype="step", color="grey", lw=1, label="true")
    ax.hist(pred, bins=edges, histtype="step", color="C0", lw=1.2, label="predicted")
    for line in TH228_LINES_KEV:
        ax.axvline(line, color="C3", lw=0.7, ls=":", alpha=0.8)
        ax.text(
            line,
            1.0,
            f"{line:g}",
            rotation=90,
            fontsize=7,
            color="C3",
            va="top",
            ha="right",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_yscale("log")
    ax.set_xlim(0, max_energy)
    ax.set_xlabel(f"energy [keV] ({bin_kev:g} keV bins)")
    ax.set_ylabel("events")
    ax.set_title("energy spectrum (228Th lines dotted)")
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(0.93, 1.0))
    return fig
