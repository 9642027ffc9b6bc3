"""PSD section of the report: one target's network score beside its classical parameter.

For each PSD target the network trained on: ROC AUC (plain and energy-matched) against the
label and, on simulated data, against the truth; the cut keeping 90 % of DEP events for each
score, and the survival fractions at the 228Th lines and around Q_bb at that cut
(docs/report.md defines every number).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.metrics.physics import (
    dep_threshold,
    efficiency,
    energy_matched_auc,
    roc_auc,
    survival_table,
)
from psdlab.report.classical import CLASSICAL_NAMES
from psdlab.report.figures import roc_figure, spectrum_figure
from psdlab.report.truth import truth_signal

PSD_TARGETS = ("low_avse", "high_avse", "dcr", "lq")
DEP_KEEP = 0.90
TRUTH_WINDOW = (1000.0, 2700.0)  # keV: where truth acceptances are quoted (the PSD-relevant range)

# ROC curves of one target: name -> (score, label, weight)
Curves = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def _aucs(score: np.ndarray, label: np.ndarray, energy: np.ndarray) -> tuple[float, float]:
    return roc_auc(score, label), energy_matched_auc(score, label, energy)


def _cut_block(energy: np.ndarray, score: np.ndarray) -> tuple[dict[str, Any], np.ndarray | None]:
    thr = dep_threshold(energy, score, DEP_KEEP)
    if not np.isfinite(thr):
        return {
            "threshold": math.nan,
            "survival": {},
            "note": "too few DEP events above the continuum to set a 90 % DEP cut",
        }, None
    passed = np.asarray(score, float) > thr
    table = {k: v.to_dict() for k, v in survival_table(energy, passed).items()}
    return {"threshold": thr, "survival": table, "note": ""}, passed


def _versus(
    sec: dict[str, Any],
    against: str,
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    energy: np.ndarray,
    curves: Curves,
    aucs: dict[str, float],
) -> None:
    """AUCs of both scores against ``y`` (the label or the truth) into ``sec``, curves, aucs."""
    (a_net, m_net), (a_cl, m_cl) = (_aucs(s, y, energy) for s in scores.values())
    sec["auc"] = {"network": a_net, "classical": a_cl}
    sec["auc_energy_matched"] = {"network": m_net, "classical": m_cl}
    for who, s in scores.items():
        curves[f"{who} vs {against}"] = (s, y, None)
    aucs.update({f"network vs {against}": a_net, f"classical vs {against}": a_cl})


def _truth_cut(
    t: np.ndarray, energy: np.ndarray, passed: dict[str, np.ndarray | None]
) -> dict[str, Any]:
    """Signal acceptance and background survival of each cut within the truth window."""
    win = (energy >= TRUTH_WINDOW[0]) & (energy < TRUTH_WINDOW[1])
    out: dict[str, Any] = {}
    for name, p in passed.items():
        out[name] = (
            None
            if p is None
            else {
                "signal_acceptance": efficiency(p, t & win).to_dict(),
                "background_survival": efficiency(p, ~t & win).to_dict(),
            }
        )
    return out


def psd_section(
    target: str,
    score: np.ndarray,
    label: np.ndarray | None,
    classical: np.ndarray,
    energy: np.ndarray,
    meta: Mapping[str, np.ndarray],
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Numbers and figures of one PSD target: ROC/AUC vs label and truth, 90 %-DEP cuts."""
    sec: dict[str, Any] = {"classical_parameter": CLASSICAL_NAMES.get(target, target)}
    scores = {"network": score, "classical": classical}
    curves: Curves = {}
    aucs: dict[str, float] = {}
    if label is not None:
        y = np.asarray(label).astype(bool)
        sec["n_pos"], sec["n_neg"] = int(y.sum()), int((~y).sum())
        _versus(sec, "label", scores, y, energy, curves, aucs)
    cut_net, pass_net = _cut_block(energy, score)
    cut_cl, pass_cl = _cut_block(energy, classical)
    sec["cut"] = {"network": cut_net, "classical": cut_cl}
    passed = {"network": pass_net, "classical": pass_cl}
    truth = truth_signal(target, meta)
    if truth is not None:
        t, definition = truth
        tsec: dict[str, Any] = {
            "definition": definition,
            "n_signal": int(t.sum()),
            "n_background": int((~t).sum()),
        }
        _versus(tsec, "truth", scores, t, energy, curves, aucs)
        tsec["cut_window_kev"] = list(TRUTH_WINDOW)
        tsec["cut"] = _truth_cut(t, energy, passed)
        sec["truth"] = tsec
    figs = {
        f"roc_{target}": roc_figure(target, curves, aucs),
        f"spectrum_{target}": spectrum_figure(target, energy, passed),
    }
    return sec, figs
