"""Example input waveforms with the network's outputs, to eyeball what the model sees.

A physicist reads a pulse in microseconds and ADC counts (or, after normalisation, in units
of the pulse height), so the axes say so; each panel names the event's energy, the network's
score and the label, and the grid stays small enough to read at TensorBoard's default size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.plots.common import new_figure

MAX_EXAMPLES = 6  # panels readable at TensorBoard's default image size

AMPLITUDE_LABELS = {
    "minmax": "amplitude (normalised: min 0, max 1)",
    "energy": "amplitude / energy [ADC/keV]",
    "none": "amplitude [ADC]",
    "standardized": "amplitude (standardised per sample)",
}


def waveform_axis(
    sampling_period_ns: float = 10.0,
    downsample: int = 1,
    window_mode: str = "tp0",
    window_offset: int = -200,
    window_start: int = 500,
    normalize: str = "minmax",
    standardize: bool = False,
    amplitude_channel: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of :func:`waveform_examples_figure` for a preprocessing setup.

    Takes plain values (the data module's ``preprocess`` settings and the schema's sampling
    period) so that plots need not import the data package. Time is counted from the start
    of the rising edge (tp0) in ``tp0`` window mode, from the computed rise point in ``rise``
    mode, else from the first raw sample.
    """
    aligned = window_mode in ("tp0", "rise")
    offset = window_offset if aligned else window_start if window_mode == "fixed" else 0
    unit = "standardized" if standardize else normalize
    labels = {"tp0": "time from tp0 [us]", "rise": "time from the rise point [us]"}
    return {
        "sample_ns": float(sampling_period_ns) * int(downsample),
        "time_offset_us": offset * float(sampling_period_ns) / 1000.0,
        "time_label": labels.get(window_mode, "time [us]"),
        "amplitude_label": AMPLITUDE_LABELS.get(unit, f"amplitude ({unit})"),
        "drop_last_channel": bool(amplitude_channel),
    }


def waveform_examples_figure(
    waveforms: np.ndarray,
    captions: Sequence[str],
    ncols: int = 3,
    *,
    sample_ns: float = 10.0,
    time_offset_us: float = 0.0,
    time_label: str = "time [us]",
    amplitude_label: str = AMPLITUDE_LABELS["minmax"],
    channel_names: Sequence[str] = ("charge", "current (first difference)"),
    drop_last_channel: bool = False,
) -> Figure:
    """A grid of (n, C, L) or (n, L) waveforms against time in us, each titled by its caption.

    ``sample_ns`` is the time per input sample (sampling period times any downsampling) and
    ``time_offset_us`` the time of the first input sample (e.g. -2 us for a window starting
    200 samples before tp0). ``drop_last_channel`` leaves out the constant log10 pulse
    height of ``preprocess.amplitude_channel``: on the pulse's axes it would flatten it.
    """
    w = np.asarray(waveforms, float)
    if w.ndim == 2:
        w = w[:, None, :]
    if drop_last_channel and w.shape[1] > 1:
        w = w[:, :-1]
    n = max(len(w), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, size=(4.6, 3.3))
    t = time_offset_us + np.arange(w.shape[-1]) * sample_ns / 1000.0
    for i, ax in enumerate(axes.ravel()):
        if i >= len(w):
            ax.set_axis_off()
            continue
        for c in range(w.shape[1]):
            name = channel_names[c] if c < len(channel_names) else f"channel {c}"
            ax.plot(t, w[i, c], lw=1.0, label=name if w.shape[1] > 1 else None)
        ax.set_title(captions[i] if i < len(captions) else "", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_xlabel(time_label, fontsize=9)
        ax.set_ylabel(amplitude_label, fontsize=8)
        ax.grid(alpha=0.3)
        if w.shape[1] > 1 and i == 0:
            ax.legend(fontsize=7)
    return fig


def example_captions(
    table: Mapping[str, np.ndarray], rows: np.ndarray, names: Sequence[str]
) -> list[str]:
    """Per example: its energy (true and predicted when both exist), then per label the
    network's score and the label, each named, so no number has to be guessed at."""
    captions = []
    for r in rows:
        parts = []
        energy = []
        if "energy" in table:
            energy.append(f"E = {float(table['energy'][r]):.0f} keV")
        if "energy_pred" in table:
            energy.append(f"predicted {float(table['energy_pred'][r]):.0f} keV")
        if energy:
            parts.append(", ".join(energy))
        for n in names:
            if n == "all_cuts":
                continue
            passed = "pass" if bool(table[f"label_{n}"][r]) else "fail"
            parts.append(f"{n}: score {float(table[f'score_{n}'][r]):.2f}, label {passed}")
        captions.append("\n".join(parts))
    return captions
