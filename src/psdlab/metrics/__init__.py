"""Epoch-level physics metrics built on torchmetrics."""

from psdlab.metrics.classification import (
    BackgroundRejectionAtSignalEfficiency,
    background_rejection_at_signal_efficiency,
    binary_metrics,
)
from psdlab.metrics.regression import (
    FEP_KEV,
    BinnedRelativeResidual,
    PeakFWHM,
    peak_fwhm,
    regression_metrics,
)

__all__ = [
    "FEP_KEV",
    "BackgroundRejectionAtSignalEfficiency",
    "BinnedRelativeResidual",
    "PeakFWHM",
    "background_rejection_at_signal_efficiency",
    "binary_metrics",
    "peak_fwhm",
    "regression_metrics",
]
