"""Original vs reconstructed pulses of masked-reconstruction pre-training.

The loss number alone does not say whether the decoder learnt the rising edge or only the
flat top; the figure shows the original window, the masked regions (shaded) and the
reconstruction for a few validation events.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from psdlab.plots.common import new_figure


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def reconstruction_figure(
    original: np.ndarray, reconstruction: np.ndarray, mask: np.ndarray, ncols: int = 4
) -> Figure:
    """A grid of events: original (C, L) in black, reconstruction in red, masked samples
    shaded; the title gives the mean squared error on the masked samples.

    Args:
        original, reconstruction: (n, C, L) arrays (channel 0 is drawn).
        mask: (n, L) bool, True where the input was hidden from the encoder.
    """
    x, r, m = (np.asarray(a) for a in (original, reconstruction, mask))
    n = max(len(x), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, size=(3.4, 2.4))
    for i, ax in enumerate(axes.ravel()):
        if i >= len(x):
            ax.set_axis_off()
            continue
        for start, stop in _spans(m[i]):
            ax.axvspan(start, stop, color="0.85", lw=0)
        ax.plot(x[i, 0], color="k", lw=0.8, label="original")
        ax.plot(r[i, 0], color="tab:red", lw=0.8, label="reconstruction")
        mse = float(((x[i] - r[i]) ** 2)[:, m[i]].mean()) if m[i].any() else float("nan")
        ax.set_title(f"masked MSE {mse:.2e}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("sample", fontsize=7)
    axes.ravel()[0].legend(fontsize=6, loc="best")
    return fig
