"""PulseSimulator: events -> raw traces in the MJD layout, plus truth.

Randomness is drawn per fixed block of events from a generator seeded by (seed, block), so
the same seed gives the same events whatever chunk size the caller asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.electronics import PINK_NORM, shape_and_digitise
from psdlab.simulate.pulses import MAX_CLUSTERS, induced_current
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
    """Simulate 228Th calibration events of PPC detectors.

    ``generate(n)`` returns ``(root, truth)``: ``root`` holds the release datasets
    (``raw_waveform``, ``energy_label``, the four ``psd_label_*``, ``tp0``, ``detector``,
    ``run_number``, ``id``), ``truth`` the simulated truth. Labels and ``energy_label`` are
    produced by the classical cuts of :mod:`psdlab.dsp` with the configuration's cached
    calibration (:func:`psdlab.simulate.labels.get_calibration`).
    """

    def __init__(self, config: SimulatorConfig | None = None, seed: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.seed = int(seed)
        self.detectors = DetectorTable.from_config(self.config)
        self._cursor = 0

    # -- raw events -------------------------------------------------------------------
    def _block(
        self, block: int, line_boost: dict[str, float] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        cfg = self.config
        rng = np.random.default_rng([self.seed, block])
        n = BLOCK
        dep = sample_deposits(rng, n, cfg, line_boost)
        cls_ = dep["event_class"]
        n_sites = dep["n_sites"]
        det_idx = rng.integers(0, cfg.n_detectors, n)
        tp0 = cfg.tp0_mean + cfg.tp0_jitter * rng.standard_normal(n)
        tp0 = np.clip(tp0, 0.5 * cfg.tp0_mean, cfg.tp0_mean * 1.5)

        # hole-cluster positions: uniform in a cylinder, contact at the bottom centre
        wp = cfg.wp_scale_mm
        d_min = 1.6 * wp
        d_max = float(np.hypot(cfg.detector_radius_mm, cfg.detector_height_mm))

        def position(size: int | tuple[int, ...]) -> np.ndarray:
            r = cfg.detector_radius_mm * np.sqrt(rng.random(size))
            z = cfg.detector_height_mm * rng.random(size)
            return np.hypot(r, z)

        d = np.empty((n, MAX_CLUSTERS))
        d[:, 0] = position(n)
        step = cfg.cluster_spread_mm * rng.standard_normal((n, MAX_CLUSTERS - 1))
        d[:, 1:] = np.abs(d[:, :1] + step)
        # a site that would land inside the contact region is redrawn in the bulk (clipping
        # would pile sites up next to the contact and fake high-A/E multi-site events)
        near = d < d_min
        d[near] = position(int(near.sum()))
        d = np.clip(d, d_min, d_max)
        k = np.arange(MAX_CLUSTERS)[None, :]
        raw = rng.gamma(2.0, 1.0, (n, MAX_CLUSTERS)) * (k < n_sites[:, None])
        frac = raw / raw.sum(axis=1, keepdims=True)
        frac = np.where(frac > 0, np.maximum(frac, 0.05), 0.0)
        frac /= frac.sum(axis=1, keepdims=True)

        te = np.full(n, cfg.electron_time_ns)
        pc = cls_ == EventClass.POINT_CONTACT
        d[pc, 0] = wp * rng.uniform(1.05, 1.5, pc.sum())
        te[pc] = 10.0
        slow_tau = np.zeros(n)
        slow = cls_ == EventClass.SLOW_LQ
        slow_tau[slow] = rng.uniform(*cfg.slow_tau_ns, slow.sum())
        alpha = cls_ == EventClass.SURFACE_ALPHA
        # passivated surface: the bottom face around the contact; charge creeps along it
        d[alpha, 0] = rng.uniform(2.5 * wp, cfg.detector_radius_mm, alpha.sum())
        slow_tau[alpha] = rng.uniform(60.0, 250.0, alpha.sum())
        dcr_frac = np.zeros(n)
        dcr_tau = np.ones(n)
        dcr_frac[alpha] = rng.uniform(*cfg.dcr_fraction_range, alpha.sum())
        dcr_tau[alpha] = rng.uniform(*cfg.dcr_tau_us_range, alpha.sum()) * 1000.0
        dt = cfg.sampling_period_ns

        current = np.empty((n, cfg.trace_length))
        induced_current(
            current,
            tp0,
            d,
            frac,
            te,
            slow_tau / dt,
            dcr_frac,
            dcr_tau / dt,
            dt,
            wp,
            cfg.hole_velocity_mm_per_ns,
            cfg.cloud_sigma_ns,
            cfg.diffusion_ns2_per_ns,
        )
        white = rng.standard_normal((n, cfg.trace_length), dtype=np.float32)
        tab = self.detectors
        tau_us = tab.tau_us[det_idx]
        amp = dep["true_energy"] / tab.gain_kev_per_adc[det_idx]
        wf = np.empty((n, cfg.trace_length))
        shape_and_digitise(
            current,
            white,
            amp,
            tau_us * 1000.0 / dt,
            np.full(n, cfg.tau2_us * 1000.0 / dt),
            cfg.tau2_fraction,
            cfg.bandwidth_ns / dt,
            tab.noise_adc[det_idx],
            cfg.pink_fraction,
            PINK_NORM,
            tab.baseline_adc[det_idx],
            float(2**cfg.adc_bits - 1),
            wf,
        )
        used = frac > 0
        t_drift = np.where(used, (d - wp) / cfg.hole_velocity_mm_per_ns, 0.0)
        truth = {
            "n_sites": n_sites,
            "event_class": cls_.astype(np.int64),
            "drift_time_ns": t_drift.max(axis=1),
            "true_energy": dep["true_energy"],
            "single_site": (cls_ == EventClass.SINGLE_SITE) | pc,
            "surface_alpha": alpha,
            "dcr_true": dcr_frac,
            "population": dep["population"],
            "tp0_true": tp0,
            "detector_index": det_idx.astype(np.int64),
            "tau_us": tau_us,
            "gain_kev_per_adc": tab.gain_kev_per_adc[det_idx],
            "distance_mm": np.where(used, d, 0.0)[:, 0],
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

    # -- labelled events --------------------------------------------------------------
    def generate_range(
        self, start: int, stop: int, first_id: int = 0, run_number: int = 0
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Events ``start..stop`` of the stream with labels, as ``(root, truth)``."""
        from psdlab.simulate.labels import apply_cuts, get_calibration

        wf, truth = self.raw_range(start, stop)
        cal = get_calibration(self.config)
        labels, params = apply_cuts(
            wf, truth["gain_kev_per_adc"], truth["tau_us"], cal, self.config
        )
        n = wf.shape[0]
        root = {
            "raw_waveform": wf,
            "energy_label": labels["energy"],
            "psd_label_low_avse": labels["low_avse"],
            "psd_label_high_avse": labels["high_avse"],
            "psd_label_dcr": labels["dcr"],
            "psd_label_lq": labels["lq"],
            "tp0": np.round(params["tp0"]).astype(np.int64),
            "detector": self.detectors.detector_id[truth["detector_index"]],
            "run_number": np.full(n, run_number, dtype=np.int64),
            "id": np.arange(first_id + start, first_id + stop, dtype=np.int64),
        }
        truth = {**truth, **{f"dsp_{k}": v for k, v in params.items()}}
        truth["aoe_classifier"] = labels["aoe_classifier"]
        return root, truth

    def generate(
        self, n: int, first_id: int = 0, run_number: int = 0
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The next ``n`` events of the stream (successive calls continue it)."""
        start = self._cursor
        self._cursor += n
        return self.generate_range(start, start + n, first_id=first_id, run_number=run_number)
