"""PulseSimulator: events -> raw traces in the MJD layout, plus truth (no labels).

Randomness is drawn per fixed block of events from a generator seeded by (seed, block), so
the same seed gives the same events whatever chunk size the caller asks for. A block is made
in three steps at their natural seams: where the charge sits (sites), what the event class
changes in its collection, and the signal chain to digitised traces. Labelling by classical
cuts is not done here (see :mod:`psdlab.simulate.labels` and :mod:`psdlab.labelling`).
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


@dataclass
class _Collection:
    """How each event's charge is collected: clusters and the class-specific effects."""

    dist_mm: np.ndarray  # (n, MAX_CLUSTERS) distance of each cluster to the contact
    outer_mm: np.ndarray  # (n, MAX_CLUSTERS) contact to n+ surface along the path
    frac: np.ndarray  # (n, MAX_CLUSTERS) charge fraction (0 = unused cluster)
    e_bulk: np.ndarray  # (n, MAX_CLUSTERS) bulk field along each path (V/cm)
    w111: np.ndarray  # (n, MAX_CLUSTERS) weight of the <111> hole mobility (path angle)
    te_ns: np.ndarray  # electron collection time
    slow_tau_ns: np.ndarray  # slow release of the whole signal (0 = none)
    dcr_frac: np.ndarray  # charge released late (surface alphas)
    dcr_tau_ns: np.ndarray


def _positions(
    rng: np.random.Generator, cfg: SimulatorConfig, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in the cylinder (contact: bottom centre): their distance to the contact
    and the distance from the contact to the n+ surface (top or side) along the same ray."""
    r = cfg.detector_radius_mm * np.sqrt(rng.random(size))
    z = cfg.detector_height_mm * rng.random(size)
    d = np.hypot(r, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        outer = np.minimum(
            np.where(z > 0, cfg.detector_height_mm * d / z, np.inf),
            np.where(r > 0, cfg.detector_radius_mm * d / r, np.inf),
        )
    return d, outer


def sample_sites(
    rng: np.random.Generator, cfg: SimulatorConfig, n_sites: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster distances, outer distances (n, MAX_CLUSTERS) and charge fractions."""
    n = n_sites.size
    d_min = 1.6 * cfg.wp_scale_mm
    d_max = float(np.hypot(cfg.detector_radius_mm, cfg.detector_height_mm))
    d = np.empty((n, MAX_CLUSTERS))
    outer = np.empty((n, MAX_CLUSTERS))
    d[:, 0], outer[:, 0] = _positions(rng, cfg, n)
    step = cfg.cluster_spread_mm * rng.standard_normal((n, MAX_CLUSTERS - 1))
    d[:, 1:] = np.abs(d[:, :1] + step)
    outer[:, 1:] = outer[:, :1]
    # a site that would land inside the contact region is redrawn in the bulk (clipping
    # would pile sites up next to the contact and fake high-A/E multi-site events)
    near = d < d_min
    d[near], outer[near] = _positions(rng, cfg, int(near.sum()))
    d = np.clip(d, d_min, d_max)
    # a secondary site beyond the first one's outer surface sits just inside its own
    outer = np.maximum(outer, 1.02 * d)
    k = np.arange(MAX_CLUSTERS)[None, :]
    raw = rng.gamma(2.0, 1.0, (n, MAX_CLUSTERS)) * (k < n_sites[:, None])
    frac = raw / raw.sum(axis=1, keepdims=True)
    frac = np.where(frac > 0, np.maximum(frac, 0.05), 0.0)
    frac /= frac.sum(axis=1, keepdims=True)
    return d, outer, frac


def bulk_field(rng: np.random.Generator, cfg: SimulatorConfig, d: np.ndarray) -> np.ndarray:
    """Bulk field along each path (V/cm): log-linear from ``bulk_field_v_per_cm[1]`` next to
    the contact to ``[0]`` at the farthest corner, with a log-normal scatter for what a
    distance alone does not fix (azimuth, impurity gradient, curved paths)."""
    far, near = np.log(cfg.bulk_field_v_per_cm)
    d_max = float(np.hypot(cfg.detector_radius_mm, cfg.detector_height_mm))
    x = np.clip((d - cfg.wp_scale_mm) / (d_max - cfg.wp_scale_mm), 0.0, 1.0)
    scatter = cfg.bulk_field_scatter * rng.standard_normal(d.shape)
    return np.exp(near + (far - near) * x + scatter)


def apply_event_classes(
    rng: np.random.Generator,
    cfg: SimulatorConfig,
    cls_: np.ndarray,
    d: np.ndarray,
    outer: np.ndarray,
    frac: np.ndarray,
) -> _Collection:
    """Move point-contact and surface-alpha events, add slow release and delayed charge."""
    n, wp = cls_.size, cfg.wp_scale_mm
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
    np.maximum(outer, 1.02 * d, out=outer)  # moved sites stay inside the n+ surface
    e_bulk = bulk_field(rng, cfg, d)
    w111 = rng.random(d.shape)
    return _Collection(d, outer, frac, e_bulk, w111, te, slow_tau, dcr_frac, dcr_tau)


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
        tp0: np.ndarray,
        col: _Collection,
        energy: np.ndarray,
        det_idx: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Induced current -> front end, preamplifier, noise, ADC (the signal chain).

        Returns the traces, each cluster's hole drift time and the untrapped charge fraction.
        """
        cfg, tab = self.config, self.detectors
        n, dt = tp0.size, cfg.sampling_period_ns
        current = np.empty((n, cfg.trace_length))
        drift, collected = np.empty((n, MAX_CLUSTERS)), np.empty(n)
        induced_current(
            current,
            drift,
            collected,
            tp0,
            col.dist_mm,
            col.outer_mm,
            col.frac,
            col.e_bulk,
            col.w111,
            col.te_ns,
            col.slow_tau_ns / dt,
            col.dcr_frac,
            col.dcr_tau_ns / dt,
            dt,
            cfg.wp_scale_mm,
            cfg.contact_field_v_per_cm,
            cfg.hole_trapping_per_mm,
            cfg.cloud_sigma_ns,
            cfg.diffusion_ns2_per_ns,
        )
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
            tab.noise_adc[det_idx],
            cfg.pink_fraction,
            PINK_NORM,
            tab.baseline_adc[det_idx],
            float(2**cfg.adc_bits - 1),
            wf,
        )
        return wf, drift, collected

    def _block(
        self, block: int, line_boost: dict[str, float] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        cfg = self.config
        rng = np.random.default_rng([self.seed, block])
        dep = sample_deposits(rng, BLOCK, cfg, line_boost)
        cls_ = dep["event_class"]
        det_idx = rng.integers(0, cfg.n_detectors, BLOCK)
        tp0 = cfg.tp0_mean + cfg.tp0_jitter * rng.standard_normal(BLOCK)
        tp0 = np.clip(tp0, 0.5 * cfg.tp0_mean, cfg.tp0_mean * 1.5)
        d, outer, frac = sample_sites(rng, cfg, dep["n_sites"])
        col = apply_event_classes(rng, cfg, cls_, d, outer, frac)
        wf, t_drift, collected = self._digitise(rng, tp0, col, dep["true_energy"], det_idx)
        used = frac > 0
        pc = cls_ == EventClass.POINT_CONTACT
        truth = {
            "n_sites": dep["n_sites"],
            "event_class": cls_.astype(np.int64),
            "drift_time_ns": t_drift.max(axis=1),
            "true_energy": dep["true_energy"],
            "single_site": (cls_ == EventClass.SINGLE_SITE) | pc,
            "surface_alpha": cls_ == EventClass.SURFACE_ALPHA,
            "dcr_true": col.dcr_frac,
            "population": dep["population"],
            "tp0_true": tp0,
            "detector_index": det_idx.astype(np.int64),
            "tau_us": self.detectors.tau_us[det_idx],
            "gain_kev_per_adc": self.detectors.gain_kev_per_adc[det_idx],
            "distance_mm": np.where(used, d, 0.0)[:, 0],
            "collected_fraction": collected,
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
