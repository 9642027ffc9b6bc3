"""Example input waveforms with the network's outputs, to eyeball what the model sees."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from psdlab.plots.common import new_figure


def waveform_examples_figure(
    waveforms: np.ndarray, captions: Sequence[str], ncols: int = 4
) -> Figure:
    """A grid of (n, C, L) or (n, L) waveforms, each titled with its caption (scores, labels)."""
    w = np.asarray(waveforms, float)
    if w.ndim == 2:
        w = w[:, None, :]
    n = max(len(w), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, size=(3.4, 2.4))
    for i, ax in enumerate(axes.ravel()):
        if i >= len(w):
            ax.set_axis_off()
            continue
        for c in range(w.shape[1]):
            ax.plot(w[i, c], lw=0.8)
        ax.set_title(captions[i] if i < len(captions) else "", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("sample", fontsize=7)
    return fig
