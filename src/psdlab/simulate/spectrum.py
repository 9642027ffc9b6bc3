"""Deposited energies and event topologies of a 228Th calibration run.

The spectrum is a mixture of populations, each with its own single-site probability,
because what a PSD network must learn is exactly how topology changes with the process:
DEP events are single-site (the e+e- pair deposits locally, both 511 keV photons escape),
SEP and FEP events are mostly multi-site (a 511 keV or a 2.6 MeV photon scatters before it
is absorbed), Compton-continuum events are a mixture.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from psdlab.simulate.config import SimulatorConfig

ME_C2 = 510.999  # keV
FEP_TL = 2614.5
DEP = FEP_TL - 2 * ME_C2
SEP = FEP_TL - ME_C2


class EventClass(IntEnum):
    """Truth topology of an event (stored in ``truth/event_class``)."""

    SINGLE_SITE = 0
    MULTI_SITE = 1
    POINT_CONTACT = 2
    SURFACE_ALPHA = 3
    SLOW_LQ = 4


class Population(IntEnum):
    """Which physical process produced the deposit (stored in ``truth/population``)."""

    LOW_ENERGY = 0
    COMPTON = 1
    PHOTOPEAK = 2
    DEP = 3
    SEP = 4
    ALPHA = 5


def _klein_nishina_cdf(e_gamma: float, n_grid: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """CDF of the Compton electron energy for one incident photon energy."""
    eps = e_gamma / ME_C2
    edge = e_gamma * 2 * eps / (1 + 2 * eps)
    t = np.linspace(0.0, edge * 0.9999, n_grid)
    s = t / e_gamma
    pdf = 2 + s**2 / (eps**2 * (1 - s) ** 2) + s / (1 - s) * (s - 2 / eps)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]))])
    return t, cdf / cdf[-1]


def fwhm_kev(energy: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    """Intrinsic FWHM of the collected charge (Fano + collection + noise floor)."""
    e = np.clip(energy, 0, None)
    return np.sqrt(cfg.fwhm_a_kev**2 + cfg.fwhm_b_kev * e + (cfg.fwhm_c * e) ** 2)


def _peak_to_total(e: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    lo, hi = cfg.peak_to_total
    x = np.clip((np.log(e) - np.log(238.6)) / (np.log(2614.5) - np.log(238.6)), 0, 1)
    return np.exp(np.log(lo) + x * (np.log(hi) - np.log(lo)))


def _ss_prob(e: np.ndarray, low: float, high: float) -> np.ndarray:
    x = np.clip((e - 200.0) / (2614.5 - 200.0), 0, 1)
    return low + x * (high - low)


def _component_weights(
    cfg: SimulatorConfig, line_boost: dict[str, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Line energies and the normalised weights of the spectrum's components.

    Components, in order: each line's photopeak, each line's Compton continuum, DEP, SEP,
    the low-energy continuum.
    """
    boost = {"dep": 1.0, "fep": 1.0, "low": 1.0, **(line_boost or {})}
    lines = np.array(sorted(cfg.lines), dtype=float)
    w_lines = np.array([cfg.lines[k] for k in sorted(cfg.lines)], dtype=float)
    ptt = _peak_to_total(lines, cfg)
    comp_w = [w_lines * ptt, w_lines * (1 - ptt)]
    fep_idx = int(np.argmin(np.abs(lines - FEP_TL)))
    comp_w[0][fep_idx] *= boost["fep"]
    w_fep = comp_w[0][fep_idx] / boost["fep"]
    w_dep = w_fep * cfg.dep_fraction * boost["dep"]
    w_sep = w_fep * cfg.sep_fraction
    w_low = cfg.low_energy_weight * w_lines.sum() * boost["low"]
    weights = np.concatenate([comp_w[0], comp_w[1], [w_dep, w_sep, w_low]])
    return lines, weights / weights.sum()


def _compton_energies(
    rng: np.random.Generator, line_of: np.ndarray, lines: np.ndarray
) -> np.ndarray:
    """Klein-Nishina electron energies of Compton events of the lines ``line_of``."""
    e_out = np.empty(line_of.size)
    u = rng.random(line_of.size)
    multi_fill = rng.random(line_of.size) < 0.15  # multiple scattering fills edge-to-peak
    for j, e_g in enumerate(lines):
        sel = line_of == j
        if not sel.any():
            continue
        t, cdf = _klein_nishina_cdf(float(e_g))
        e_c = np.interp(u[sel], cdf, t)
        fill = multi_fill[sel]
        e_c[fill] = t[-1] + (e_g - 1.0 - t[-1]) * u[sel][fill] ** 0.7
        e_out[sel] = e_c
    return e_out


def _component_energies(
    rng: np.random.Generator, comp: np.ndarray, lines: np.ndarray, cfg: SimulatorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True deposited energy, population and single-site probability per component."""
    n, n_lines = comp.size, lines.size
    energy = np.empty(n)
    pop = np.empty(n, dtype=np.int64)
    ss_p = np.empty(n)
    is_peak = comp < n_lines
    energy[is_peak] = lines[comp[is_peak]]
    pop[is_peak] = Population.PHOTOPEAK
    ss_p[is_peak] = _ss_prob(energy[is_peak], cfg.ss_prob_peak_low, cfg.ss_prob_peak_high)
    is_compton = (comp >= n_lines) & (comp < 2 * n_lines)
    energy[is_compton] = _compton_energies(rng, comp[is_compton] - n_lines, lines)
    pop[is_compton] = Population.COMPTON
    ss_p[is_compton] = _ss_prob(
        energy[is_compton], cfg.ss_prob_continuum_low, cfg.ss_prob_continuum_high
    )
    k = 2 * n_lines
    for code, value, p in ((k, DEP, cfg.ss_prob_dep), (k + 1, SEP, cfg.ss_prob_sep)):
        sel = comp == code
        energy[sel] = value
        pop[sel] = Population.DEP if code == k else Population.SEP
        ss_p[sel] = p
    sel = comp == k + 2
    energy[sel] = cfg.threshold_kev + rng.exponential(cfg.low_energy_scale_kev, sel.sum())
    pop[sel] = Population.LOW_ENERGY
    ss_p[sel] = cfg.ss_prob_continuum_low
    return energy, pop, ss_p


def _topology(
    rng: np.random.Generator, energy: np.ndarray, ss_p: np.ndarray, cfg: SimulatorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event class and number of sites; the special classes replace a bulk topology.

    Returns ``(event_class, n_sites, alpha)``; surface alphas get their energy elsewhere.
    """
    n = energy.size
    single = rng.random(n) < ss_p
    n_sites = np.where(single, 1, 2 + rng.poisson(0.6, n)).astype(np.int64)
    n_sites = np.minimum(n_sites, 4)
    event_class = np.where(single, EventClass.SINGLE_SITE, EventClass.MULTI_SITE).astype(np.int64)
    u = rng.random(n)
    pc = u < cfg.frac_point_contact
    alpha = (u >= cfg.frac_point_contact) & (u < cfg.frac_point_contact + cfg.frac_surface_alpha)
    # slow pulses come from the n+ transition layer: mostly low-energy photons stop there
    slow_p = cfg.frac_slow * np.exp(-np.clip(energy - cfg.threshold_kev, 0, None) / 400.0) * 2.0
    slow = ~pc & ~alpha & (rng.random(n) < slow_p)
    event_class[pc] = EventClass.POINT_CONTACT
    event_class[slow] = EventClass.SLOW_LQ
    n_sites[pc | slow] = 1
    event_class[alpha] = EventClass.SURFACE_ALPHA
    n_sites[alpha] = 1
    return event_class, n_sites, alpha


def sample_deposits(
    rng: np.random.Generator,
    n: int,
    cfg: SimulatorConfig,
    line_boost: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Draw ``n`` events: true energy (keV), population, event class and number of sites.

    ``line_boost`` multiplies population weights ("dep", "fep", "low") and is used only by the
    calibration campaign to enrich the peaks it fits, like a longer calibration run would.
    """
    lines, weights = _component_weights(cfg, line_boost)
    comp = rng.choice(len(weights), size=n, p=weights)
    energy, pop, ss_p = _component_energies(rng, comp, lines, cfg)
    # detector resolution of the collected charge
    energy = energy + rng.standard_normal(n) * fwhm_kev(energy, cfg) / 2.3548
    energy = np.clip(energy, cfg.threshold_kev, cfg.max_energy_kev)
    event_class, n_sites, alpha = _topology(rng, energy, ss_p, cfg)
    pop[alpha] = Population.ALPHA
    # degraded alphas: 5.3 MeV 210Po alphas lose energy in the passivation and surface
    energy[alpha] = 5304.0 * rng.uniform(0.15, 0.55, alpha.sum())
    return {
        "true_energy": energy,
        "population": pop,
        "event_class": event_class,
        "n_sites": n_sites,
    }
