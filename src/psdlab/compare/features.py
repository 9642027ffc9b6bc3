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
    """One compared quantity: column name, axis label, unit and how it is viewed.

    ``log``: compared and histogrammed in log10. ``clip``: fraction of each set allowed
    beyond each end of the panel's range (piled into the edge bins, and clipped for the
    Wasserstein distance).
    """

    name: str
    label: str
    unit: str
    log: bool = False
    clip: float = 0.005

    @property
    def axis_label(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


# rise time, A/E and DCR: pile-up (3-23 % of real calibration pulses, none simulated) and
# the padded tails of the real test-stand traces give absurd values, clipped at 3 % a side
FEATURES: tuple[Feature, ...] = (
    Feature("rise_10_90", "10-90 % rise time", "ns", clip=0.03),
    Feature("decay_tau", "decay constant, tail fit", "us", log=True),
    Feature("baseline_rms", "baseline noise rms", "ADC", log=True),
    Feature("noise_rel", "baseline rms / amplitude", "", log=True),
    Feature("aoe_band", "A/E / detector's median A/E", "", clip=0.03),
    Feature("dcr", "tail slope after pole-zero (DCR)", "ppm of E per us", clip=0.03),
    Feature("tp0", "tp0 (rising edge in the trace)", "us"),
    Feature("amplitude", "amplitude (trap filter)", "ADC", log=True),
    Feature("energy", "energy_label", "keV"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def rise_time_10_90(
    waveforms: np.ndarray,
    params: dict[str, np.ndarray],
    tau_us: np.ndarray,
    sampling_period_ns: float,
    config: DSPConfig,
) -> np.ndarray:
    """10-90 % rise time (ns) of pole-zero-corrected traces, linearly interpolated.

    ``params`` are :func:`compute_parameters`' results for the same traces. The 90 %
    crossing is found walking back from just after the chain's (smoothed) 95 % point and the
    10 % crossing walking back from there (dspeed's ``interpolated_time_point_thresh``), so
    noise on the flat top or the baseline cannot fake a crossing far from the edge; the
    levels are fractions of the trapezoid's flat top, not of the noisy maximum.
    """
    dt = sampling_period_ns
    amp = params["trap_energy"]
    w = waveforms - params["baseline"][:, None]
    tau = np.asarray(tau_us, dtype=np.float64) * 1000.0 / dt
    tau2 = np.full(len(w), config.tau2_us * 1000.0 / dt)
    pz = double_pole_zero(w, tau, tau2, config.tau2_fraction)
    anchor = np.where(np.isfinite(params["t95"]), np.ceil(params["t95"]) + 2, np.argmax(pz, 1))
    anchor = np.clip(anchor, 0, w.shape[1] - 1)
    mode = np.int8(ord("l"))
    t90 = interpolated_time_point_thresh(pz, 0.9 * amp, anchor, 0, mode)
    t10 = interpolated_time_point_thresh(pz, 0.1 * amp, np.nan_to_num(np.ceil(t90)), 0, mode)
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
        "rise_10_90": rise_time_10_90(waveforms, p, tau_us, sampling_period_ns, config),
        "decay_tau": np.asarray(decay_tau_us, dtype=np.float64),
        "baseline_rms": p["baseline_rms"],
        "noise_rel": noise_rel,
        "aoe_band": p["aoe"],
        "dcr": p["dcr"] * 1e6,
        "tp0": tp0_samples * sampling_period_ns / 1000.0,
        "amplitude": amp,
        "energy": np.full(n, np.nan) if energy is None else np.asarray(energy, np.float64),
    }


MIN_BAND_EVENTS = 20  # a detector with fewer events is normalised by the set's median


def _positive_median(v: np.ndarray) -> float:
    good = v[np.isfinite(v) & (v > 0)]
    return float(np.median(good)) if good.size else float("nan")


def band_normalise(aoe: np.ndarray, detector: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """A/E relative to its detector's median (the "A/E band"), and the medians used.

    Absolute A/E depends on each channel's bandwidth and energy scale, so MJD cuts on A/E
    relative to each detector's band; comparing bands then asks whether the *spread* of
    pulse shapes matches. A detector with fewer than :data:`MIN_BAND_EVENTS` events uses the
    set's median (key -1 in the returned medians), as its own would be mostly noise.
    """
    set_median = _positive_median(aoe)
    medians = {-1: set_median}
    scale = np.full(aoe.shape, set_median)
    for d in np.unique(detector):
        rows = detector == d
        if rows.sum() >= MIN_BAND_EVENTS:
            medians[int(d)] = _positive_median(aoe[rows])
            scale[rows] = medians[int(d)]
    return aoe / scale, medians
