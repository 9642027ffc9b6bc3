"""Every physics number of the simulator in one frozen dataclass.

Keeping all parameters in a single hashable object lets the calibration campaign be cached
per configuration (see :mod:`psdlab.simulate.labels`): change any number and the cuts are
re-derived, keep them and every file shares the same energy scale and cut values, as runs
of a real experiment share one calibration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# 228Th chain gamma lines (keV) and the relative weight of events each contributes to a
# calibration spectrum of a PPC detector (photon intensity times a rough interaction
# probability). Values: mjd-facts.md line list; intensities from the 228Th decay chain.
TH228_LINES: dict[float, float] = {
    238.6: 0.50,
    277.4: 0.03,
    300.1: 0.04,
    510.8: 0.12,
    583.2: 0.34,
    727.3: 0.07,
    860.6: 0.05,
    1620.7: 0.02,
    2614.5: 0.42,
}


@dataclass(frozen=True)
class SimulatorConfig:
    """Physics and layout parameters of :class:`~psdlab.simulate.PulseSimulator`.

    See ``docs/simulator.md`` for where each value comes from.

    Layout
        trace_length: samples per trace (MJD release: 3800).
        sampling_period_ns: digitiser period (100 MHz -> 10 ns).
        tp0_mean, tp0_jitter: mean and rms (samples) of the start of the rising edge.

    Detectors and electronics
        n_detectors: number of distinct detectors (channels) in the run.
        detector_seed: seed of the per-detector constants (fixed, so every file shares them).
        detector_id_offset: first detector number written to ``detector``.
        tau_range_us: preamplifier decay constant range, one value per detector.
        tau2_us, tau2_fraction: secondary preamplifier pole and its amplitude fraction.
        gain_range_kev_per_adc: high-gain channel gain range, one value per detector.
        baseline_range_adc: baseline offset range, one value per detector.
        noise_range_adc: total noise rms per sample range, one value per detector.
        pink_fraction: share of the noise variance that is low-frequency (1/f-like).
        bandwidth_ns: time constant of each of the two front-end low-pass poles.
        noise_bandwidth_ns: the same for the white noise (0: white from sample to sample).
        adc_bits: digitiser depth; traces are rounded to integers and clipped.

    Charge collection (PPC)
        detector_radius_mm, detector_height_mm: crystal size (point contact at bottom centre).
        wp_scale_mm: effective contact radius a of the weighting potential
            phi = (1/r - 1/R) / (1/a - 1/R) (R: distance to the n+ surface along the path).
        bulk_field_v_per_cm: bulk field (V/cm) along a hole's path starting at the farthest
            corner and next to the contact (log-linear in between); with the mobility it
            sets drift times and the rise-time spread.
        bulk_field_scatter: log-normal scatter of that field from path to path.
        contact_field_v_per_cm, contact_field_power: the point contact's field at r = a,
            falling as (a/r)^power on top of the bulk field.
        hole_trapping_per_mm: fraction of the hole charge trapped per mm of drift.
        electron_time_ns: time for electrons to leave the high-weighting-potential region.
        cloud_sigma_ns, diffusion_ns2_per_ns: arrival-time spread of the hole cloud,
            sigma_t^2 = cloud^2 + diffusion * drift_time.
        cluster_spread_mm: rms distance between the sites of a multi-site event.

    Event classes
        frac_point_contact: share of events deposited within a few mm of the contact.
        frac_surface_alpha: share of surface alphas on the passivated surface.
        frac_slow: share of slow (transition-layer) pulses at low energy.
        slow_tau_ns: range of the slow-release time constant of slow pulses.
        dcr_fraction_range, dcr_tau_us_range: delayed charge of surface alphas.

    Pile-up
        pileup_rate_khz: event rate of the detector (0: no pile-up, no tails).
        on_tail_min_kev: an event counts as on a tail (truth ``on_tail``) when the earlier
            pulse still holds this much at its rise.

    Spectrum
        lines: gamma line energies (keV) -> relative weight.
        dep_fraction, sep_fraction: DEP and SEP events per 2614.5 keV FEP event.
        peak_to_total: photopeak share of each line's events at 238.6 keV and 2614.5 keV
            (interpolated log-linearly in energy in between).
        low_energy_weight, low_energy_scale_kev: exponential low-energy continuum (scattered
            photons from source and shield, X-rays), weight relative to all lines.
        threshold_kev, max_energy_kev: lowest and highest energies simulated.
        fwhm_a_kev, fwhm_b_kev, fwhm_c: FWHM(E) = sqrt(a^2 + b E + (c E)^2) of the charge
            actually collected (noise of the trace is added on top by the waveform itself).
        ss_prob_*: probability that an event of that population is single-site.

    Classical cuts
        aoe_low_keep: fraction of DEP events the low A/E cut keeps (MJD: 0.90).
        aoe_high_sigma: high A/E cut, in single-site band widths above the band centre.
        dcr_sigma: DCR cut at this many robust sigmas above the bulk band.
        lq_keep: fraction of DEP events the LQ cut keeps.
        calibration_events: size of the internal calibration campaign.
        calibration_seed: its seed (fixed: the calibration is a property of the config).
    """

    # layout
    trace_length: int = 3800
    sampling_period_ns: float = 10.0
    tp0_mean: float = 1000.0
    tp0_jitter: float = 25.0
    # detectors and electronics
    n_detectors: int = 8
    detector_seed: int = 20230821
    detector_id_offset: int = 0
    tau_range_us: tuple[float, float] = (64.0, 77.0)
    tau2_us: float = 2.1
    tau2_fraction: float = 0.007
    gain_range_kev_per_adc: tuple[float, float] = (0.38, 0.42)
    baseline_range_adc: tuple[float, float] = (200.0, 1200.0)
    noise_range_adc: tuple[float, float] = (2.0, 4.0)
    pink_fraction: float = 0.12
    bandwidth_ns: float = 15.0
    noise_bandwidth_ns: float = 12.0
    adc_bits: int = 14
    # charge collection
    detector_radius_mm: float = 35.0
    detector_height_mm: float = 35.0
    wp_scale_mm: float = 4.0
    bulk_field_v_per_cm: tuple[float, float] = (50.0, 150.0)
    bulk_field_scatter: float = 0.2
    contact_field_v_per_cm: float = 5000.0
    contact_field_power: float = 4.0
    hole_trapping_per_mm: float = 6.0e-5
    electron_time_ns: float = 60.0
    cloud_sigma_ns: float = 8.0
    diffusion_ns2_per_ns: float = 0.15
    cluster_spread_mm: float = 15.0
    # event classes
    frac_point_contact: float = 0.012
    frac_surface_alpha: float = 0.012
    frac_slow: float = 0.06
    slow_tau_ns: tuple[float, float] = (150.0, 800.0)
    dcr_fraction_range: tuple[float, float] = (0.01, 0.08)
    dcr_tau_us_range: tuple[float, float] = (2.0, 25.0)
    # pile-up
    pileup_rate_khz: float = 0.5
    on_tail_min_kev: float = 10.0
    # spectrum
    lines: dict[float, float] = field(default_factory=lambda: dict(TH228_LINES))
    dep_fraction: float = 0.16
    sep_fraction: float = 0.28
    peak_to_total: tuple[float, float] = (0.55, 0.12)
    low_energy_weight: float = 0.19
    low_energy_scale_kev: float = 90.0
    threshold_kev: float = 20.0
    max_energy_kev: float = 3000.0
    fwhm_a_kev: float = 0.9
    fwhm_b_kev: float = 1.9e-3
    fwhm_c: float = 4.0e-4
    ss_prob_dep: float = 0.93
    ss_prob_sep: float = 0.05
    ss_prob_peak_low: float = 0.75
    ss_prob_peak_high: float = 0.07
    ss_prob_continuum_low: float = 0.72
    ss_prob_continuum_high: float = 0.38
    # classical cuts
    aoe_low_keep: float = 0.90
    aoe_high_sigma: float = 7.0
    dcr_sigma: float = 4.0
    lq_keep: float = 0.99
    calibration_events: int = 30000
    calibration_seed: int = 7

    def __post_init__(self) -> None:
        if self.trace_length < 400:
            raise ValueError("trace_length must be at least 400 samples")
        if not 100 <= self.tp0_mean < self.trace_length - 200:
            raise ValueError("tp0_mean must leave >=100 baseline samples and >=200 after it")

    @property
    def dt_ns(self) -> float:
        return self.sampling_period_ns

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = {str(k): v for k, v in self.lines.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimulatorConfig:
        d = dict(d)
        if "lines" in d:
            d["lines"] = {float(k): float(v) for k, v in d["lines"].items()}
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise KeyError(f"unknown SimulatorConfig fields: {sorted(unknown)}")
        for f in fields(cls):
            if f.name in d and isinstance(d[f.name], list):
                d[f.name] = tuple(d[f.name])
        return cls(**d)

    def physics_hash(self) -> str:
        """Hash of everything that changes waveforms or cuts (keys the calibration cache)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def with_(self, **changes: Any) -> SimulatorConfig:
        return replace(self, **changes)

    @classmethod
    def short_traces(cls, trace_length: int = 1200, tp0_mean: float = 400.0, **kw: Any):
        """A configuration for quick tests: short traces, same physics."""
        return cls(trace_length=trace_length, tp0_mean=tp0_mean, **kw)
