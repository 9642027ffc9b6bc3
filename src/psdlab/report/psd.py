"""PSD section of the report: one target's network score beside its classical parameter.

For each PSD target the network trained on: ROC AUC (plain and energy-matched) against the
label and, on simulated data, against the truth; the cut keeping 90 % of DEP events for each
score, and the survival fractions at the 228Th lines and around Q_bb at that cut
(docs/report.md defines every number). The cut and the survival fractions need energies
only, so unlabelled and real data get them too.

Small samples are common (a 10,000-event simulated test file holds ~40 net DEP events, the
real test-stand file 4), and a fraction from 13 events printed like one from 10,000 misleads:
every line count carries its Poisson error and a ``low_statistics`` flag below
``min_net_counts`` net events, and no 90 %-DEP cut is set from fewer DEP events than that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.data.labels.leakage import energy_leakage
from psdlab.metrics.physics import (
    SURVIVAL_PEAKS,
    dep_threshold,
    efficiency,
    energy_matched_auc,
    paired_cut_difference,
    peak_survival,
    region_survival,
    roc_auc,
    survival_table,
)
from psdlab.report.classical import CLASSICAL_NAMES
from psdlab.report.figures import roc_figure
from psdlab.report.spectra import score_vs_energy_figure, spectrum_figure, survival_vs_energy_figure
from psdlab.report.truth import truth_signal

PSD_TARGETS = ("low_avse", "high_avse", "dcr", "lq")
DEP_KEEP = 0.90
TRUTH_WINDOW = (1000.0, 2700.0)  # keV: where truth acceptances are quoted (the PSD-relevant range)
MIN_NET_COUNTS = 100.0  # net line events below which a result is flagged as low statistics

# ROC curves of one target: name -> (score, label, weight)
Curves = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def _aucs(score: np.ndarray, label: np.ndarray, energy: np.ndarray) -> tuple[float, float]:
    return roc_auc(score, label), energy_matched_auc(score, label, energy)


def _flagged(s: dict[str, Any], min_net: float) -> dict[str, Any]:
    """A survival or count dict with the Poisson error of its net count and the flag."""
    n_err = math.sqrt(s["n_window"] + s["n_sideband"])
    return {**s, "n_net_error": n_err, "low_statistics": bool(s["n_net"] < min_net)}


def line_counts(energy: np.ndarray, min_net: float = MIN_NET_COUNTS) -> dict[str, Any]:
    """Net events (peak minus side bands) at each survival line and in the Q_bb region."""
    e = np.asarray(energy, dtype=float)
    every = np.ones(e.shape, dtype=bool)
    out = {name: peak_survival(e, every, kev).to_dict() for name, kev in SURVIVAL_PEAKS.items()}
    out["Qbb"] = region_survival(e, every).to_dict()
    keep = ("n_window", "n_sideband", "n_net")
    return {k: _flagged({q: v[q] for q in keep}, min_net) for k, v in out.items()}


def _low_note(n: Mapping[str, Any], min_net: float) -> str:
    return (
        f"too few DEP events above the continuum to set a 90 % DEP cut: "
        f"{n['n_net']:.0f} ± {n['n_net_error']:.0f} net events, fewer than {min_net:g} "
        "(low statistics)"
    )


def cut_threshold(
    energy: np.ndarray, score: np.ndarray, dep: Mapping[str, Any], given: float | None = None
) -> float:
    """The score keeping 90 % of the DEP (pass: score above it): ``given`` (a calibration
    run's) when finite, else set on these events; NaN when their DEP (``dep``, its entry of
    :func:`line_counts`) has too few net events."""
    if given is not None and np.isfinite(given):
        return float(given)
    return math.nan if dep["low_statistics"] else dep_threshold(energy, score, DEP_KEEP)


def _cut_block(
    energy: np.ndarray,
    score: np.ndarray,
    dep: Mapping[str, Any],
    min_net: float,
    given: float | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The 90 %-DEP cut of ``score`` and the survival table at it (``dep``: DEP net count).
    A ``given`` cut value (a calibration run's) is applied as it is."""
    thr = cut_threshold(energy, score, dep, given)
    if not np.isfinite(thr):
        note = (
            _low_note(dep, min_net)
            if dep["low_statistics"]
            else "too few DEP events above the continuum to set a 90 % DEP cut"
        )
        return {"threshold": math.nan, "survival": {}, "note": note}, None
    passed = np.asarray(score, float) > thr
    table = {k: _flagged(v.to_dict(), min_net) for k, v in survival_table(energy, passed).items()}
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


def _window_aucs(
    scores: Mapping[str, np.ndarray], t: np.ndarray, win: np.ndarray
) -> dict[str, float]:
    """AUC of each score against the truth for events in the truth window only.

    A network trained on calibration lines (labels=lines) never sees a pulse below the DEP
    and is not meant to classify the low-energy continuum; the window is where a PSD cut is
    used and where the report quotes the truth acceptances, so its AUC is the like-for-like
    comparison with the classical cut.
    """
    return {who: roc_auc(np.asarray(s)[win], t[win]) for who, s in scores.items()}


def _leakage(
    scores: Mapping[str, np.ndarray],
    energy: np.ndarray,
    t: np.ndarray,
    passed: Mapping[str, np.ndarray | None],
) -> dict[str, dict[str, float]]:
    """What each score knows about energy at fixed truth topology (docs/labels.md).

    The check of a network trained on calibration lines, which sit at different energies:
    a score that learnt energy instead of topology correlates with it among events of one
    topology and cuts single-site events unevenly across energy.
    """
    return {
        who: energy_leakage(s, energy, t, TRUTH_WINDOW, passed.get(who))
        for who, s in scores.items()
    }


def _truth_cut(
    t: np.ndarray, win: np.ndarray, passed: dict[str, np.ndarray | None]
) -> dict[str, Any]:
    """Signal acceptance and background survival of each cut within the truth window."""
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
    min_net: float = MIN_NET_COUNTS,
    cuts: Mapping[str, float] | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Numbers and figures of one PSD target: ROC/AUC vs label and truth, 90 %-DEP cuts.

    ``label`` None (unlabelled data) leaves the AUCs out; the cuts need only ``energy``.
    ``cuts`` (``{"network": value, "classical": value}``, a calibration run's) are applied
    instead of being set on these events' DEP.
    """
    sec: dict[str, Any] = {"classical_parameter": CLASSICAL_NAMES.get(target, target)}
    scores = {"network": score, "classical": classical}
    curves: Curves = {}
    aucs: dict[str, float] = {}
    if label is not None:
        y = np.asarray(label).astype(bool)
        sec["n_pos"], sec["n_neg"] = int(y.sum()), int((~y).sum())
        _versus(sec, "label", scores, y, energy, curves, aucs)
    dep = line_counts(energy, min_net)["DEP"]
    cuts = cuts or {}
    cut_net, pass_net = _cut_block(energy, score, dep, min_net, cuts.get("network"))
    cut_cl, pass_cl = _cut_block(energy, classical, dep, min_net, cuts.get("classical"))
    sec["cut"] = {"network": cut_net, "classical": cut_cl}
    if cuts:
        sec["cut_source"] = "calibration record"
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
        win = (energy >= TRUTH_WINDOW[0]) & (energy < TRUTH_WINDOW[1])
        tsec["auc_window"] = _window_aucs(scores, t, win)
        tsec["cut"] = _truth_cut(t, win, passed)
        if all(p is not None for p in passed.values()):
            tsec["cut_difference"] = paired_cut_difference(
                energy, score, classical, t, win, DEP_KEEP
            )
        if target == "low_avse":
            tsec["energy_leakage"] = _leakage(scores, energy, t, passed)
        sec["truth"] = tsec
    detector = meta.get("detector")
    if (
        detector is not None
        and np.unique(detector).size > 1
        and any(p is not None for p in passed.values())
    ):
        sec["per_detector"] = per_detector(energy, passed, np.asarray(detector), min_net)
    return sec, _figures(target, sec, scores, energy, passed, curves, aucs)


def _figures(
    target: str,
    sec: Mapping[str, Any],
    scores: Mapping[str, np.ndarray],
    energy: np.ndarray,
    passed: Mapping[str, np.ndarray | None],
    curves: Curves,
    aucs: Mapping[str, float],
) -> dict[str, Figure]:
    """ROC (with the 90 %-DEP points), line zooms, survival and scores against energy."""
    thresholds = {who: c["threshold"] for who, c in sec["cut"].items()}
    survival = {who: c["survival"] for who, c in sec["cut"].items()}
    names = {"network": "network score", "classical": sec["classical_parameter"]}
    figs: dict[str, Figure] = {}
    if curves:  # no label and no truth (real, unlabelled data): no ROC to draw
        figs[f"roc_{target}"] = roc_figure(target, curves, dict(aucs), thresholds)
    figs[f"spectrum_{target}"] = spectrum_figure(target, energy, passed, survival)
    if any(p is not None for p in passed.values()):
        figs[f"survival_vs_energy_{target}"] = survival_vs_energy_figure(target, energy, passed)
    figs[f"score_vs_energy_{target}"] = score_vs_energy_figure(
        target, energy, scores, names, thresholds
    )
    return figs


def per_detector(
    energy: np.ndarray,
    passed: Mapping[str, np.ndarray | None],
    detector: np.ndarray,
    min_net: float = MIN_NET_COUNTS,
) -> dict[str, Any]:
    """Survival at the global 90 %-DEP cut, detector by detector.

    One threshold serves every detector, but detectors differ in A/E band, noise and drift
    time: a cut that keeps 90 % of the summed DEP can keep far less on one detector.
    """
    out: dict[str, Any] = {}
    for d in np.unique(detector):
        m = detector == d
        row: dict[str, Any] = {"n_events": int(m.sum())}
        for who, p in passed.items():
            if p is None:
                continue
            table = survival_table(energy[m], p[m])
            row[who] = {
                "pass_fraction": efficiency(p, m).to_dict(),
                "survival": {k: _flagged(v.to_dict(), min_net) for k, v in table.items()},
            }
        out[str(d.item() if hasattr(d, "item") else d)] = row
    return out
