"""Energy regression in keV from the waveform (task ``energy``).

The network regresses ``(E - target_offset) / target_scale`` (O(1) numbers); metrics and
predictions are in keV. Besides MAE/RMSE the task tracks the relative bias/resolution per
energy bin and the FWHM of the predicted 2614.5 keV line, the numbers a spectroscopist
compares with the trapezoidal filter (2.5 keV FWHM at Q_bb).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from psdlab.metrics.regression import DEFAULT_ENERGY_BINS, regression_metrics
from psdlab.tasks.base import STAGES, BaseTask, TaskPart, reset_metric
from psdlab.tasks.heads import EnergyHead
from psdlab.tasks.losses import REGRESSION_LOSSES, regression_loss


class RegressionPart(TaskPart):
    """Head, loss and metrics of the energy (batch key ``energy``, (B,) keV)."""

    name = "energy"
    test_metric_names = ("mae", "fwhm_2614")

    def __init__(
        self,
        in_features: int,
        loss: str,
        target_scale: float,
        target_offset: float,
        beta: float,
        energy_bins: Sequence[float],
        peak_window: float,
    ) -> None:
        super().__init__()
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"unknown regression loss '{loss}'; choose one of {REGRESSION_LOSSES}")
        self.loss_name, self.beta = loss, beta
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


class EnergyRegressor(BaseTask):
    """Energy regressor (task ``energy``).

    Args:
        targets: ignored (kept so every task config has the key; the energy task uses []).
        loss: mse | l1 | smooth_l1 | huber, on scaled targets.
        target_scale, target_offset: the network predicts (E - offset) / scale.
        smooth_l1_beta: transition point of smooth_l1/huber, in scaled units.
        energy_bins: true-energy bin edges (keV) of bias/resolution metrics.
        peak_window: half-width (keV) around 2614.5 keV for the FWHM metric.
        pos_weight, threshold: accepted and ignored (common task-config keys).
        Other arguments: see :class:`psdlab.tasks.base.BaseTask`.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        targets: Sequence[str] = (),
        loss: str = "mse",
        target_scale: float = 1000.0,
        target_offset: float = 0.0,
        smooth_l1_beta: float = 0.01,
        energy_bins: Sequence[float] = DEFAULT_ENERGY_BINS,
        peak_window: float = 50.0,
        monitor: str = "val/mae",
        monitor_mode: str = "min",
        compile: bool = False,
        input_shape: Sequence[int] | None = None,
        log_figures_every_n_epochs: int = 1,
        max_plot_points: int = 20000,
        n_example_waveforms: int = 8,
        pos_weight: Any = None,
        threshold: float | None = None,
    ) -> None:
        # pos_weight, threshold: classification keys every task config carries; unused here
        super().__init__(
            net,
            optimizer,
            scheduler,
            input_shape,
            compile,
            monitor,
            monitor_mode,
            log_figures_every_n_epochs,
            max_plot_points,
            n_example_waveforms,
            extra_hparams={
                "targets": list(targets),
                "loss": loss,
                "target_scale": float(target_scale),
                "target_offset": float(target_offset),
                "smooth_l1_beta": float(smooth_l1_beta),
                "energy_bins": [float(b) for b in energy_bins],
                "peak_window": float(peak_window),
            },
        )
        self.parts["energy"] = RegressionPart(
            self.net.out_features,
            loss,
            target_scale,
            target_offset,
            smooth_l1_beta,
            energy_bins,
            peak_window,
        )
