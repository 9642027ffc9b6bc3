"""Classical MJD-style pulse-shape parameters from raw traces, built on dspeed.

Everything is computed on whole (n, L) blocks with dspeed's numba gufuncs and numpy, in
chunks so that memory stays bounded for 65,000 x 3800 files. The processing chain follows
the MJD analysis notes (docs/simulator.md lists the sources): baseline subtraction, double
pole-zero correction (72 us + 2.1 us), trapezoidal energy (601/280 samples, fixed-time
pickoff), t0 from a low threshold walked back from the 50 % point, A/E from the maximum of
an 8+8-sample triangular current filter, DCR from the slope of the pole-zero-corrected tail
starting 0.5 us after the 95 % point, LQ from the area above the pulse after its 80 % point.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from dspeed.processors import double_pole_zero, time_point_thresh, trap_norm

PARAMETER_NAMES = (
    "baseline",
    "baseline_rms",
    "trap_energy",
    "a_max",
    "aoe",
    "dcr",
    "lq",
    "tp0",
    "t50",
    "t80",
    "t95",
    "t99",
    "drift_time_ns",
    "qdrift_ns",
)


@dataclass(frozen=True)
class DSPConfig:
    """Filter lengths (samples) of the classical chain.

    The MJD values need 3800-sample traces; :meth:`for_trace` shrinks the energy trapezoid
    and the DCR windows for short test traces so that every window fits.
    """

    baseline_samples: int = 800
    energy_rise: int = 601
    energy_flat: int = 280
    current_rise: int = 8
    smooth: int = 5
    t0_smooth: int = 10
    dcr_delay: int = 50
    dcr_window: int = 200
    lq_window: int = 100
    tau2_us: float = 2.1
    tau2_fraction: float = 0.007

    @classmethod
    def for_trace(cls, trace_length: int, tp0: float, **kw: float) -> DSPConfig:
        """MJD filters where they fit, proportionally shorter ones where they do not."""
        cfg = cls(**kw)
        bl = int(min(cfg.baseline_samples, max(50, tp0 - 100)))
        # the trapezoid's leading window must start after the trace start (tp0 jitter
        # margin 100 samples) and the pickoff must stay inside the trace
        rise = int(min(cfg.energy_rise, tp0 - 140))
        flat = int(min(cfg.energy_flat, trace_length - tp0 - rise - 100))
        if flat < 200:
            flat = 200
            rise = int(trace_length - tp0 - 100 - flat)
        if rise < 20:
            raise ValueError(f"trace of {trace_length} samples with tp0={tp0} is too short")
        dcr_window = int(min(cfg.dcr_window, max(20, (trace_length - tp0 - 250) // 3)))
        return cls(
            **{
                **asdict(cfg),
                "baseline_samples": bl,
                "energy_rise": rise,
                "energy_flat": flat,
                "dcr_window": dcr_window,
            }
        )


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Causal moving average over n samples (first n-1 samples average what exists)."""
    c = np.cumsum(x, axis=1)
    out = c.copy()
    out[:, n:] = c[:, n:] - c[:, :-n]
    out[:, n:] /= n
    out[:, :n] /= np.arange(1, n + 1)
    return out


def _window_mean(x: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """Mean of x[i, start_i : start_i + width] for every row (start clipped into range)."""
    n, length = x.shape
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1)], axis=1)
    s = np.clip(start, 0, length - width).astype(np.int64)
    rows = np.arange(n)
    return (c[rows, s + width] - c[rows, s]) / width


def _forward_crossing(x: np.ndarray, level: np.ndarray, start: np.ndarray) -> np.ndarray:
    """First index >= start where x rises through level (dspeed time_point_thresh)."""
    t = time_point_thresh(x, level, start.astype(np.float64), 1)
    return np.where(np.isnan(t), start, t)


def _baseline_and_pz(
    wf: np.ndarray, tau_samples: np.ndarray, dt_ns: float, cfg: DSPConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline mean and rms from the pre-trace, and the double-pole-zero-corrected trace."""
    bl_win = wf[:, : cfg.baseline_samples]
    baseline = bl_win.mean(axis=1)
    baseline_rms = bl_win.std(axis=1)
    tau2 = cfg.tau2_us * 1000.0 / dt_ns
    pz = double_pole_zero(wf - baseline[:, None], tau_samples, tau2, cfg.tau2_fraction)
    return baseline, baseline_rms, _flatten_tail_baseline(pz, baseline_rms, cfg.baseline_samples)


def _flatten_tail_baseline(pz: np.ndarray, rms: np.ndarray, n_bl: int) -> np.ndarray:
    """Remove the ramp that a pulse on an earlier pulse's tail leaves after pole-zero.

    The baseline mean of a falling tail is not the trace's true offset, and pole-zero turns
    that offset error into a straight falling ramp over the whole trace (a fake DCR slope).
    Where the pole-zero-corrected baseline falls by more than 3x the noise rms across its
    window (low-frequency noise alone rarely does) the ramp is fitted there and subtracted
    everywhere; other baselines are left untouched.
    """
    x = np.arange(n_bl) - 0.5 * (n_bl - 1)
    sxx = float((x**2).sum())
    slope = (pz[:, :n_bl] * x[None, :]).sum(axis=1) / sxx
    tail = -slope * n_bl > 3.0 * rms
    if tail.any():
        j = np.arange(pz.shape[1]) - 0.5 * (n_bl - 1)
        pz[tail] -= slope[tail, None] * j[None, :]
    return pz


def _start_times(pz: np.ndarray, baseline_rms: np.ndarray, cfg: DSPConfig) -> dict[str, np.ndarray]:
    """Smoothed traces, the 50 % point and t0 (walked back from it), which anchor the rest."""
    n, length = pz.shape
    rows = np.arange(n)
    sm = _moving_average(pz, cfg.smooth)
    sm0 = _moving_average(pz, cfg.t0_smooth)
    tail = sm[:, -min(200, length // 4) :].mean(axis=1)
    t_max = np.argmax(sm0, axis=1)
    peak = np.maximum(sm0[rows, t_max], 1.0)
    t50 = time_point_thresh(sm, 0.5 * peak, t_max.astype(np.float64), 0)
    t50 = np.where(np.isnan(t50), t_max, t50)
    noise_sm = baseline_rms / np.sqrt(cfg.t0_smooth)
    thr0 = np.maximum(3.0 * noise_sm, 0.02 * peak)
    tp0 = time_point_thresh(sm0, thr0, t50, 0)
    # the averaging window delays the smoothed trace by about half its length
    tp0 = np.where(np.isnan(tp0), t50, tp0) - (cfg.t0_smooth - 1) / 2.0
    tp0 = np.clip(tp0, 0, length - 1)
    return {"sm": sm, "tail": tail, "t50": t50, "tp0": tp0}


def _trap_energy(pz: np.ndarray, tp0: np.ndarray, cfg: DSPConfig) -> np.ndarray:
    """Trapezoidal energy, fixed-time pickoff inside the flat top."""
    n, length = pz.shape
    trap = trap_norm(pz, cfg.energy_rise, cfg.energy_flat)
    pick_off = cfg.energy_flat - max(20, cfg.energy_flat // 7)
    pick = np.clip(np.round(tp0).astype(np.int64) + cfg.energy_rise + pick_off, 0, length - 1)
    return trap[np.arange(n), pick]


def _max_current(pz: np.ndarray, tp0: np.ndarray, t99: np.ndarray, cfg: DSPConfig) -> np.ndarray:
    """A: maximum of the 8+8 triangular current (difference of adjacent 8-sample means)."""
    r = cfg.current_rise
    cur = trap_norm(pz, r, 0) / r
    idx = np.arange(pz.shape[1])[None, :]
    lo = (tp0 - 5)[:, None]
    hi = (t99 + r + 10)[:, None]
    a_max = np.where((idx >= lo) & (idx <= hi), cur, -np.inf).max(axis=1)
    return np.where(np.isfinite(a_max), a_max, 0.0)


def _dcr_and_lq(
    pz: np.ndarray,
    t80: np.ndarray,
    t95: np.ndarray,
    e_ref: np.ndarray,
    dt_ns: float,
    cfg: DSPConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """DCR: slope of the PZ-corrected tail from 0.5 us after the 95 % point to the trace end
    (fraction of E per us). LQ: area between flat top and pulse after the 80 % point."""
    n, length = pz.shape
    s1 = np.round(t95).astype(np.int64) + cfg.dcr_delay
    s1 = np.minimum(s1, length - 2 * cfg.dcr_window)
    s2 = np.full(n, length - cfg.dcr_window)
    m1 = _window_mean(pz, s1, cfg.dcr_window)
    m2 = _window_mean(pz, s2, cfg.dcr_window)
    dt_us = np.maximum(s2 - s1, 1) * dt_ns / 1000.0
    dcr = (m2 - m1) / dt_us / e_ref
    s80 = np.round(t80).astype(np.int64)
    lq = cfg.lq_window * (1.0 - _window_mean(pz, s80, cfg.lq_window) / e_ref)
    return dcr, lq


def _charge_weighted_drift(
    pz: np.ndarray, tp0: np.ndarray, t99: np.ndarray, e_ref: np.ndarray, dt_ns: float
) -> np.ndarray:
    """Area above the rising edge, integral of (1 - q(t)/E) from t0 to past t99, in ns.

    For a multi-site event this is the charge-weighted drift time (each cluster counts with
    its charge), the quantity charge trapping follows; MJD's charge-trapping correction uses
    this "Qdrift" rather than the last cluster's drift time."""
    n, length = pz.shape
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(pz, axis=1)], axis=1)
    s0 = np.clip(np.round(tp0).astype(np.int64), 0, length - 1)
    s1 = np.clip(np.round(t99).astype(np.int64) + 20, s0 + 1, length)
    rows = np.arange(n)
    area = (s1 - s0) - (c[rows, s1] - c[rows, s0]) / e_ref
    return area * dt_ns


def _process_block(
    wf: np.ndarray, tau_samples: np.ndarray, dt_ns: float, cfg: DSPConfig
) -> dict[str, np.ndarray]:
    baseline, baseline_rms, pz = _baseline_and_pz(wf, tau_samples, dt_ns, cfg)
    st = _start_times(pz, baseline_rms, cfg)
    sm, t50, tp0 = st["sm"], st["t50"], st["tp0"]
    trap_energy = _trap_energy(pz, tp0, cfg)
    e_ref = np.where(trap_energy > 1.0, trap_energy, np.maximum(st["tail"], 1.0))
    t80 = _forward_crossing(sm, 0.8 * e_ref, t50)
    t95 = _forward_crossing(sm, 0.95 * e_ref, t80)
    t99 = _forward_crossing(sm, 0.99 * e_ref, t95)
    delay = (cfg.smooth - 1) / 2.0
    t50, t80, t95, t99 = (t - delay for t in (t50, t80, t95, t99))
    a_max = _max_current(pz, tp0, t99, cfg)
    dcr, lq = _dcr_and_lq(pz, t80, t95, e_ref, dt_ns, cfg)
    return {
        "baseline": baseline,
        "baseline_rms": baseline_rms,
        "trap_energy": trap_energy,
        "a_max": a_max,
        "aoe": a_max / e_ref,
        "dcr": dcr,
        "lq": lq,
        "tp0": tp0,
        "t50": t50,
        "t80": t80,
        "t95": t95,
        "t99": t99,
        "drift_time_ns": (t99 - tp0) * dt_ns,
        "qdrift_ns": _charge_weighted_drift(pz, tp0, t99, e_ref, dt_ns),
    }


def compute_parameters(
    waveforms: np.ndarray,
    sampling_period_ns: float = 10.0,
    tau_us: float | np.ndarray = 72.0,
    config: DSPConfig | None = None,
    chunk_size: int = 2000,
) -> dict[str, np.ndarray]:
    """Classical parameters of raw traces ``waveforms`` (n, L), processed in chunks.

    ``tau_us`` is the preamplifier decay constant, a scalar or one value per trace (the
    detector's measured constant, as the real analysis uses per channel). Returns float64
    arrays of length n named as in :data:`PARAMETER_NAMES`: ``trap_energy`` (ADC),
    ``a_max`` (ADC/sample), ``aoe`` (raw A/E, 1/sample), ``dcr`` (fraction of E per us),
    ``lq`` (samples), times in samples except ``drift_time_ns`` and ``qdrift_ns`` (the
    charge-weighted drift time that the drift-time energy correction uses).
    """
    wf_all = np.asarray(waveforms)
    if wf_all.ndim != 2:
        raise ValueError(f"waveforms must be (n, L), got shape {wf_all.shape}")
    n, length = wf_all.shape
    if config is None:
        # anchor the filters on where the pulses actually are
        probe = np.asarray(wf_all[: min(n, 200)], dtype=np.float64)
        tp0_hint = float(np.median(np.argmax(np.diff(probe, axis=1), axis=1))) if n else 1000.0
        config = DSPConfig.for_trace(length, tp0_hint)
    cfg = config
    tau = np.broadcast_to(np.asarray(tau_us, dtype=np.float64) * 1000.0 / sampling_period_ns, (n,))
    out = {k: np.empty(n) for k in PARAMETER_NAMES}
    for s in range(0, n, chunk_size):
        e = min(n, s + chunk_size)
        block = np.ascontiguousarray(wf_all[s:e], dtype=np.float64)
        res = _process_block(block, np.ascontiguousarray(tau[s:e]), sampling_period_ns, cfg)
        for k in PARAMETER_NAMES:
            out[k][s:e] = res[k]
    return out
