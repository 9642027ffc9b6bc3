"""Distances between two samples of one feature, and the summary row of the table.

Two distances, because they answer different questions:

* the two-sample Kolmogorov-Smirnov statistic (0 = same distribution, 1 = disjoint) is
  invariant to any monotone change of units, so "log or not" does not matter, but it says
  nothing about how far apart disjoint distributions are;
* the Wasserstein (earth mover's) distance divided by the pooled spread says how far, in
  units of the features' own width: ~0.1 is a small shift, >1 means the sets barely overlap.
  It is computed on log10 values for features viewed in log (amplitudes, noise, decay
  constants span decades), on values clipped to the range the figure shows (see
  :func:`display_range`), and the spread is the pooled within-set robust sigma
  (IQR / 1.349 of each set, combined as a pooled standard deviation): a few pile-up pulses
  with absurd values must neither dominate the distance nor set its scale.

Both come from :mod:`scipy.stats`. NaNs (a pulse whose tail could not be fitted, energies a
file does not have) are dropped per feature; the row reports how many values remained.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from psdlab.compare.features import Feature

MIN_VALUES = 5  # fewer values than this on either side: no distance


def transformed(values: np.ndarray, feature: Feature) -> np.ndarray:
    """Finite values of a feature as they are compared (log10 of positives for log features)."""
    v = np.asarray(values, dtype=np.float64)
    if feature.log:
        v = np.log10(v[v > 0])
    return v[np.isfinite(v)]


def display_range(a: np.ndarray, b: np.ndarray, clip: float = 0.005) -> tuple[float, float]:
    """Union of both sets' [clip, 1 - clip] quantile ranges.

    ``clip`` is per feature (:attr:`Feature.clip`): a generic rule fails one way or the
    other on real data, where 3-5 % pile-up pulses give absurd rise times and tail slopes
    (to be clipped), while 6 % of the pulses have a decay constant five times the bulk's
    and 3 % sit in the 2614 keV line (to be shown).
    """
    qs = [np.percentile(v, [100 * clip, 100 * (1 - clip)]) for v in (a, b) if v.size]
    if not qs:
        return 0.0, 1.0
    lo, hi = min(q[0] for q in qs), max(q[1] for q in qs)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def robust_sigma(v: np.ndarray) -> float:
    """IQR / 1.349 (the sigma of a Gaussian); the standard deviation where the IQR is zero."""
    q25, q75 = np.percentile(v, [25, 75])
    spread = (q75 - q25) / 1.349
    return float(spread if spread > 0 else v.std())


def pooled_spread(a: np.ndarray, b: np.ndarray) -> float:
    """Pooled within-set spread, sqrt((sigma_a^2 + sigma_b^2) / 2) of the robust sigmas.

    Within-set, as in Cohen's d: the spread of the concatenated sample would grow with the
    very shift being measured (two disjoint narrow peaks would never score above ~1.3).
    """
    return float(np.sqrt((robust_sigma(a) ** 2 + robust_sigma(b) ** 2) / 2.0))


def distances(a: np.ndarray, b: np.ndarray, clip: float = 0.005) -> dict[str, float]:
    """KS statistic and p-value, and the Wasserstein distance over the pooled spread.

    The Wasserstein distance is taken on values clipped to :func:`display_range`.
    """
    nan = float("nan")
    if a.size < MIN_VALUES or b.size < MIN_VALUES:
        return {"ks": nan, "ks_pvalue": nan, "wasserstein_norm": nan}
    ks = stats.ks_2samp(a, b)
    spread = pooled_spread(a, b)
    lo, hi = display_range(a, b, clip)
    w = stats.wasserstein_distance(np.clip(a, lo, hi), np.clip(b, lo, hi))
    return {
        "ks": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein_norm": float(w / spread) if spread > 0 else (0.0 if w == 0 else nan),
    }


def _quantiles(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return (float("nan"),) * 3
    q = np.percentile(values, [10, 50, 90])
    return float(q[0]), float(q[1]), float(q[2])


def feature_row(feature: Feature, a: np.ndarray, b: np.ndarray) -> dict[str, object]:
    """One table row: counts, 10/50/90 % quantiles in physics units, and the distances."""
    row: dict[str, object] = {"feature": feature.name, "unit": feature.unit}
    for side, values in (("a", a), ("b", b)):
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        lo, med, hi = _quantiles(v)
        row.update({f"n_{side}": int(v.size), f"p10_{side}": lo, f"median_{side}": med})
        row[f"p90_{side}"] = hi
    row.update(distances(transformed(a, feature), transformed(b, feature), feature.clip))
    return row
