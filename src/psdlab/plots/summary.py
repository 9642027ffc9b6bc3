"""One function turning a prediction table into the standard set of figures.

The task modules (TensorBoard, every validation epoch) and ``write_figures`` (PNG after
testing) both go through :func:`make_figures`, so the two always show the same plots.

A prediction table is a dict of numpy arrays with N rows:
``score_<label>`` / ``label_<label>`` per classification target (plus ``score_all_cuts`` /
``label_all_cuts`` with several targets), ``energy`` (true, keV), ``energy_pred`` (keV),
``id``; optionally ``example_waveform`` (n, C, L) and ``example_row`` (n,) indices into N.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.plots.classification import (
    confusion_matrix_figure,
    roc_figure,
    score_distribution_figure,
)
from psdlab.plots.energy import pred_vs_true_figure, residual_figure, spectrum_figure
from psdlab.plots.waveforms import MAX_EXAMPLES, example_captions, waveform_examples_figure


def classification_names(table: Mapping[str, np.ndarray]) -> list[str]:
    """Labels with both a score and a truth column (``all_cuts`` last)."""
    names = [k[len("score_") :] for k in table if k.startswith("score_")]
    names = [n for n in names if f"label_{n}" in table]
    return sorted(names, key=lambda n: (n == "all_cuts", names.index(n)))


def make_figures(
    table: Mapping[str, np.ndarray],
    threshold: float = 0.5,
    sig_eff: float = 0.9,
    waveform_axis: Mapping[str, Any] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Figure]:
    """Figures named roc, score_distributions, confusion_matrix, energy_pred_vs_true,
    energy_residuals, energy_spectrum, example_waveforms: whichever the table supports.

    ``waveform_axis`` (see :func:`psdlab.plots.waveforms.waveform_axis`) puts the example
    waveforms on a time axis in us with the right amplitude unit; without it the MJD
    digitiser's 10 ns per sample and min-max normalisation (the defaults) are assumed.
    At most ``max_examples`` waveforms are drawn, so each stays readable.
    """
    figs: dict[str, Figure] = {}
    names = classification_names(table)
    if names and len(table[f"score_{names[0]}"]):
        scores = {n: np.asarray(table[f"score_{n}"], float) for n in names}
        labels = {n: np.asarray(table[f"label_{n}"]).astype(bool) for n in names}
        figs["roc"] = roc_figure(scores, labels, sig_eff, threshold)
        figs["score_distributions"] = score_distribution_figure(scores, labels, threshold)
        figs["confusion_matrix"] = confusion_matrix_figure(scores, labels, threshold)
    if "energy_pred" in table and len(table["energy_pred"]):
        pred = np.asarray(table["energy_pred"], float)
        true = np.asarray(table["energy"], float) if "energy" in table else None
        if true is not None:
            figs["energy_pred_vs_true"] = pred_vs_true_figure(true, pred)
            figs["energy_residuals"] = residual_figure(true, pred)
        figs["energy_spectrum"] = spectrum_figure(pred, true)
    if "example_waveform" in table and len(table["example_waveform"]):
        waves = np.asarray(table["example_waveform"])[:max_examples]
        rows = np.asarray(table.get("example_row", np.arange(len(waves))))[: len(waves)]
        captions = example_captions(table, rows, names)
        figs["example_waveforms"] = waveform_examples_figure(
            waves, captions, **dict(waveform_axis or {})
        )
    return figs
