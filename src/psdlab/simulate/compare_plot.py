"""Figure of :mod:`psdlab.simulate.compare_real`: rise times and noise spectra, real vs sim."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from psdlab.plots.common import save_figure


def comparison_figure(rows: list[dict[str, Any]], out: str | os.PathLike[str]) -> Path:
    """Rise-time distributions (normalised) and baseline noise spectra of every row."""
    fig, (ax_r, ax_n) = plt.subplots(1, 2, figsize=(13, 4.5))
    bins = np.arange(0, 1600, 25.0)
    seen: list[np.ndarray] = []
    for r in rows:
        vals = r["rise_values"]
        if vals.size:
            ax_r.hist(vals, bins=bins, histtype="step", density=True, lw=1.2, label=r["set"])
        fm, power = r["spectrum"]
        if any(np.array_equal(power, p) for p in seen):
            continue  # the rows of one simulated set share their noise spectrum
        seen.append(power)
        ax_n.loglog(fm, power / np.diff(fm).mean(), lw=1.0, label=r["set"].split(":")[0])
    ax_r.set(xlabel="10-90 % rise time [ns]", ylabel="events (normalised)")
    ax_r.set_title("rise time: real clean pulses vs simulated", fontsize=10)
    ax_r.legend(fontsize=7)
    ax_n.set(xlabel="frequency [MHz]", ylabel="share of noise power per MHz")
    ax_n.set_title("baseline noise spectrum (first 8 us)", fontsize=10)
    ax_n.legend(fontsize=7)
    fig.tight_layout()
    out = save_figure(fig, out, dpi=90)
    plt.close(fig)
    return out
