"""Matplotlib figures (Agg, pyplot-free) for classifiers and energy regressors."""

from psdlab.plots.classification import (
    confusion_matrix_figure,
    roc_figure,
    score_distribution_figure,
)
from psdlab.plots.energy import (
    TH228_LINES_KEV,
    pred_vs_true_figure,
    residual_figure,
    spectrum_figure,
)
from psdlab.plots.summary import make_figures
from psdlab.plots.waveforms import waveform_axis, waveform_examples_figure

__all__ = [
    "TH228_LINES_KEV",
    "confusion_matrix_figure",
    "make_figures",
    "pred_vs_true_figure",
    "residual_figure",
    "roc_figure",
    "score_distribution_figure",
    "spectrum_figure",
    "waveform_axis",
    "waveform_examples_figure",
]
