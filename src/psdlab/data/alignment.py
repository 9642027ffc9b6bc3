"""Rise-point alignment: the first sample where a pulse reaches a fraction of its own height.

The files' tp0 is a threshold-trigger estimate. Its jitter relative to the pulse grows at low
energy (a small pulse crosses the threshold later in its rise, and noise moves the crossing),
so a tp0-aligned window puts the rising edge at an energy-dependent, jittering position the
network has to learn to ignore. A point at a fixed fraction of each pulse's height (50 % by
default; the peer research code uses 90 %) has no such jitter: ``preprocess.window.mode=rise``
starts the window ``offset`` samples from it.

Vectorised over the chunk like the rest of the preprocessing: one pass over the searched
columns, no per-event Python loop.
"""

from __future__ import annotations

import numpy as np

from psdlab.data.errors import DataError


def check_rise_settings(fraction: float, smooth: int, before: int, after: int) -> None:
    """One-line errors for the rise-mode keys (checked in every mode: a sweep may switch)."""
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"preprocess.window.rise_fraction must be in (0, 1], got {fraction}")
    if smooth < 1:
        raise DataError(f"preprocess.window.rise_smooth must be >= 1, got {smooth}")
    if before < 0 or after < 0:
        raise DataError(
            f"preprocess.window.rise_search_before/after must be >= 0, got {before}/{after}"
        )


def _search_region(
    tp0: np.ndarray | None, n: int, length: int, before: int, after: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per event ``[lo, hi)`` trace samples to search: around tp0 when tp0 lies in the trace,
    the whole trace otherwise (files without tp0 carry -1, unlabelled files may lack it)."""
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, length, dtype=np.int64)
    if tp0 is None:
        return lo, hi
    t = np.asarray(tp0, dtype=np.float64)
    ok = np.isfinite(t) & (t >= 0) & (t < length)
    ti = np.where(ok, t, 0).astype(np.int64)
    lo[ok] = np.clip(ti[ok] - before, 0, length - 1)
    hi[ok] = np.clip(ti[ok] + after + 1, lo[ok] + 1, length)
    return lo, hi


def _moving_average(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``k`` consecutive samples, (n, m) -> (n, m - k + 1) float32; entry j averages
    ``x[:, j : j + k]``. A sum of k shifted slices: exact in float32, unlike a long cumsum."""
    m = x.shape[1] - k + 1
    acc = x[:, :m].astype(np.float32)
    for s in range(1, k):
        acc += x[:, s : s + m]
    acc /= k
    return acc


def _reference(
    s: np.ndarray,
    inside: np.ndarray,
    i_peak: np.ndarray,
    peak: np.ndarray,
    baseline: np.ndarray,
    lo: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The level each rise starts from and the index to search its crossing from.

    Normally the pre-trigger mean and the region start. A pulse on the decaying tail of an
    earlier, larger one can lie wholly below that mean (its maximum is not above it): then
    the foot of its own rise, the minimum of the smoothed trace before the maximum, and from
    there. A region that starts on a pulse's own tail (tp0 far off) has its maximum far
    above the mean, so it keeps the mean and is not found.
    """
    ref = np.array(baseline, dtype=np.float32)
    begin = lo.copy()
    tail = peak <= ref
    if tail.any():
        rel = np.arange(s.shape[1])
        pre = np.where(inside[tail] & (rel <= i_peak[tail, None]), s[tail], np.inf)
        i_min = pre.argmin(axis=1)
        ref[tail] = pre[np.arange(len(i_min)), i_min]
        begin[tail] = i_min
    return ref, begin


def rise_points(
    raw: np.ndarray,
    baseline: np.ndarray,
    tp0: np.ndarray | None,
    fraction: float,
    smooth: int,
    before: int,
    after: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each event's rise point (trace sample index) and whether one was found, both (n,).

    The trace is smoothed by a centred ``smooth``-sample moving average, then searched in
    ``[tp0 - before, tp0 + after]`` (whole trace without a usable tp0) for its maximum; the
    rise point is the first sample of that region at ``ref + fraction * (max - ref)``, ``ref``
    the pre-trigger mean ``baseline`` (n,) (see :func:`_reference` for pulses on a tail).
    Not found: the maximum is not above ``ref``, or the region already starts above the
    level (it starts on the pulse: a tp0 far off), so there is no crossing to align on; NaN
    in the searched samples also leaves it unfound.
    """
    n, length = raw.shape
    k = max(1, min(int(smooth), length))
    half = (k - 1) // 2  # smoothed entry j is centred on trace sample j + half
    lo, hi = _search_region(tp0, n, length, before, after)
    m = length - k + 1
    lo_s = np.clip(lo - half, 0, m - 1)
    hi_s = np.clip(hi - half, lo_s + 1, m)
    if n == 0:
        return lo, np.zeros(0, dtype=bool)
    c0, c1 = int(lo_s.min()), int(hi_s.max())  # smoothed columns any event needs
    s = _moving_average(raw[:, c0 : c1 + k - 1], k)
    rel = np.arange(c1 - c0)
    inside = (rel >= (lo_s - c0)[:, None]) & (rel < (hi_s - c0)[:, None])
    masked = np.where(inside, s, -np.inf)
    i_peak = masked.argmax(axis=1)
    peak = masked[np.arange(n), i_peak]
    ref, begin = _reference(s, inside, i_peak, peak, baseline, lo_s - c0)
    level = ref + np.float32(fraction) * (peak - ref)
    above = inside & (rel >= begin[:, None]) & (s >= level[:, None])
    first = above.argmax(axis=1)
    found = np.isfinite(peak) & (peak > ref) & above.any(axis=1) & (first > begin)
    return first + c0 + half, found
