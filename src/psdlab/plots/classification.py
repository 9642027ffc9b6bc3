"""Figures of a binary PSD classifier: ROC curve, score distributions, confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from psdlab.plots.common import new_figure


def _roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """FPR, TPR (cut ``score >= t``) and AUC, computed with numpy (ties handled)."""
    y = labels.astype(bool)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, tp[last] / max(y.sum(), 1)]
    fpr = np.r_[0.0, fp[last] / max((~y).sum(), 1)]
    auc = float(np.trapezoid(tpr, fpr)) if y.any() and (~y).any() else float("nan")
    return fpr, tpr, auc


def roc_figure(
    scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], sig_eff: float = 0.9
) -> Figure:
    """ROC curves (signal efficiency vs background rejection) of several labels on one plot."""
    fig, ax = new_figure()
    ax = ax[0, 0]
    for name, s in scores.items():
        fpr, tpr, auc = _roc(np.asarray(s, float), np.asarray(labels[name]))
        ax.plot(tpr, 1 - fpr, label=f"{name} (AUC {auc:.3f})")
    ax.axvline(sig_eff, color="grey", ls=":", lw=1, label=f"{sig_eff:.0%} signal eff.")
    ax.set_xlabel("signal efficiency (TPR)")
    ax.set_ylabel("background rejection (1 - FPR)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("ROC")
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
