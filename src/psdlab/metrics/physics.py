"""Physics figures of merit for PSD cuts: survival fractions at calibration lines, the cut
that keeps 90 % of DEP events, and the energy-matched ROC AUC.

A physicist judges a pulse-shape cut by what survives it at the 228Th lines, not by its AUC:
DEP (1592.5 keV, nearly all single-site) is the signal proxy, SEP (2103.5) and FEP (2614.5)
are mostly multi-site, and the continuum around Q_bb is the background that matters. Peak
counts are taken as "peak window minus side bands", so the Compton continuum under a line
does not bias its survival fraction. Plain numpy (no torch): the report computes these on
whole prediction tables after testing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.integrate import trapezoid

from psdlab.dsp import dep_cut_threshold

DEP_KEV = 1592.5
# the lines and windows of the survival table (name -> centre keV)
SURVIVAL_PEAKS: dict[str, float] = {
    "DEP": 1592.5,
    "Bi212": 1620.7,
    "SEP": 2103.5,
    "FEP": 2614.5,
}
QBB_CONTINUUM = (1950.0, 2350.0)
QBB_EXCLUDE = ((2093.5, 2113.5),)  # the SEP
PEAK_HALF_WIDTH = 4.0  # keV, the window dep_cut_threshold uses too


@dataclass(frozen=True)
class Survival:
    """A survival fraction with its 1-sigma uncertainty and the counts behind it."""

    fraction: float
    error: float
    n_window: int  # events in the peak window (or the continuum region)
    n_sideband: int  # events in the side bands (0 for a continuum region)
    n_net: float  # background-subtracted events the fraction refers to

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


NAN_SURVIVAL = Survival(float("nan"), float("nan"), 0, 0, 0.0)


def _windows(e: np.ndarray, peak: float, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak window and two side bands of half its width each, one window width away."""
    in_peak = np.abs(e - peak) < half_width
    lo = (e > peak - 3 * half_width) & (e < peak - 2 * half_width)
    hi = (e > peak + 2 * half_width) & (e < peak + 3 * half_width)
    return in_peak, lo | hi


def peak_survival(
    energy: np.ndarray, passed: np.ndarray, peak: float, half_width: float = PEAK_HALF_WIDTH
) -> Survival:
    """Fraction of events *of the line* at ``peak`` that pass, continuum subtracted.

    Side bands ``[peak-3w, peak-2w]`` and ``[peak+2w, peak+3w]`` (total width = the peak
    window, so their count estimates the continuum under the peak, the same windows as
    :func:`psdlab.dsp.dep_cut_threshold`). With A = passing and B = failing net counts,
    f = A / (A + B); A and B are differences of independent Poisson counts, so
    var f = (B^2 var A + A^2 var B) / (A + B)^4, which reduces to the binomial
    f (1 - f) / N when there is no continuum. NaN when no net peak is left.
    """
    e = np.asarray(energy, dtype=float)
    p = np.asarray(passed, dtype=bool)
    in_peak, sb = _windows(e, peak, half_width)
    pp, pf = int((in_peak & p).sum()), int((in_peak & ~p).sum())
    sp, sf = int((sb & p).sum()), int((sb & ~p).sum())
    a, b = float(pp - sp), float(pf - sf)
    n = a + b
    if n <= 0:
        return Survival(float("nan"), float("nan"), pp + pf, sp + sf, n)
    f = a / n
    var = (b**2 * (pp + sp) + a**2 * (pf + sf)) / n**4
    return Survival(float(f), float(np.sqrt(var)), pp + pf, sp + sf, n)


def region_survival(
    energy: np.ndarray,
    passed: np.ndarray,
    region: tuple[float, float] = QBB_CONTINUUM,
    exclude: tuple[tuple[float, float], ...] = QBB_EXCLUDE,
) -> Survival:
    """Plain binomial survival k/n in an energy region (lines in ``exclude`` left out)."""
    e = np.asarray(energy, dtype=float)
    p = np.asarray(passed, dtype=bool)
    sel = (e >= region[0]) & (e < region[1])
    for lo, hi in exclude:
        sel &= ~((e >= lo) & (e < hi))
    n = int(sel.sum())
    if n == 0:
        return Survival(float("nan"), float("nan"), 0, 0, 0.0)
    f = float((sel & p).sum()) / n
    return Survival(f, float(np.sqrt(f * (1 - f) / n)), n, 0, float(n))


def survival_table(energy: np.ndarray, passed: np.ndarray) -> dict[str, Survival]:
    """Survival in DEP, 212Bi, SEP, FEP and the continuum around Q_bb ("Qbb")."""
    out = {name: peak_survival(energy, passed, kev) for name, kev in SURVIVAL_PEAKS.items()}
    out["Qbb"] = region_survival(energy, passed)
    return out


def dep_threshold(energy: np.ndarray, score: np.ndarray, keep: float = 0.90) -> float:
    """Score threshold (pass = score > threshold) keeping ``keep`` of DEP events; NaN when the
    DEP holds too few events above its continuum to set it (tiny test sets)."""
    e = np.asarray(energy, dtype=float)
    s = np.asarray(score, dtype=float)
    ok = np.isfinite(e) & np.isfinite(s)
    try:
        return float(dep_cut_threshold(e[ok], s[ok], keep=keep))
    except (RuntimeError, ValueError, IndexError):
        return float("nan")


def _roc_curve(
    score: np.ndarray, label: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) with one point per distinct score, highest score first, from (0, 0).

    Written here because torchmetrics' ROC takes no sample weights (the energy-matched AUC
    needs them) and scikit-learn is only a test dependency. It follows scikit-learn's
    ``roc_curve`` step for step (stable descending sort, zero weights dropped, float64
    cumulative sums, points collinear with their neighbours dropped) so that the numbers are
    those scikit-learn gives (tests/test_metrics.py compares). Both classes must be present.
    """
    s = np.asarray(score, dtype=float)
    y = np.asarray(label).astype(bool)
    w = np.ones(s.shape) if weight is None else np.asarray(weight, dtype=float)
    if weight is not None:
        nonzero = w != 0
        s, y, w = s[nonzero], y[nonzero], w[nonzero]
    order = np.argsort(-s, kind="stable")  # descending; ties keep their order
    s, y, w = s[order], y[order], w[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(np.where(y, w, 0.0))[last_of_value]
    fps = np.cumsum(np.where(y, 0.0, w))[last_of_value]
    if fps.size > 2:  # a point on the line between its neighbours changes neither curve nor area
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[corner], tps[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1]


def roc_auc(score: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None) -> float:
    """ROC AUC with higher score = positive (signal-like); NaN if a class is missing."""
    s = np.asarray(score, dtype=float)
    y = np.asarray(label).astype(bool)
    ok = np.isfinite(s)
    w = None if weight is None else np.asarray(weight, dtype=float)[ok]
    s, y = s[ok], y[ok]
    if w is not None:
        keep = w > 0
        s, y, w = s[keep], y[keep], w[keep]
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr = _roc_curve(s, y, w)
    return float(trapezoid(tpr, fpr))


def energy_matched_weights(
    energy: np.ndarray, label: np.ndarray, bin_kev: float = 25.0
) -> np.ndarray:
    """Weights giving both classes the same count in every ``bin_kev`` energy bin.

    Class fractions change strongly with energy (multi-site dominates at the FEP, single-site
    at low energy), so a classifier that only learned the energy would already score a high
    plain AUC. In each bin both classes get total weight min(n_pos, n_neg) (what subsampling
    the larger class would give, without its randomness); bins lacking a class get weight 0.
    """
    e = np.asarray(energy, dtype=float)
    y = np.asarray(label).astype(bool)
    w = np.zeros(e.shape, dtype=float)
    ok = np.isfinite(e)
    b = np.full(e.shape, -1, dtype=np.int64)
    b[ok] = np.floor(e[ok] / bin_kev).astype(np.int64)
    for k in np.unique(b[ok]):
        in_bin = b == k
        n_pos, n_neg = int((in_bin & y).sum()), int((in_bin & ~y).sum())
        m = min(n_pos, n_neg)
        if m == 0:
            continue
        w[in_bin & y] = m / n_pos
        w[in_bin & ~y] = m / n_neg
    return w


def energy_matched_auc(
    score: np.ndarray, label: np.ndarray, energy: np.ndarray, bin_kev: float = 25.0
) -> float:
    """ROC AUC with equal class counts per ``bin_kev`` energy bin (see energy_matched_weights)."""
    return roc_auc(score, label, energy_matched_weights(energy, label, bin_kev))


def roc_points(
    score: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) of the ROC curve; empty if undefined."""
    s = np.asarray(score, dtype=float)
    y = np.asarray(label).astype(bool)
    ok = np.isfinite(s)
    if y[ok].all() or not y[ok].any():
        return np.empty(0), np.empty(0)
    return _roc_curve(s[ok], y[ok], None if weight is None else np.asarray(weight)[ok])


def efficiency(passed: np.ndarray, mask: np.ndarray) -> Survival:
    """Binomial fraction of the events in ``mask`` that pass (NaN when ``mask`` is empty)."""
    p = np.asarray(passed, dtype=bool)
    m = np.asarray(mask, dtype=bool)
    n = int(m.sum())
    if n == 0:
        return NAN_SURVIVAL
    f = float((p & m).sum()) / n
    return Survival(f, float(np.sqrt(f * (1 - f) / n)), n, 0, float(n))


def paired_cut_difference(
    energy: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    signal: np.ndarray,
    mask: np.ndarray,
    keep: float = 0.90,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Signal acceptance and background survival (within ``mask``) of the 90 %-DEP cut of
    ``score_a`` minus those of ``score_b``, with bootstrap errors that include the thresholds.

    Why: the binomial error of an acceptance (``efficiency``) treats its cut as exact, but the
    cut is set on the DEP, and a 50,000-event 228Th file holds only ~200 net DEP events: the
    threshold's own sampling error moves a single-site acceptance by ~2 %, five times its
    binomial error. Resampling the events (both scores together, so the comparison is paired)
    and setting both cuts again in every replica gives the error that "does the network keep
    more single-site events than the classical cut?" needs. Replicas whose DEP cannot set a
    cut are skipped; all NaN when fewer than half succeed. ``error_a`` / ``error_b``: the
    bootstrap error of each score's own figure, threshold included. Errors are half the
    16-84 % range of the replicas, not their standard deviation: with ~200 DEP events the
    side-band-subtracted DEP count is not monotone in the threshold, and a few per cent of
    replicas set a cut far below the rest, which would dominate a standard deviation.
    """
    e = np.asarray(energy, dtype=float)
    scores = (np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float))
    sig = np.asarray(signal, dtype=bool) & np.asarray(mask, dtype=bool)
    bkg = ~np.asarray(signal, dtype=bool) & np.asarray(mask, dtype=bool)
    names = ("signal_acceptance", "background_survival")
    nan = dict.fromkeys(("difference", "error", "error_a", "error_b"), float("nan"))
    undefined = {name: nan for name in names} | {"n_bootstrap": 0}

    def figures(idx: np.ndarray) -> np.ndarray | None:
        """(acceptance, survival) of score a and of score b on the events ``idx``."""
        e_i, sig_i, bkg_i = e[idx], sig[idx], bkg[idx]
        out = []
        for s in scores:
            s_i = s[idx]
            thr = dep_threshold(e_i, s_i, keep)
            if not np.isfinite(thr):
                return None
            passed = s_i > thr
            out += [passed[sig_i].mean(), passed[bkg_i].mean()]
        return np.asarray(out)

    nominal = figures(np.arange(e.size))
    if nominal is None or not sig.any() or not bkg.any():
        return undefined  # no replica can do better: skip the bootstrap
    rng = np.random.default_rng(seed)
    reps = [figures(rng.integers(0, e.size, e.size)) for _ in range(n_boot)]
    reps = np.asarray([r for r in reps if r is not None])
    if len(reps) < n_boot / 2:
        return undefined
    spread = _robust_sigma(reps)
    diff = _robust_sigma(reps[:, :2] - reps[:, 2:])
    return {
        name: {
            "difference": float(nominal[k] - nominal[k + 2]),
            "error": float(diff[k]),
            "error_a": float(spread[k]),
            "error_b": float(spread[k + 2]),
        }
        for k, name in enumerate(names)
    } | {"n_bootstrap": len(reps)}


def _robust_sigma(x: np.ndarray) -> np.ndarray:
    """Half the 16-84 % range along axis 0: the standard deviation of a Gaussian core,
    insensitive to the few outlying replicas of a bootstrap."""
    lo, hi = np.percentile(x, [15.865, 84.135], axis=0)
    return 0.5 * (hi - lo)
