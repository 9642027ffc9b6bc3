"""Figures of a binary PSD classifier: ROC curve, score distributions, confusion matrix.

One ROC convention throughout psdlab (TensorBoard and the physics report): signal acceptance
(the fraction of label-1 events that pass) against background acceptance (the fraction of
label-0 events that pass) on a log axis, because every cut worth having lives below 10 %
background acceptance, where a linear axis squeezes the curves into the corner.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from psdlab.metrics.physics import roc_auc, roc_points
from psdlab.plots.common import new_figure

ROC_XLABEL = "background acceptance (label-0 events passing)"
ROC_YLABEL = "signal acceptance (label-1 events passing)"


def acceptances(score: np.ndarray, label: np.ndarray, threshold: float) -> tuple[float, float]:
    """(background, signal) acceptance of the cut ``score > threshold``: one ROC point."""
    s = np.asarray(score, float)
    y = np.asarray(label).astype(bool)
    ok = np.isfinite(s)
    passed = s[ok] > threshold
    y = y[ok]
    bkg = float(passed[~y].mean()) if (~y).any() else float("nan")
    sig = float(passed[y].mean()) if y.any() else float("nan")
    return bkg, sig


def style_roc_axes(ax: Axes, n_background: int, title: str = "") -> None:
    """Log background-acceptance axis down to about one background event, chance diagonal."""
    lo = max(0.5 / max(n_background, 1), 1e-5)
    x = np.logspace(np.log10(lo), 0, 50)
    ax.plot(x, x, ":", color="grey", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(ROC_XLABEL)
    ax.set_ylabel(ROC_YLABEL)
    ax.grid(which="major", alpha=0.3)
    ax.grid(which="minor", alpha=0.1)
    if title:
        ax.set_title(title)


def mark_point(
    ax: Axes, point: tuple[float, float], colour: str, text: str | None, marker: str = "o"
) -> None:
    """An operating point on the ROC; with ``text``, a legend entry with its acceptances."""
    bkg, sig = point
    if not (np.isfinite(bkg) and np.isfinite(sig)):
        return
    ax.plot(
        [max(bkg, ax.get_xlim()[0])],
        [sig],
        marker,
        ms=8,
        mfc="none",
        mew=2,
        color=colour,
        label=f"{text}: sig {sig:.1%}, bkg {bkg:.2%}" if text else None,
    )


def point_at_signal(fpr: np.ndarray, tpr: np.ndarray, sig_eff: float) -> tuple[float, float]:
    """The first ROC point (loosest background) that keeps at least ``sig_eff`` of the signal."""
    i = int(np.argmax(tpr >= sig_eff - 1e-12))
    return float(fpr[i]), float(tpr[i])


def roc_figure(
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    sig_eff: float = 0.9,
    threshold: float = 0.5,
) -> Figure:
    """ROC curves of several labels, each with two operating points: the classifier's
    threshold (circle) and the loosest cut keeping ``sig_eff`` of the signal (square)."""
    fig, ax = new_figure(size=(6.4, 5.0))
    ax = ax[0, 0]
    n_bkg = max((int((~np.asarray(y).astype(bool)).sum()) for y in labels.values()), default=1)
    style_roc_axes(ax, n_bkg, f"ROC (circle: score > {threshold:g}, square: {sig_eff:.0%} signal)")
    ax.axhline(sig_eff, color="grey", ls="--", lw=0.8)
    for i, (name, s) in enumerate(scores.items()):
        s, y = np.asarray(s, float), np.asarray(labels[name]).astype(bool)
        fpr, tpr = roc_points(s, y)
        if fpr.size == 0:
            continue
        colour = f"C{i}"
        at_t, at_sig = acceptances(s, y, threshold), point_at_signal(fpr, tpr, sig_eff)
        text = (
            f"{name}: AUC {roc_auc(s, y):.3f}; bkg {at_sig[0]:.1%} at {sig_eff:.0%} sig, "
            f"{at_t[1]:.0%} sig / {at_t[0]:.1%} bkg at t={threshold:g}"
        )
        ax.plot(fpr, tpr, color=colour, lw=1.6, label=text)
        mark_point(ax, at_t, colour, None, "o")
        mark_point(ax, at_sig, colour, None, "s")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def score_distribution_figure(
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    threshold: float = 0.5,
    bins: int = 50,
) -> Figure:
    """Per label, normalised score histograms of signal (label 1) and background (label 0)."""
    names = list(scores)
    fig, axes = new_figure(ncols=len(names), size=(4.5, 3.6))
    edges = np.linspace(0, 1, bins + 1)
    for ax, name in zip(axes[0], names):
        s, y = np.asarray(scores[name], float), np.asarray(labels[name]).astype(bool)
        for sel, lab, col in ((y, "signal (pass)", "C0"), (~y, "background (fail)", "C3")):
            if sel.any():
                ax.hist(
                    s[sel],
                    bins=edges,
                    density=True,
                    histtype="step",
                    lw=1.5,
                    color=col,
                    label=f"{lab}, n={sel.sum()}",
                )
        ax.axvline(threshold, color="grey", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("score")
        ax.set_ylabel("density")
        ax.set_title(name)
        ax.legend(fontsize=7, loc="lower center", framealpha=0.7)
    return fig


def confusion_matrix_figure(
    scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], threshold: float = 0.5
) -> Figure:
    """Per label, the 2x2 confusion matrix (row-normalised; counts in brackets)."""
    names = list(scores)
    fig, axes = new_figure(ncols=len(names), size=(3.6, 3.3))
    for ax, name in zip(axes[0], names):
        y = np.asarray(labels[name]).astype(bool)
        p = np.asarray(scores[name], float) > threshold  # as torchmetrics
        cm = np.array([[np.sum(~y & ~p), np.sum(~y & p)], [np.sum(y & ~p), np.sum(y & p)]])
        frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                ax.text(
                    j,
                    i,
                    f"{frac[i, j]:.3f}\n({cm[i, j]})",
                    ha="center",
                    va="center",
                    color="white" if frac[i, j] > 0.6 else "black",
                    fontsize=9,
                )
        ax.set_xticks([0, 1], ["fail", "pass"])
        ax.set_yticks([0, 1], ["fail", "pass"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name} (t={threshold:g})")
    return fig
