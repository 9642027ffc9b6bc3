"""Where an event's charge sits and how it is collected: clusters, fields, event classes.

Shared by the main events of :class:`~psdlab.simulate.PulseSimulator` and by the pulses
that pile up on them (:mod:`psdlab.simulate.pileup`), so both are made by the same physics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.pulses import MAX_CLUSTERS, induced_current
from psdlab.simulate.spectrum import EventClass


@dataclass
class Collection:
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
) -> Collection:
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
    return Collection(d, outer, frac, e_bulk, w111, te, slow_tau, dcr_frac, dcr_tau)


def collect(
    rng: np.random.Generator, cfg: SimulatorConfig, dep: dict[str, np.ndarray]
) -> Collection:
    """Sites and class-specific collection of the deposits ``dep`` (see sample_deposits)."""
    d, outer, frac = sample_sites(rng, cfg, dep["n_sites"])
    return apply_event_classes(rng, cfg, dep["event_class"], d, outer, frac)


def current_of(
    col: Collection, tp0: np.ndarray, cfg: SimulatorConfig, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector current (n, length) per unit charge, cluster drift times, collected charge."""
    n, dt = tp0.size, cfg.sampling_period_ns
    current = np.empty((n, length))
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
        cfg.contact_field_power,
        cfg.hole_trapping_per_mm,
        cfg.cloud_sigma_ns,
        cfg.diffusion_ns2_per_ns,
    )
    return current, drift, collected
