"""Overview figure of a simulated (or real) file: pulses per class, spectrum, A/E vs E.

The figure is what a physicist checks first: PPC rising edges (slow start, sharp end),
exponential preamp tails, 228Th lines with their Compton edges, and the single-site A/E band
with the multi-site population below it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from psdlab.plots.common import save_figure
from psdlab.simulate.spectrum import EventClass


def _read_overview(path: str | os.PathLike[str], max_events: int) -> dict[str, Any]:
    """What the figure needs: energies, labels, classes, A/E and one trace per class."""
    with h5py.File(path, "r") as f:
        n = min(max_events, f["energy_label"].shape[0])
        energy = f["energy_label"][:n]
        has_truth = "truth" in f
        cls = f["truth/event_class"][:n] if has_truth else np.zeros(n, dtype=np.int64)
        aoe = (
            f["truth/aoe_classifier"][:n] if has_truth and "aoe_classifier" in f["truth"] else None
        )
        picks: dict[str, int] = {}
        for c in EventClass:
            idx = np.flatnonzero((cls == c) & (energy > 800) & (energy < 2700))
            if idx.size:
                picks[c.name] = int(idx[0])
        return {
            "energy": energy,
            "low": f["psd_label_low_avse"][:n],
            "aoe": aoe,
            "picks": picks,
            "wfs": {k: f["raw_waveform"][i] for k, i in picks.items()},
            "tp0": f["tp0"][:n],
        }


def _plot_pulses(axes: tuple[plt.Axes, plt.Axes, plt.Axes], d: dict[str, Any]) -> None:
    """Whole traces, rising edges and currents of the picked events."""
    ax_w, ax_z, ax_c = axes
    energy, tp0 = d["energy"], d["tp0"]
    for k, wf in d["wfs"].items():
        i = d["picks"][k]
        bl = wf[: max(50, int(tp0[i]) - 100)].mean()
        y = (wf - bl) / max(energy[i], 1.0)
        t_us = np.arange(wf.size) * 0.01
        ax_w.plot(t_us, y, lw=0.7, label=f"{k} ({energy[i]:.0f} keV)")
        sl = slice(int(tp0[i]) - 30, int(tp0[i]) + 220)
        ax_z.plot((np.arange(wf.size)[sl] - tp0[i]) * 10.0, y[sl] / y[sl].max(), lw=1.0, label=k)
        cur = np.diff(y[sl])
        ax_c.plot((np.arange(wf.size)[sl][1:] - tp0[i]) * 10.0, cur / cur.max(), lw=1.0, label=k)
    ax_w.set(xlabel="time [us]", ylabel="(ADC - baseline) / E [1/keV]", title="raw traces")
    ax_w.legend(fontsize=7)
    ax_z.set(xlabel="time after tp0 [ns]", ylabel="normalised charge", title="rising edges")
    ax_c.set(xlabel="time after tp0 [ns]", ylabel="normalised current", title="current")
    ax_z.legend(fontsize=7)


def _plot_spectrum(ax_s: plt.Axes, energy: np.ndarray, low: np.ndarray) -> None:
    bins = np.arange(0, 3000, 2.0)
    ax_s.hist(energy, bins=bins, histtype="step", color="k", lw=0.6, label="all")
    ax_s.hist(
        energy[low], bins=bins, histtype="step", color="tab:blue", lw=0.6, label="pass low A/E"
    )
    ax_s.set_yscale("log")
    ax_s.set(xlabel="energy_label [keV]", ylabel="counts / 2 keV", title="228Th spectrum")
    for line in (238.6, 583.2, 727.3, 860.6, 1592.5, 1620.7, 2103.5, 2614.5):
        ax_s.axvline(line, color="tab:red", lw=0.3, alpha=0.5)
    ax_s.legend()


def plot_file(
    path: str | os.PathLike[str], out: str | os.PathLike[str], max_events: int = 20000
) -> Path:
    """Write a PNG overview of ``path`` to ``out`` and return ``out``."""
    d = _read_overview(path, max_events)
    energy, aoe = d["energy"], d["aoe"]
    fig = plt.figure(figsize=(15, 10))
    gs = fig.add_gridspec(2, 3)
    axes = (fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[0, 2]))
    _plot_pulses(axes, d)
    _plot_spectrum(fig.add_subplot(gs[1, :2]), energy, d["low"])
    ax_a = fig.add_subplot(gs[1, 2])
    if aoe is not None:
        sel = energy > 100
        ax_a.hist2d(
            energy[sel],
            np.clip(aoe[sel], -25, 10),
            bins=(150, 120),
            cmap="viridis",
            norm=matplotlib.colors.LogNorm(),
        )
        ax_a.set(
            xlabel="energy [keV]", ylabel="A/E classifier [band widths]", title="A/E vs energy"
        )
    fig.tight_layout()
    out = save_figure(fig, out, dpi=90)
    plt.close(fig)
    return out
