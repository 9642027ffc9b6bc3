"""Energy-regression metrics: MAE/RMSE plus the spectroscopist's bias, resolution and FWHM.

A regressor can have a small MAE and still be useless for spectroscopy if it smears the
lines, so the width of the predicted 2614.5 keV (208Tl) peak is tracked explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection
from torchmetrics.utilities.data import dim_zero_cat

FEP_KEV = 2614.5
SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def peak_fwhm(
    energies: np.ndarray | torch.Tensor,
    peak: float = FEP_KEV,
    window: float = 50.0,
    min_events: int = 20,
    n_iter: int = 10,
    clip: float = 2.5,
) -> tuple[float, float]:
    """(centre, FWHM) of the peak near ``peak`` in a spectrum of predicted energies.

    Robust estimate: keep events within ``peak +- window``, then iterate: centre = median,
    sigma = 1.4826 * MAD, keep events within ``clip`` sigma. FWHM = 2.355 * sigma (Gaussian).
    A flat Compton continuum under the peak biases this only slightly once the clipping has
    converged. NaN, NaN when fewer than ``min_events`` survive.
    """
    e = np.asarray(torch.as_tensor(energies).detach().cpu().double().numpy()).ravel()
    e = e[np.isfinite(e) & (np.abs(e - peak) <= window)]
    if e.size < min_events:
        return float("nan"), float("nan")
    centre, sigma = float(np.median(e)), float("nan")
    for _ in range(n_iter):
        mad = float(np.median(np.abs(e - centre)))
        sigma = 1.4826 * mad
        if sigma <= 0:
            break
        kept = e[np.abs(e - centre) <= clip * sigma]
        if kept.size < min_events:
            break
        new_centre = float(np.median(kept))
        if kept.size == e.size and new_centre == centre:
            break
        e, centre = kept, new_centre
    # the clipped MAD underestimates a Gaussian sigma: use the std of the clipped sample,
    # corrected for truncation at +-clip sigma
    if e.size >= min_events and sigma > 0:
        from scipy.stats import truncnorm

        trunc_std = float(truncnorm(-clip, clip).std())
        sigma = float(np.std(e)) / trunc_std
    return centre, SIGMA_TO_FWHM * sigma


class PeakFWHM(Metric):
    """Epoch-level FWHM of the predicted peak; stores only predictions inside the window."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self, peak: float = FEP_KEV, window: float = 50.0, min_events: int = 20, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.peak, self.window, self.min_events = peak, window, min_events
        self.add_state("preds", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor | None = None) -> None:
        p = preds.detach().flatten().float()
        self.preds.append(p[(p - self.peak).abs() <= self.window])

    def compute(self) -> torch.Tensor:
        if len(self.preds) == 0:  # a list, or one tensor after a DDP sync ("cat")
            return torch.tensor(float("nan"))
        _, fwhm = peak_fwhm(dim_zero_cat(self.preds), self.peak, self.window, self.min_events)
        return torch.tensor(fwhm)


DEFAULT_ENERGY_BINS: tuple[float, ...] = (0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0)


class BinnedRelativeResidual(Metric):
    """Mean ("bias") and std ("resolution") of (pred - true) / true, overall and per true-energy bin.

    ``compute`` returns a flat dict: ``bias``, ``resolution``, ``bias_<lo>_<hi>``,
    ``resolution_<lo>_<hi>`` (bin edges in keV, integers). Events with true energy <=
    ``min_true`` are ignored (relative residuals explode near 0). Empty bins give NaN.
    """

    is_differentiable = False
    full_state_update = False

    def __init__(
        self, bins: Sequence[float] = DEFAULT_ENERGY_BINS, min_true: float = 1.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.bins = [float(b) for b in bins]
        self.min_true = min_true
        n = len(self.bins) - 1
        # sufficient statistics per bin (+1 overall slot): count, sum, sum of squares
        self.add_state(
            "count", default=torch.zeros(n + 1, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state(
            "total", default=torch.zeros(n + 1, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state(
            "total_sq", default=torch.zeros(n + 1, dtype=torch.float64), dist_reduce_fx="sum"
        )

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        p, t = preds.detach().flatten().double(), target.detach().flatten().double()
        keep = t > self.min_true
        p, t = p[keep], t[keep]
        r = (p - t) / t
        edges = torch.tensor(self.bins, dtype=torch.float64, device=t.device)
        idx = torch.bucketize(t, edges, right=True) - 1
        in_range = (idx >= 0) & (idx < len(self.bins) - 1)
        n = len(self.bins) - 1
        idx = torch.where(in_range, idx, torch.full_like(idx, n))  # out of range -> dummy
        for stat, vals in (
            (self.count, torch.ones_like(r)),
            (self.total, r),
            (self.total_sq, r * r),
        ):
            per_bin = torch.zeros(n + 2, dtype=torch.float64, device=r.device)
            per_bin.index_add_(0, idx, vals)
            stat[:n] += per_bin[:n]
            stat[n] += vals.sum()

    def compute(self) -> dict[str, torch.Tensor]:
        mean = self.total / self.count
        var = (self.total_sq / self.count - mean**2).clamp_min(0.0) * self.count / (self.count - 1)
        std = var.sqrt()
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        out: dict[str, torch.Tensor] = {}
        n = len(self.bins) - 1
        for i in range(n + 1):
            suffix = "" if i == n else f"_{round(self.bins[i])}_{round(self.bins[i + 1])}"
            out[f"bias{suffix}"] = (mean[i] if self.count[i] > 0 else nan).float()
            out[f"resolution{suffix}"] = (std[i] if self.count[i] > 1 else nan).float()
        return out


def regression_metrics(
    bins: Sequence[float] = DEFAULT_ENERGY_BINS, peak_window: float = 50.0
) -> MetricCollection:
    """MAE, RMSE (keV), binned bias/resolution and FWHM of the 2614.5 keV peak."""
    return MetricCollection(
        {
            "mae": MeanAbsoluteError(),
            "rmse": MeanSquaredError(squared=False),
            "residual": BinnedRelativeResidual(bins),
            "fwhm_2614": PeakFWHM(FEP_KEV, peak_window),
        },
        compute_groups=False,
    )
