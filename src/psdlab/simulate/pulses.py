"""Induced current of hole clusters drifting to a PPC point contact.

Shockley-Ramo: the charge induced on the point contact is q * phi_w(position). Along a hole's
(straight, radial) path the weighting potential is taken as that of a small electrode of
effective radius a inside a grounded shell at the distance R where the path meets the n+
surface: phi(r) = (1/r - 1/R) / (1/a - 1/R). It is ~a/r near the contact and falls to zero
at the outer contact, so holes induce almost nothing until the last ~15 mm: the pulse
starts slowly and rises sharply at the end. The holes' speed follows the germanium hole
mobility (Bruyneel et al. 2006 parametrisation, <100> and <111> axes, mixed by the path's
angle to the crystal axes) in a field E(r) = E_bulk + E_c (a/r)^p: the bulk field of the
depleted crystal plus the point contact's field, which falls off steeply (effective p = 4:
faster than a free electrode's 1/r^2, as the space charge screens it). The path's bulk field and crystal
angle spread the rise times the way field and mobility anisotropy do in real PPCs. Holes
are trapped at a constant rate per mm of path (charge trapping: long drifts lose more, which
the drift-time correction of the energy undoes). Electrons drift outward and only give back
the small phi(start) they were created in, within ``te_ns``. A multi-site event is a sum of
clusters arriving at different times, so its largest current is only a part of E: lower A/E.
This is an analytic stand-in for a field solver (siggen / SolidStateDetectors.jl), with the
sources and tuned values listed in ``docs/simulator.md``.

The kernel works on a whole chunk at once (numba, parallel over events), writing the
detector current in units of "fraction of the event charge per sample".
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

MAX_CLUSTERS = 4
MAX_STEPS = 1024  # radial steps of one hole walk (about 130 are used for a 50 mm path)
# Hole drift velocity v = mu0 E / (1 + (E/E0)^beta)^(1/beta) at 78 K along <100> and <111>
# (Bruyneel et al., NIM A 569 (2006) 764; ADL values as shipped by SolidStateDetectors.jl):
# mu0 [cm^2/Vs], E0 [V/cm], beta.
H100 = (61824.0, 185.0, 0.942)
H111 = (61215.0, 182.0, 0.662)
CM_PER_S_TO_MM_PER_NS = 1e-8


@nb.njit(cache=True)
def hole_velocity(e_v_per_cm: float, w111: float) -> float:
    """Hole drift speed (mm/ns) in field E: <100> and <111> speeds mixed with weight w111."""
    e = e_v_per_cm
    v100 = H100[0] * e / (1.0 + (e / H100[1]) ** H100[2]) ** (1.0 / H100[2])
    v111 = H111[0] * e / (1.0 + (e / H111[1]) ** H111[2]) ** (1.0 / H111[2])
    return ((1.0 - w111) * v100 + w111 * v111) * CM_PER_S_TO_MM_PER_NS


@nb.njit(cache=True)
def _hole_walk(
    d: float,
    outer: float,
    a: float,
    e_bulk: float,
    e_contact: float,
    power: float,
    w111: float,
    trap_per_mm: float,
    t_buf: np.ndarray,
    q_buf: np.ndarray,
) -> int:
    """Walk a hole cluster from ``d`` to the contact ``a`` (mm) in radial steps of at most
    3 % of r; fill the time (ns) and induced charge of each step; return the step count."""
    norm = 1.0 / (1.0 / a - 1.0 / outer)
    r, t, q, s = d, 0.0, 0.0, 0.0
    phi = (1.0 / r - 1.0 / outer) * norm
    t_buf[0] = 0.0
    q_buf[0] = 0.0
    k = 0
    while r > a and k < t_buf.size - 1:
        dr = min(max(0.03 * r, 0.02), 0.5, r - a)
        rm = r - 0.5 * dr
        t += dr / hole_velocity(e_bulk + e_contact * (a / rm) ** power, w111)
        r -= dr
        phi_new = 1.0 if r <= a else (1.0 / r - 1.0 / outer) * norm
        q += math.exp(-trap_per_mm * (s + 0.5 * dr)) * (phi_new - phi)
        s += dr
        phi = phi_new
        k += 1
        t_buf[k] = t
        q_buf[k] = q
    return k + 1


@nb.njit(cache=True)
def _add_cluster(
    row: np.ndarray,
    t_buf: np.ndarray,
    q_buf: np.ndarray,
    nk: int,
    tp0: float,
    f: float,
    phi0: float,
    te_ns: float,
    dt_ns: float,
    sig: float,
) -> None:
    """Add one cluster's current (holes from the walk, electrons linear over ``te_ns``),
    smeared by a Gaussian of ``sig`` samples (cloud size and diffusion)."""
    length = row.size
    t_end = max(t_buf[nk - 1], te_ns)
    half = math.ceil(4.0 * sig) + 1
    j0 = math.floor(tp0)
    j1 = min(length - 1, math.ceil(tp0 + t_end / dt_ns) + 1)
    norm = 0.0
    for k in range(-half, half + 1):
        norm += math.exp(-0.5 * (k / sig) ** 2)
    q_prev = 0.0
    p = 0
    for j in range(j0, j1 + 1):
        tau = (j - tp0) * dt_ns
        q = 0.0
        if tau > 0.0:
            while p < nk - 1 and t_buf[p + 1] < tau:
                p += 1
            if p >= nk - 1:
                qh = q_buf[nk - 1]
            else:
                x = (tau - t_buf[p]) / (t_buf[p + 1] - t_buf[p])
                qh = q_buf[p] + x * (q_buf[p + 1] - q_buf[p])
            q = qh + phi0 * min(1.0, tau / te_ns)
        cur = (q - q_prev) * f / norm
        q_prev = q
        if cur == 0.0:
            continue
        for k in range(-half, half + 1):
            jj = j + k
            if 0 <= jj < length:
                row[jj] += cur * math.exp(-0.5 * (k / sig) ** 2)


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


# One numba kernel per event on purpose: drift, trapping, slow and delayed-charge components
# accumulate into the same output row in one pass; split into functions, numba would pass the
# many per-event arrays through calls and lose the parallel loop's fusion.
@nb.njit(parallel=True, cache=True)
def induced_current(
    out: np.ndarray,
    drift_out: np.ndarray,
    collected_out: np.ndarray,
    tp0: np.ndarray,
    dist_mm: np.ndarray,
    outer_mm: np.ndarray,
    frac: np.ndarray,
    e_bulk: np.ndarray,
    w111: np.ndarray,
    te_ns: np.ndarray,
    slow_tau_samples: np.ndarray,
    dcr_frac: np.ndarray,
    dcr_tau_samples: np.ndarray,
    dt_ns: float,
    wp_mm: float,
    e_contact: float,
    field_power: float,
    trap_per_mm: float,
    cloud_sigma_ns: float,
    diffusion_ns2_per_ns: float,
) -> None:
    """Fill ``out`` (n, L) with the current of each event, integrating to the collected charge.

    Per event: ``tp0`` start (fractional sample), per cluster (n, MAX_CLUSTERS) the distance
    to the contact ``dist_mm``, the distance ``outer_mm`` from the contact to the n+ surface
    along the path, the charge fraction ``frac`` (0 = unused), the path's bulk field
    ``e_bulk`` (V/cm) and <111> weight ``w111``; ``te_ns`` electron collection time;
    ``slow_tau_samples`` (0 = none) a slow release of the whole signal (transition-layer
    events); ``dcr_frac``/``dcr_tau_samples`` charge trapped on the surface and released
    after the prompt signal (surface alphas). ``drift_out`` (n, MAX_CLUSTERS) receives each
    cluster's hole drift time (ns), ``collected_out`` (n,) the fraction of the charge that
    is not trapped.
    """
    n = out.shape[0]
    for i in nb.prange(n):
        row = out[i]
        row[:] = 0.0
        t_buf = np.empty(MAX_STEPS)
        q_buf = np.empty(MAX_STEPS)
        t_end_max = 0.0
        collected_out[i] = 0.0
        for c in range(dist_mm.shape[1]):
            drift_out[i, c] = 0.0
            if frac[i, c] <= 0.0:
                continue
            d, big_r = dist_mm[i, c], outer_mm[i, c]
            nk = _hole_walk(
                d,
                big_r,
                wp_mm,
                e_bulk[i, c],
                e_contact,
                field_power,
                w111[i, c],
                trap_per_mm,
                t_buf,
                q_buf,
            )
            t_h = t_buf[nk - 1]
            drift_out[i, c] = t_h
            sig = math.sqrt(cloud_sigma_ns**2 + diffusion_ns2_per_ns * t_h) / dt_ns
            phi0 = (1.0 / d - 1.0 / big_r) / (1.0 / wp_mm - 1.0 / big_r)
            _add_cluster(row, t_buf, q_buf, nk, tp0[i], frac[i, c], phi0, te_ns[i], dt_ns, sig)
            t_end_max = max(t_end_max, t_h, te_ns[i])
            collected_out[i] += frac[i, c] * (q_buf[nk - 1] + phi0)
        if slow_tau_samples[i] > 0.0:
            _slow_release(row, slow_tau_samples[i])
        if dcr_frac[i] > 0.0:
            _delayed_charge(row, dcr_frac[i], tp0[i] + t_end_max / dt_ns, dcr_tau_samples[i])
