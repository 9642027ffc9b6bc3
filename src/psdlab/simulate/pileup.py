"""Pulses on an earlier pulse's tail and second pulses in the trace (pile-up).

Calibration events arrive as a Poisson process of rate ``pileup_rate_khz``. A trace is
triggered only after the previous trace has ended, so the pulse before an event lies at
least one post-trigger length earlier; its preamplifier tail (decay constant tau) is still
on the baseline when it is recent or large: the event sits on a tail. A pulse arriving
within the event's own post-trigger window is a second pulse in the trace. Real 228Th
calibration data show 3-23 % of events on a tail and 1.4-4.8 % with a second pulse at rates
of 0.1-1 kHz (../shared/realdata README); the default 0.5 kHz lies in between. The extra
pulses are drawn from the same spectrum and made by the same charge-collection physics.
"""

from __future__ import annotations

import numpy as np

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.sites import collect, current_of
from psdlab.simulate.spectrum import sample_deposits


def sample_pileup(
    rng: np.random.Generator, cfg: SimulatorConfig, tp0: np.ndarray, tau_us: np.ndarray
) -> dict[str, np.ndarray]:
    """Earlier pulses' tails and later in-trace pulses of events starting at ``tp0``.

    Returns truth arrays: ``tail_kev`` (what remains of the earlier pulse at the event's
    rise, keV), ``tail_start_kev`` (the same at the trace start), ``on_tail``,
    ``pileup`` (a second pulse in the trace), ``pileup_delay_ns`` and ``pileup_energy_kev``
    (0 when none). A rate of 0 draws nothing and gives all zeros.
    """
    n, dt = tp0.size, cfg.sampling_period_ns
    zeros = np.zeros(n)
    if cfg.pileup_rate_khz <= 0:
        return {
            "tail_kev": zeros,
            "tail_start_kev": zeros.copy(),
            "on_tail": zeros.astype(bool),
            "pileup": zeros.astype(bool),
            "pileup_delay_ns": zeros.copy(),
            "pileup_energy_kev": zeros.copy(),
        }
    mean_gap_ns = 1e6 / cfg.pileup_rate_khz
    post_ns = (cfg.trace_length - tp0) * dt
    gap = post_ns + rng.exponential(mean_gap_ns, n)  # earlier pulse -> this rise
    e_prev = sample_deposits(rng, n, cfg)["true_energy"]
    tau_ns = tau_us * 1000.0
    tail = e_prev * np.exp(-gap / tau_ns)
    delay = rng.exponential(mean_gap_ns, n)
    inside = delay < post_ns - 100 * dt  # leave room for the second pulse to rise
    return {
        "tail_kev": tail,
        "tail_start_kev": tail * np.exp(tp0 * dt / tau_ns),
        "on_tail": tail > cfg.on_tail_min_kev,
        "pileup": inside,
        "pileup_delay_ns": np.where(inside, delay, 0.0),
        "pileup_energy_kev": zeros.copy(),  # filled by add_pileup_current
    }


def add_pileup_current(
    rng: np.random.Generator,
    cfg: SimulatorConfig,
    current: np.ndarray,
    tp0: np.ndarray,
    energy: np.ndarray,
    pu: dict[str, np.ndarray],
) -> None:
    """Add the second pulses of ``pu`` to ``current`` (per unit charge of each event) and
    record their energies in ``pu["pileup_energy_kev"]``."""
    idx = np.flatnonzero(pu["pileup"])
    if idx.size == 0:
        return
    dep = sample_deposits(rng, idx.size, cfg)
    pu["pileup_energy_kev"][idx] = dep["true_energy"]
    t2 = tp0[idx] + pu["pileup_delay_ns"][idx] / cfg.sampling_period_ns
    extra, _, _ = current_of(collect(rng, cfg, dep), t2, cfg, current.shape[1])
    current[idx] += extra * (dep["true_energy"] / np.maximum(energy[idx], 1e-3))[:, None]
