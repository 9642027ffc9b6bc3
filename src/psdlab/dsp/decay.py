"""Preamplifier decay constant from the tails of the pulses themselves.

Pole-zero correction needs each channel's decay constant. MJD's are 64-77 us, but real data
from other setups spans 80-900 us (``../shared/realdata/README.md``), differs per detector
and per file, and is rarely written next to the traces. The tail of every pulse carries it:
after the charge is collected the trace decays as ``A exp(-t / tau)``. So each pulse gets a
log-linear fit on its tail, and a detector's constant is the median over its pulses, which
shrugs off the minority of pulses a fit gets wrong (delayed charge of surface events, pile-up
that slipped through the cuts).

Why the fit is done the way it is:

* The tail is averaged in a few wide windows before the logarithm is taken, so the log
  never sees a noise-dominated (or negative) sample and the fit costs almost nothing.
* It starts ``skip_us`` after the pulse maximum: the MJD preamplifier's secondary 2.1 us pole
  (0.4-1 % of the amplitude) would otherwise bend the start of the tail, which matters for
  long constants where the whole tail decays by only a few per cent.
* Detector constants are ``1 / median(rate)``, not ``median(tau)``: at long constants and low
  signal-to-noise a fitted rate can come out <= 0, where a per-pulse tau is meaningless but a
  rate still counts correctly towards the median.
* A pulse is rejected when a second pulse piles up on its tail (a step in a short difference
  filter, far above that trace's own baseline noise), when it sits on the tail of an earlier
  pulse (a baseline slope: the pedestal under the tail is then wrong, which biases tau by
  ``A / (A + P)``), or when it is too small for the fit to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dspeed.processors import linear_slope_fit, moving_window_left, trap_norm

REJECT_OK = 0
REJECT_SMALL = 1
REJECT_TAIL_PILEUP = 2
REJECT_ON_TAIL = 3
REJECT_FIT = 4
REJECT_REASONS = {
    REJECT_OK: "accepted",
    REJECT_SMALL: "amplitude below min_snr x baseline noise",
    REJECT_TAIL_PILEUP: "second pulse on the tail",
    REJECT_ON_TAIL: "sloped baseline (on an earlier pulse's tail)",
    REJECT_FIT: "tail too short or not positive",
}


@dataclass(frozen=True)
class DecayFitConfig:
    """Windows and rejection thresholds of the tail fit.

    Attributes:
        baseline_samples: pre-trigger samples for pedestal, noise and slope; ``None`` takes
            everything up to 100 samples before the median rising edge of the block.
        skip_us: start of the fit after the pulse maximum.
        end_margin: samples left out at the end of the trace.
        n_windows: windows the fitted tail is averaged in.
        min_tail_samples: shortest usable tail.
        min_snr: smallest amplitude, in units of the trace's baseline rms.
        step_samples: window length r of the step filter that finds piled-up pulses.
        step_sigma: a step above this many baseline sigmas of that filter is a pile-up.
        drift_sigma: a falling baseline, beyond this many times the block's robust spread
            of baseline drifts, flags a pulse on an earlier pulse's tail ...
        on_tail_fraction: ... when that earlier tail, extrapolated with the pulse's own
            constant (slope x tau), exceeds this fraction of the amplitude: tau is biased
            by about that fraction.
    """

    baseline_samples: int | None = None
    skip_us: float = 6.0
    end_margin: int = 10
    n_windows: int = 8
    min_tail_samples: int = 200
    min_snr: float = 30.0
    step_samples: int = 20
    step_sigma: float = 8.0
    drift_sigma: float = 3.0
    on_tail_fraction: float = 0.01


@dataclass(frozen=True)
class DecayFit:
    """Per-pulse result of :func:`fit_pulse_decays` (arrays of length n).

    Attributes:
        rate_per_us: fitted decay rate 1/tau (1/us); NaN where rejected.
        reason: one of the ``REJECT_*`` codes (``REJECT_OK`` = used).
        amplitude: baseline-subtracted trace at the start of the fit (ADC).
    """

    rate_per_us: np.ndarray
    reason: np.ndarray
    amplitude: np.ndarray

    @property
    def accepted(self) -> np.ndarray:
        return self.reason == REJECT_OK

    @property
    def tau_us(self) -> np.ndarray:
        """Per-pulse decay constant (us); NaN where rejected or the rate is not positive."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.rate_per_us > 0, 1.0 / self.rate_per_us, np.nan)


def _window_means(x: np.ndarray, start: np.ndarray, width: np.ndarray, k: int) -> np.ndarray:
    """(n, k) means of k adjacent windows of ``width`` samples from ``start``, per row."""
    n = x.shape[0]
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1)], axis=1)
    edges = start[:, None] + width[:, None] * np.arange(k + 1)[None, :]
    sums = np.diff(np.take_along_axis(c, edges, axis=1), axis=1)
    return sums / width[:, None]


def _step_filter(x: np.ndarray, r: int) -> np.ndarray:
    """Change of the r-sample-difference filter over 2r samples, aligned at its last sample.

    dspeed's ``trap_norm(x, r, 0)`` is the difference of adjacent r-sample means: a step
    (a piled-up pulse) shows as a triangle, an exponential tail as a slowly drifting offset.
    Differencing it once more over 2r samples removes that drift (its own slope, which grows
    with the amplitude, would otherwise pass for a step on large pulses) and keeps the step.
    The first 4r samples are invalid.
    """
    d = trap_norm(x, r, 0)
    out = np.full_like(d, np.nan)
    out[:, 2 * r :] = d[:, 2 * r :] - d[:, : -2 * r]
    return out


def _baseline_stats(
    w: np.ndarray, n_bl: int, cfg: DecayFitConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pedestal, rms, drift across the window and the step filter's noise, per trace."""
    bl = np.ascontiguousarray(w[:, :n_bl])
    mean, std, slope, _ = linear_slope_fit(bl)
    drift = slope * n_bl
    r = cfg.step_samples
    step = _step_filter(bl - mean[:, None], r)[:, 4 * r :]
    return mean, std, drift, step.std(axis=1)


def _noise_scale(z: np.ndarray) -> float:
    """Spread of the baseline drift in white-noise sigmas, from the block itself.

    Low-frequency (pink) noise makes baselines wander far more than white noise of the same
    rms would (sigma 5-7 in the simulation, ~4 in real data), so the threshold is set in
    units of the block's robust spread (most pulses are not on a tail); small blocks fall
    back to the white-noise error.
    """
    z = z[np.isfinite(z)]
    if z.size < 50:
        return 1.0
    return max(1.0, 1.4826 * float(np.median(np.abs(z - np.median(z)))))


def _tail_pileup(
    w: np.ndarray, t_max: np.ndarray, step_sigma: np.ndarray, cfg: DecayFitConfig
) -> np.ndarray:
    """True where the step filter jumps on the tail far above the trace's baseline noise."""
    r = cfg.step_samples
    step = np.abs(np.nan_to_num(_step_filter(w, r)))
    idx = np.arange(w.shape[1])[None, :]
    in_tail = (idx >= (t_max + 4 * r + 50)[:, None]) & (idx < w.shape[1] - cfg.end_margin)
    largest = np.max(np.where(in_tail, step, 0.0), axis=1)
    return largest > cfg.step_sigma * step_sigma


def _on_earlier_tail(
    drift: np.ndarray,
    std: np.ndarray,
    n_bl: int,
    rate_per_sample: np.ndarray,
    amplitude: np.ndarray,
    cfg: DecayFitConfig,
) -> np.ndarray:
    """True for a pulse on the tail of an earlier one that biases its tau by > the tolerance.

    The earlier pulse's decaying tail P gives the baseline a negative drift of
    P * n_bl / tau; P is estimated from the drift and the pulse's own fitted tau.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        tau_samples = 1.0 / np.maximum(np.nan_to_num(rate_per_sample, nan=0.0), 1e-12)
        z = drift / (std * np.sqrt(12.0 / n_bl))
    earlier = -drift * tau_samples / n_bl
    significant = z < -cfg.drift_sigma * _noise_scale(z)
    return significant & (earlier > cfg.on_tail_fraction * np.abs(amplitude))


def fit_pulse_decays(
    waveforms: np.ndarray, sampling_period_ns: float = 10.0, config: DecayFitConfig | None = None
) -> DecayFit:
    """Log-linear fit of every pulse's tail in raw traces ``waveforms`` (n, L).

    Vectorised over the block (numpy and dspeed), no per-pulse Python loop. Call it on
    chunks of a file; :func:`decay_constants_by_detector` combines the results.
    """
    cfg = config or DecayFitConfig()
    w = np.asarray(waveforms, dtype=np.float64)
    n, length = w.shape
    smooth = moving_window_left(w, 10.0)
    t_edge = np.argmax(np.diff(smooth, axis=1), axis=1)
    n_bl = cfg.baseline_samples or int(max(50, np.median(t_edge) - 100 if n else 50))
    mean, std, drift, step_sigma = _baseline_stats(w, n_bl, cfg)
    w = w - mean[:, None]
    smooth = smooth - mean[:, None]
    t_max = np.argmax(smooth, axis=1)
    start = t_max + round(cfg.skip_us * 1000.0 / sampling_period_ns)
    width = (length - cfg.end_margin - start) // cfg.n_windows
    ok_len = width * cfg.n_windows >= cfg.min_tail_samples
    start = np.where(ok_len, start, 0)
    width = np.where(ok_len, width, 1)
    m = _window_means(w, start, width, cfg.n_windows)
    amplitude = np.where(ok_len, m[:, 0], np.nan)

    reason = np.full(n, REJECT_OK, dtype=np.int8)
    positive = np.all(m > 0, axis=1) & ok_len
    reason[~positive] = REJECT_FIT
    pileup = _tail_pileup(w, t_max, step_sigma, cfg)
    reason[pileup & (reason == REJECT_OK)] = REJECT_TAIL_PILEUP

    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.log(np.where(m > 0, m, np.nan))
    _, _, slope, _ = linear_slope_fit(np.ascontiguousarray(y))
    rate_per_sample = -slope / width
    on_tail = _on_earlier_tail(drift, std, n_bl, rate_per_sample, amplitude, cfg)
    reason[on_tail & (reason == REJECT_OK)] = REJECT_ON_TAIL
    reason[np.abs(amplitude) < cfg.min_snr * std] = REJECT_SMALL
    rate = np.where(reason == REJECT_OK, rate_per_sample * 1000.0 / sampling_period_ns, np.nan)
    return DecayFit(rate_per_us=rate, reason=reason, amplitude=amplitude)


def decay_constants_by_detector(
    rate_per_us: np.ndarray, detector: np.ndarray, min_pulses: int = 5
) -> dict[int, float]:
    """``{detector: tau_us}`` as 1 / median of the accepted per-pulse rates.

    Detectors with fewer than ``min_pulses`` accepted pulses (or a non-positive median rate)
    are left out: the caller decides the fallback (a configured value, the file's median).
    """
    rate = np.asarray(rate_per_us, dtype=np.float64)
    det = np.asarray(detector)
    good = np.isfinite(rate)
    out: dict[int, float] = {}
    for d in np.unique(det[good]):
        r = rate[good & (det == d)]
        med = float(np.median(r))
        if r.size >= min_pulses and med > 0:
            out[int(d)] = 1.0 / med
    return out


def estimate_decay_constants(
    waveforms: np.ndarray,
    detector: np.ndarray,
    sampling_period_ns: float = 10.0,
    config: DecayFitConfig | None = None,
    min_pulses: int = 5,
    chunk_size: int = 1000,
) -> dict[int, float]:
    """``{detector: tau_us}`` from raw traces (n, L) and their detector ids (n,).

    Processes ``chunk_size`` traces at a time, so a memory-mapped file can be passed whole.
    """
    n = len(waveforms)
    rates = np.empty(n)
    for s in range(0, n, chunk_size):
        block = np.asarray(waveforms[s : s + chunk_size], dtype=np.float64)
        rates[s : s + len(block)] = fit_pulse_decays(block, sampling_period_ns, config).rate_per_us
    return decay_constants_by_detector(rates, detector, min_pulses)
