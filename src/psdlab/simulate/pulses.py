"""Induced current of hole clusters drifting to a PPC point contact.

Shockley-Ramo: the charge induced on the point contact is q * phi_w(position). A PPC's
weighting potential is that of a small electrode, falling roughly like r_c / r, so a hole
cluster far from the contact induces almost nothing until its last few millimetres: the
charge pulse starts slowly and rises sharply at the end. Electrons drift outward, away from
the contact, and only give back the small phi_w(start) they were created in. With a constant
effective hole speed v the current peak is v / r_c whatever the start, so A/E of
single-site bulk events is nearly position independent; diffusion of the cloud over longer
drifts softens it slightly (the drift-time dependence MJD corrects for). A multi-site event
is a sum of clusters arriving at different times, so its largest current is only a part of
E: lower A/E. This is an analytic stand-in for a field solver (siggen / fieldgen), tuned to
the shapes and drift times quoted in ``docs/simulator.md``.

The kernel works on a whole chunk at once (numba, parallel over events), writing the
detector current in units of "fraction of the event charge per sample".
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

MAX_CLUSTERS = 4


@nb.njit(cache=True, fastmath=False)
def _cluster_charge(t_ns: float, d_mm: float, wp_mm: float, v: float, te_ns: float) -> float:
    """Charge (fraction of the cluster's charge) induced t_ns after the deposit."""
    if t_ns <= 0.0:
        return 0.0
    phi0 = wp_mm / d_mm
    t_h = (d_mm - wp_mm) / v
    hole = wp_mm / (d_mm - v * t_ns) - phi0 if t_ns < t_h else 1.0 - phi0
    elec = phi0 * min(1.0, t_ns / te_ns)
    return hole + elec


@nb.njit(cache=True)
def _add_cluster(
    row: np.ndarray,
    tp0: float,
    d: float,
    f: float,
    te_ns: float,
    dt_ns: float,
    wp_mm: float,
    v_mm_ns: float,
    cloud_sigma_ns: float,
    diffusion_ns2_per_ns: float,
) -> float:
    """Add one hole cluster's current, smeared by its arrival-time spread; return its end."""
    length = row.size
    t_h = (d - wp_mm) / v_mm_ns
    t_end = max(t_h, te_ns)
    sig = math.sqrt(cloud_sigma_ns**2 + diffusion_ns2_per_ns * t_h) / dt_ns
    half = math.ceil(4.0 * sig) + 1
    j0 = math.floor(tp0)
    j1 = min(length - 1, math.ceil(tp0 + t_end / dt_ns) + 1)
    # Gaussian kernel weights (normalised on the discrete grid)
    norm = 0.0
    for k in range(-half, half + 1):
        norm += math.exp(-0.5 * (k / sig) ** 2)
    q_prev = 0.0
    for j in range(j0, j1 + 1):
        q = _cluster_charge((j - tp0) * dt_ns, d, wp_mm, v_mm_ns, te_ns)
        cur = (q - q_prev) * f / norm
        q_prev = q
        if cur == 0.0:
            continue
        for k in range(-half, half + 1):
            jj = j + k
            if 0 <= jj < length:
                row[jj] += cur * math.exp(-0.5 * (k / sig) ** 2)
    return t_end


@nb.njit(cache=True)
def _slow_release(row: np.ndarray, tau_samples: float) -> None:
    """Transition-layer events: the whole signal convolved with an exponential."""
    a = math.exp(-1.0 / tau_samples)
    y = 0.0
    for j in range(row.size):
        y = a * y + (1.0 - a) * row[j]
        row[j] = y


@nb.njit(cache=True)
def _delayed_charge(row: np.ndarray, fd: float, t_end: float, tau_samples: float) -> None:
    """Surface alphas: a fraction ``fd`` trapped on the surface, released after ``t_end``."""
    for j in range(row.size):
        row[j] *= 1.0 - fd
    start = max(0, math.ceil(t_end))
    prev = 1.0
    for j in range(start, row.size):
        cur = math.exp(-(j - t_end) / tau_samples)
        row[j] += fd * (prev - cur)
        prev = cur


@nb.njit(parallel=True, cache=True)
def induced_current(
    out: np.ndarray,
    tp0: np.ndarray,
    dist_mm: np.ndarray,
    frac: np.ndarray,
    te_ns: np.ndarray,
    slow_tau_samples: np.ndarray,
    dcr_frac: np.ndarray,
    dcr_tau_samples: np.ndarray,
    dt_ns: float,
    wp_mm: float,
    v_mm_ns: float,
    cloud_sigma_ns: float,
    diffusion_ns2_per_ns: float,
) -> None:
    """Fill ``out`` (n, L) with the current of each event, integrating to 1 (+ delayed charge).

    Per event: ``tp0`` start (fractional sample), ``dist_mm``/``frac`` (n, MAX_CLUSTERS)
    cluster distances to the contact and charge fractions (0 = unused), ``te_ns`` electron
    collection time, ``slow_tau_samples`` (0 = none) a slow release of the whole signal
    (transition-layer events), ``dcr_frac``/``dcr_tau_samples`` charge trapped on the surface
    and released after the prompt signal (surface alphas).
    """
    n = out.shape[0]
    for i in nb.prange(n):
        row = out[i]
        row[:] = 0.0
        t_end_max = 0.0
        for c in range(dist_mm.shape[1]):
            if frac[i, c] <= 0.0:
                continue
            t_end = _add_cluster(
                row,
                tp0[i],
                dist_mm[i, c],
                frac[i, c],
                te_ns[i],
                dt_ns,
                wp_mm,
                v_mm_ns,
                cloud_sigma_ns,
                diffusion_ns2_per_ns,
            )
            t_end_max = max(t_end_max, t_end)
        if slow_tau_samples[i] > 0.0:
            _slow_release(row, slow_tau_samples[i])
        if dcr_frac[i] > 0.0:
            _delayed_charge(row, dcr_frac[i], tp0[i] + t_end_max / dt_ns, dcr_tau_samples[i])
