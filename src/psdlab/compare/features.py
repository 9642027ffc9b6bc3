"""Pulse features compared between two sets, in physics units.

The features are the ones a network trained on one set silently relies on: the shape of the
rising edge (10-90 % rise time, the A/E band), the electronics (decay constant, baseline
noise), the tail after pole-zero correction (the DCR-like slope), where the pulse sits in
the trace (tp0) and how large it is. Everything comes from psdlab's classical chain
(:func:`psdlab.dsp.compute_parameters`, dspeed underneath) and the tail fit of
:mod:`psdlab.dsp.decay`, so the numbers mean what they mean elsewhere in psdlab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dspeed.processors import double_pole_zero, interpolated_time_point_thresh

from psdlab.dsp import DSPConfig, compute_parameters


@dataclass(frozen=True)
class Feature:
    """One compared quantity: column name, axis label, unit and whether to view it in log10."""

    name: str
    label: str
    unit: str
    log: bool = False

    @property
    def axis_label(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


FEATURES: tuple[Feature, ...] = (
    Feature("rise_10_90", "10-90 % rise time", "ns"),
    Feature("decay_tau", "decay constant, tail fit", "us", log=True),
    Feature("baseline_rms", "baseline noise rms", "ADC", log=True),
    Feature("noise_rel", "baseline rms / amplitude", "", log=True),
    Feature("aoe_band", "A/E / median A/E", ""),
    Feature("dcr", "tail slope after pole-zero (DCR)", "ppm of E per us"),
    Feature("tp0", "tp0 (rising edge in the trace)", "us"),
    Feature("amplitude", "amplitude (trap filter)", "ADC", log=True),
    Feature("energy", "energy_label", "keV"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def rise_time_10_90(
    waveforms: np.ndarray,
    baseline: np.ndarray,
    amplitude: np.ndarray,
    tau_us: np.ndarray,
    sampling_period_ns: float,
    config: DSPConfig,
) -> np.ndarray:
    """10-90 % rise time (ns) of pole-zero-corrected traces, linearly interpolated.

    Both crossings are found walking back from the maximum (dspeed's
    ``interpolated_time_point_thresh``), so noise on the baseline cannot fake an early
    crossing; ``amplitude`` is the trapezoid's flat top, not the noisy maximum.
    """
    dt = sampling_period_ns
    w = waveforms - baseline[:, None]
    tau = np.asarray(tau_us, dtype=np.float64) * 1000.0 / dt
    tau2 = np.full(len(w), config.tau2_us * 1000.0 / dt)
    pz = double_pole_zero(w, tau, tau2, config.tau2_fraction)
    t_max = np.argmax(pz, axis=1).astype(np.float64)
    mode = np.int8(ord("l"))
    t10 = interpolated_time_point_thresh(pz, 0.1 * amplitude, t_max, 0, mode)
    t90 = interpolated_time_point_thresh(pz, 0.9 * amplitude, t_max, 0, mode)
    return (t90 - t10) * dt


def pulse_features(
    waveforms: np.ndarray,
    tau_us: np.ndarray,
    decay_tau_us: np.ndarray,
    tp0: np.ndarray | None,
    energy: np.ndarray | None,
    sampling_period_ns: float,
    config: DSPConfig,
) -> dict[str, np.ndarray]:
    """Features of one block of raw traces (n, L), A/E still raw (1/sample).

    ``tau_us`` is the pole-zero constant per trace (its detector's), ``decay_tau_us`` the
    trace's own tail fit; ``tp0`` and ``energy`` are the file's datasets where it has them
    (the chain's own tp0 otherwise, NaN energies otherwise). :func:`band_normalise` turns
    the raw A/E into the band once the whole set is known.
    """
    n = len(waveforms)
    p = compute_parameters(waveforms, sampling_period_ns, tau_us, config, chunk_size=max(n, 1))
    amp = p["trap_energy"]
    with np.errstate(divide="ignore", invalid="ignore"):
        noise_rel = np.where(amp > 0, p["baseline_rms"] / amp, np.nan)
    tp0_samples = p["tp0"] if tp0 is None else np.asarray(tp0, dtype=np.float64)
    return {
        "rise_10_90": rise_time_10_90(
            waveforms, p["baseline"], amp, tau_us, sampling_period_ns, config
        ),
        "decay_tau": np.asarray(decay_tau_us, dtype=np.float64),
        "baseline_rms": p["baseline_rms"],
        "noise_rel": noise_rel,
        "aoe_band": p["aoe"],
        "dcr": p["dcr"] * 1e6,
        "tp0": tp0_samples * sampling_period_ns / 1000.0,
        "amplitude": amp,
        "energy": np.full(n, np.nan) if energy is None else np.asarray(energy, np.float64),
    }


def band_normalise(aoe: np.ndarray) -> tuple[np.ndarray, float]:
    """A/E relative to the set's median (the "A/E band"), and that median.

    Absolute A/E depends on the electronics' bandwidth and the energy scale, so MJD cuts on
    A/E relative to its band; comparing bands asks whether the *spread* of pulse shapes
    matches.
    """
    finite = aoe[np.isfinite(aoe) & (aoe > 0)]
    median = float(np.median(finite)) if finite.size else float("nan")
    return aoe / median, median
