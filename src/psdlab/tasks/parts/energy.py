"""Energy regression in keV from the waveform (task ``energy``, part of ``multitask``).

The network regresses ``(E - target_offset) / target_scale`` (O(1) numbers); metrics and
predictions are in keV. Besides MAE/RMSE the part tracks the relative bias/resolution per
energy bin and the FWHM of the predicted 2614.5 keV line, the numbers a spectroscopist
compares with the trapezoidal filter (2.5 keV FWHM at Q_bb).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from psdlab.metrics.regression import DEFAULT_ENERGY_BINS, regression_metrics
from psdlab.tasks.heads import EnergyHead
from psdlab.tasks.losses import REGRESSION_LOSSES, regression_loss
from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric
from psdlab.utils.errors import ConfigError


class EnergyPart(TaskPart):
    """Head, loss and metrics of the energy (batch key ``energy``, (B,) keV).

    Args:
        in_features: backbone feature size (filled in by the task).
        loss: mse | l1 | smooth_l1 | huber, on scaled targets.
        target_scale, target_offset: the network predicts (E - offset) / scale.
        smooth_l1_beta: transition point of smooth_l1/huber, in scaled units.
        energy_bins: true-energy bin edges (keV) of bias/resolution metrics.
        peak_window: half-width (keV) around 2614.5 keV for the FWHM metric.
        weight: factor of this part's loss in the total loss.
    """

    test_metric_names = ("mae", "fwhm_2614")

    def __init__(
        self,
        in_features: int,
        loss: str = "mse",
        target_scale: float = 1000.0,
        target_offset: float = 0.0,
        smooth_l1_beta: float = 0.01,
        energy_bins: Sequence[float] = DEFAULT_ENERGY_BINS,
        peak_window: float = 50.0,
        weight: float = 1.0,
    ) -> None:
        super().__init__(weight)
        if loss not in REGRESSION_LOSSES:
            raise ConfigError(
                f"unknown regression loss '{loss}'; choose one of {REGRESSION_LOSSES}"
            )
        self.loss_name, self.beta = loss, float(smooth_l1_beta)
        self.head = EnergyHead(in_features, target_scale, target_offset)
        self.metrics = nn.ModuleDict(
            {s: regression_metrics(energy_bins, peak_window) for s in STAGES}
        )

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        return "energy" in batch

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        target = self.head.to_scaled(batch["energy"].float())
        return regression_loss(raw, target, self.loss_name, self.beta)

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        self.metrics[stage].update(self.head.to_kev(raw.detach()).float(), batch["energy"].float())

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        collection = self.metrics[stage]
        if not collection["mae"].update_called:
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = dict(collection.compute())
        reset_metric(collection)
        return out

    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {"energy_pred": self.head.to_kev(raw.detach()).float()}

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"energy_pred": self.head.to_kev(raw)}

    def output_names(self) -> list[str]:
        return ["energy_pred"]
