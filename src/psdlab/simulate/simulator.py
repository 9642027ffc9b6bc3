"""PulseSimulator: events -> raw traces in the MJD layout, plus truth (no labels).

Randomness is drawn per fixed block of events from a generator seeded by (seed, block), so
the same seed gives the same events whatever chunk size the caller asks for. A block is made
in steps at their natural seams: the deposits (:mod:`~psdlab.simulate.spectrum`), where the
charge sits and how it is collected (:mod:`~psdlab.simulate.sites`), the pulses around it
(:mod:`~psdlab.simulate.pileup`), and the signal chain to digitised traces. Labelling by classical
cuts is not done here (see :mod:`psdlab.simulate.labels` and :mod:`psdlab.labelling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.electronics import PINK_NORM, shape_and_digitise
from psdlab.simulate.pileup import add_pileup_current, sample_pileup
from psdlab.simulate.sites import collect, current_of
from psdlab.simulate.spectrum import EventClass, sample_deposits

BLOCK = 1000  # events per independently seeded random block


@dataclass(frozen=True)
class DetectorTable:
    """Per-detector constants, fixed by ``detector_seed`` (shared by all files)."""

    detector_id: np.ndarray
    tau_us: np.ndarray
    gain_kev_per_adc: np.ndarray
    baseline_adc: np.ndarray
    noise_adc: np.ndarray

    @classmethod
    def from_config(cls, cfg: SimulatorConfig) -> DetectorTable:
        rng = np.random.default_rng(cfg.detector_seed)
        n = cfg.n_detectors
        return cls(
            detector_id=np.arange(n, dtype=np.int64) + cfg.detector_id_offset,
            tau_us=rng.uniform(*cfg.tau_range_us, n),
            gain_kev_per_adc=rng.uniform(*cfg.gain_range_kev_per_adc, n),
            baseline_adc=np.round(rng.uniform(*cfg.baseline_range_adc, n)),
            noise_adc=rng.uniform(*cfg.noise_range_adc, n),
        )


class PulseSimulator:
    """Simulate 228Th calibration events of PPC detectors: raw traces and truth.

    ``raw_range(start, stop)`` returns ``(waveforms, truth)`` of events ``start..stop`` of
    this seed's stream. Labels and ``energy_label`` are added by
    :func:`psdlab.simulate.labels.label_range` (classical cuts of :mod:`psdlab.labelling`).
    """

    def __init__(self, config: SimulatorConfig | None = None, seed: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.seed = int(seed)
        self.detectors = DetectorTable.from_config(self.config)

    def _digitise(
        self,
        rng: np.random.Generator,
        current: np.ndarray,
        energy: np.ndarray,
        det_idx: np.ndarray,
        tail_start_kev: np.ndarray,
    ) -> np.ndarray:
        """Current -> front end, preamplifier (with earlier tails), noise, ADC."""
        cfg, tab = self.config, self.detectors
        n, dt = energy.size, cfg.sampling_period_ns
        white = rng.standard_normal((n, cfg.trace_length), dtype=np.float32)
        wf = np.empty((n, cfg.trace_length))
        shape_and_digitise(
            current,
            white,
            energy / tab.gain_kev_per_adc[det_idx],
            tab.tau_us[det_idx] * 1000.0 / dt,
            np.full(n, cfg.tau2_us * 1000.0 / dt),
            cfg.tau2_fraction,
            cfg.bandwidth_ns / dt,
            cfg.noise_bandwidth_ns / dt,
            tab.noise_adc[det_idx],
            cfg.pink_fraction,
            PINK_NORM,
            tab.baseline_adc[det_idx],
            (1.0 - cfg.tau2_fraction) * tail_start_kev / np.maximum(energy, 1e-3),
            float(2**cfg.adc_bits - 1),
            wf,
        )
        return wf

    def _block(
        self, block: int, line_boost: dict[str, float] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        cfg = self.config
        rng = np.random.default_rng([self.seed, block])
        dep = sample_deposits(rng, BLOCK, cfg, line_boost)
        cls_, energy = dep["event_class"], dep["true_energy"]
        det_idx = rng.integers(0, cfg.n_detectors, BLOCK)
        tp0 = cfg.tp0_mean + cfg.tp0_jitter * rng.standard_normal(BLOCK)
        tp0 = np.clip(tp0, 0.5 * cfg.tp0_mean, cfg.tp0_mean * 1.5)
        col = collect(rng, cfg, dep)
        current, t_drift, collected = current_of(col, tp0, cfg, cfg.trace_length)
        tau_us = self.detectors.tau_us[det_idx]
        pu = sample_pileup(rng, cfg, tp0, tau_us)
        add_pileup_current(rng, cfg, current, tp0, energy, pu)
        wf = self._digitise(rng, current, energy, det_idx, pu.pop("tail_start_kev"))
        used = col.frac > 0
        pc = cls_ == EventClass.POINT_CONTACT
        truth = {
            "n_sites": dep["n_sites"],
            "event_class": cls_.astype(np.int64),
            "drift_time_ns": t_drift.max(axis=1),
            "true_energy": energy,
            "single_site": (cls_ == EventClass.SINGLE_SITE) | pc,
            "surface_alpha": cls_ == EventClass.SURFACE_ALPHA,
            "dcr_true": col.dcr_frac,
            "population": dep["population"],
            "tp0_true": tp0,
            "detector_index": det_idx.astype(np.int64),
            "tau_us": tau_us,
            "gain_kev_per_adc": self.detectors.gain_kev_per_adc[det_idx],
            "distance_mm": np.where(used, col.dist_mm, 0.0)[:, 0],
            "collected_fraction": collected,
            **pu,
        }
        return wf, truth

    def raw_range(
        self, start: int, stop: int, line_boost: dict[str, float] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Traces and truth of events ``start..stop`` of this seed's stream (no labels)."""
        b0, b1 = start // BLOCK, (stop - 1) // BLOCK
        wfs, truths = [], []
        for b in range(b0, b1 + 1):
            wf, tr = self._block(b, line_boost)
            lo = max(start - b * BLOCK, 0)
            hi = min(stop - b * BLOCK, BLOCK)
            wfs.append(wf[lo:hi])
            truths.append({k: v[lo:hi] for k, v in tr.items()})
        wf = np.concatenate(wfs) if len(wfs) > 1 else wfs[0]
        truth = {k: np.concatenate([t[k] for t in truths]) for k in truths[0]}
        return wf, truth
