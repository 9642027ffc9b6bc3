"""Plain pulse features for comparing simulated with real traces.

These are deliberately simple and model-free (no pole-zero constant, no calibration): a
10-90 % rise time on the trace itself, an exponential fit of the tail, the baseline noise
and its spectrum, a sample-to-sample correlation, and flags for traces sitting on an earlier
pulse's tail or holding a second pulse. Applied identically to real and simulated files they
say where the simulator differs from detectors (``python -m psdlab.simulate.compare_real``).
"""

from __future__ import annotations

import itertools

import numpy as np

NOISE_BANDS_MHZ = (0.0, 0.5, 2.0, 10.0, 50.0)  # edges of the noise-power bands reported


def _crossing(y: np.ndarray, level: np.ndarray, start: np.ndarray, forward: bool) -> np.ndarray:
    """Fractional index where each row of ``y`` crosses ``level``, walking from ``start``.

    Forward: the first j >= start with y[j] >= level; backward: the last j <= start with
    y[j] < level (then the crossing lies between j and j+1). Linear interpolation.
    """
    n, length = y.shape
    idx = np.arange(length)[None, :]
    above = y >= level[:, None]
    if forward:
        ok = above & (idx >= start[:, None])
        j = np.where(ok.any(axis=1), ok.argmax(axis=1), length - 1)
        j0 = np.clip(j - 1, 0, length - 2)
    else:
        ok = ~above & (idx <= start[:, None])
        j0 = np.where(ok.any(axis=1), length - 1 - ok[:, ::-1].argmax(axis=1), 0)
        j0 = np.clip(j0, 0, length - 2)
    rows = np.arange(n)
    a, b = y[rows, j0], y[rows, j0 + 1]
    frac = np.clip((level - a) / np.where(b != a, b - a, 1.0), 0.0, 1.0)
    return j0 + frac


def rise_features(
    wf: np.ndarray, tp0: np.ndarray, baseline_samples: int = 800, top_samples: int = (300, 500)
) -> dict[str, np.ndarray]:
    """Baseline, amplitude and 10-90 % rise time (samples) of traces with a rise near ``tp0``.

    The amplitude is the maximum of the trace within ``top_samples[1]`` samples after tp0
    (a 70 us decay loses < 0.1 % over a 1 us rise, so no pole-zero is needed); the 90 %
    point is the first crossing after tp0, the 10 % point the last crossing before it.
    """
    w = np.asarray(wf, dtype=np.float64)
    length = w.shape[1]
    t = np.round(np.asarray(tp0)).astype(np.int64)
    bl_end = np.clip(t - 50, 20, baseline_samples)
    idx = np.arange(length)[None, :]
    bl_mask = idx < bl_end[:, None]
    baseline = (w * bl_mask).sum(axis=1) / bl_mask.sum(axis=1)
    resid = np.where(bl_mask, w - baseline[:, None], 0.0)
    rms = np.sqrt((resid**2).sum(axis=1) / bl_mask.sum(axis=1))
    y = w - baseline[:, None]
    win = (idx >= t[:, None] - 50) & (idx < t[:, None] + top_samples[1])
    amp = np.where(win, y, -np.inf).max(axis=1)
    t_max = np.where(win, y, -np.inf).argmax(axis=1)
    start = np.clip(t - 50, 0, length - 1)
    t90 = _crossing(y, 0.9 * amp, start, forward=True)
    t10 = _crossing(y, 0.1 * amp, np.floor(t90).astype(np.int64), forward=False)
    return {
        "baseline": baseline,
        "baseline_rms": rms,
        "amplitude": amp,
        "t_max": t_max.astype(np.float64),
        "t10": t10,
        "t90": t90,
        "rise_10_90": t90 - t10,
    }


def tail_fit(
    wf: np.ndarray, baseline: np.ndarray, start: np.ndarray, stop: int
) -> dict[str, np.ndarray]:
    """Decay constant (samples) from a straight-line fit of log(trace) from ``start`` to
    ``stop``, and the tail slope in fraction of the tail's start value per sample."""
    w = np.asarray(wf, dtype=np.float64) - baseline[:, None]
    length = w.shape[1]
    idx = np.arange(length)[None, :]
    m = (idx >= start[:, None]) & (idx < stop)
    y = np.log(np.clip(w, 1e-3, None))
    x = np.broadcast_to(idx, w.shape).astype(np.float64)
    cnt = m.sum(axis=1)
    mx = (x * m).sum(axis=1) / cnt
    my = (y * m).sum(axis=1) / cnt
    sxy = (((x - mx[:, None]) * (y - my[:, None])) * m).sum(axis=1)
    sxx = (((x - mx[:, None]) ** 2) * m).sum(axis=1)
    slope = sxy / sxx
    with np.errstate(divide="ignore"):
        return {"tau": -1.0 / slope, "log_slope": slope}


def noise_spectrum(
    wf: np.ndarray, n_samples: int = 512, dt_ns: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of the first ``n_samples`` baseline samples (mean removed), as
    (frequency in MHz, power per bin normalised so that it sums to one per trace)."""
    b = np.asarray(wf[:, :n_samples], dtype=np.float64)
    b = b - b.mean(axis=1, keepdims=True)
    p = np.abs(np.fft.rfft(b * np.hanning(n_samples)[None, :], axis=1)) ** 2
    p = p[:, 1:] / p[:, 1:].sum(axis=1, keepdims=True)
    f_mhz = np.fft.rfftfreq(n_samples, d=dt_ns * 1e-3)[1:]
    return f_mhz, p.mean(axis=0)


def band_fractions(f_mhz: np.ndarray, power: np.ndarray) -> dict[str, float]:
    """Share of the noise power in the bands of :data:`NOISE_BANDS_MHZ`."""
    out = {}
    for lo, hi in itertools.pairwise(NOISE_BANDS_MHZ):
        out[f"{lo:g}-{hi:g} MHz"] = float(power[(f_mhz > lo) & (f_mhz <= hi)].sum())
    return out


def lag_correlation(wf: np.ndarray, n_samples: int = 512, lags: tuple[int, ...] = (1, 2, 5)):
    """Median sample-to-sample autocorrelation of the baseline at ``lags``."""
    b = np.asarray(wf[:, :n_samples], dtype=np.float64)
    b = b - b.mean(axis=1, keepdims=True)
    var = (b**2).mean(axis=1)
    return {
        k: float(np.median((b[:, k:] * b[:, :-k]).mean(axis=1) / np.maximum(var, 1e-12)))
        for k in lags
    }


def max_current_over_amplitude(
    y: np.ndarray, tp0: np.ndarray, amplitude: np.ndarray, rise: int = 8, window: int = 300
) -> np.ndarray:
    """A/E in 1/sample: maximum of the ``rise``+``rise`` triangular current (difference of
    adjacent ``rise``-sample means) within ``window`` samples after tp0, over the amplitude."""
    n, length = y.shape
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(y, axis=1)], axis=1)
    j = np.arange(rise, length - rise + 1)
    cur = ((c[:, j + rise] - c[:, j]) - (c[:, j] - c[:, j - rise])) / rise / rise
    idx = j[None, :]
    t = np.asarray(tp0)[:, None]
    win = (idx >= t - 50) & (idx < t + window)
    return np.where(win, cur, -np.inf).max(axis=1) / amplitude


def pole_zero_tail_slope(
    y: np.ndarray, tau_samples: np.ndarray, amplitude: np.ndarray, early: np.ndarray, late: int
) -> np.ndarray:
    """Slope of the single-pole-zero-corrected tail, fraction of the amplitude per sample,
    between 200-sample windows starting at ``early`` and at ``late`` (a DCR-like number)."""
    n = y.shape[0]
    pz = y + np.cumsum(y, axis=1) / np.asarray(tau_samples)[:, None]
    rows = np.arange(n)
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(pz, axis=1)], axis=1)
    s1 = np.clip(np.asarray(early, dtype=np.int64), 0, late - 200)
    m1 = (c[rows, s1 + 200] - c[rows, s1]) / 200
    m2 = (c[:, late + 200] - c[:, late]) / 200
    return (m2 - m1) / np.maximum(late - s1, 1) / amplitude


def baseline_drop(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Fall of the baseline over its first ``n_samples`` (straight-line fit), in ADC.

    A trace recorded on an earlier pulse's tail has a baseline that decays with the
    preamplifier constant: a positive drop of a few noise rms (the real files' flags agree
    with ``drop > 1.5 rms`` for 95 % of the events).
    """
    b = np.asarray(y[:, :n_samples], dtype=np.float64)
    x = np.arange(n_samples) - 0.5 * (n_samples - 1)
    return -(b * x[None, :]).sum(axis=1) / (x**2).sum() * n_samples


def largest_extra_step(
    pz: np.ndarray, exclude_from: np.ndarray, exclude_to: np.ndarray, stop: int, k: int = 20
) -> np.ndarray:
    """Largest step (mean of ``k`` samples ahead minus ``k`` behind) of a pole-zero
    corrected trace outside ``[exclude_from, exclude_to)``: a second pulse in the trace."""
    n, length = pz.shape
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(pz, axis=1)], axis=1)
    step = (c[:, 2 * k :] - 2 * c[:, k:-k] + c[:, : -2 * k]) / k
    idx = np.arange(step.shape[1])[None, :] + k
    inside = (idx >= np.asarray(exclude_from)[:, None]) & (idx < np.asarray(exclude_to)[:, None])
    return np.where(~inside & (idx < min(stop, length - k)), step, 0.0).max(axis=1)
