"""Energy regression in keV from the waveform (task ``energy``, part of ``multitask``).

The network regresses ``(E - target_offset) / target_scale`` (O(1) numbers); metrics and
predictions are in keV. Besides MAE/RMSE the part tracks the relative bias/resolution per
energy bin and the FWHM of the predicted 2614.5 keV line, the numbers a spectroscopist
compares with the trapezoidal filter (2.5 keV FWHM at Q_bb).

Two heads: ``linear`` (absolute energy from the features) and ``trap_relative``
(:class:`~psdlab.tasks.parts.energy_heads.RelativeEnergyHead`: a learned per-mille correction
of the trapezoidal energy that :class:`psdlab.models.energy.TrapRelativeNet` computes inside
the model). ``relative_loss`` puts the loss on ``(E_pred - E) / E`` in per mille, so a 2614
keV line weighs by its relative precision, as a spectroscopist reads resolution, and not
4.5x more than a 583 keV one.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from psdlab.metrics.regression import DEFAULT_ENERGY_BINS, regression_metrics
from psdlab.tasks.heads import EnergyHead
from psdlab.tasks.losses import REGRESSION_LOSSES, regression_loss
from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric
from psdlab.tasks.parts.energy_heads import ChannelGains, RelativeEnergyHead
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
        head: linear | trap_relative (needs a backbone whose last feature is a classical
            energy, e.g. psdlab.models.energy.TrapRelativeNet).
        gain_init, max_delta: trap_relative head: keV per input unit at the start, and the
            bound of its relative correction.
        relative_loss: loss on the per-mille residual ``1000 (E_pred - E) / E`` (E floored
            at ``relative_floor_kev``) instead of the scaled energy; ``smooth_l1_beta`` is
            then in per mille.
        channel_gains: learn one gain per channel (detector) of the training split, applied
            in the loss only: the network cannot know a channel's keV/ADC from its trace, and
            without this the ~3 % gain spread is noise in every gradient. The network's own
            output stays in common units; each channel is recalibrated on its lines
            afterwards (psdlab.tasks.calibrate). Channels come from ``batch["detector"]``
            when the data module provides it, else from the training split's metadata by id.
        max_channels: size of the channel-gain table.
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
        head: str = "linear",
        gain_init: float = 0.4,
        max_delta: float = 0.05,
        relative_loss: bool = False,
        relative_floor_kev: float = 100.0,
        channel_gains: bool = False,
        max_channels: int = 64,
    ) -> None:
        super().__init__(weight)
        if loss not in REGRESSION_LOSSES:
            raise ConfigError(
                f"unknown regression loss '{loss}'; choose one of {REGRESSION_LOSSES}"
            )
        self.loss_name, self.beta = loss, float(smooth_l1_beta)
        self.relative_loss, self.floor = bool(relative_loss), float(relative_floor_kev)
        self.head = _make_head(head, in_features, target_scale, target_offset, gain_init, max_delta)
        self.channels = ChannelGains(max_channels) if channel_gains else None
        self.metrics = nn.ModuleDict(
            {s: regression_metrics(energy_bins, peak_window) for s in STAGES}
        )

    def setup_fit(self, datamodule: Any) -> None:
        if self.channels is not None and datamodule is not None:
            self.channels.register(datamodule)

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        return "energy" in batch

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        energy = batch["energy"].float()
        kev = self._kev(raw, batch)
        if self.relative_loss:
            per_mille = 1000.0 * (kev - energy) / energy.clamp_min(self.floor)
            return regression_loss(
                per_mille, torch.zeros_like(per_mille), self.loss_name, self.beta
            )
        scaled = self.head.to_scaled(kev)
        return regression_loss(scaled, self.head.to_scaled(energy), self.loss_name, self.beta)

    def _kev(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """keV of the batch's events, times their channel's learned gain where it is known
        (``detector`` in the batch, or an id of the training split; else gain 1)."""
        kev = self.head.to_kev(raw)
        return kev if self.channels is None else kev * self.channels(batch)

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        self.metrics[stage].update(self._kev(raw.detach(), batch).float(), batch["energy"].float())

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
        return {"energy_pred": self._kev(raw.detach(), batch).float()}

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"energy_pred": self.head.to_kev(raw)}

    def output_names(self) -> list[str]:
        return ["energy_pred"]


def _make_head(
    kind: str,
    in_features: int,
    target_scale: float,
    target_offset: float,
    gain_init: float,
    max_delta: float,
) -> nn.Module:
    """The energy head named in config (linear | trap_relative)."""
    if kind == "linear":
        return EnergyHead(in_features, target_scale, target_offset)
    if kind == "trap_relative":
        return RelativeEnergyHead(in_features, target_scale, target_offset, gain_init, max_delta)
    raise ConfigError(f"unknown energy head '{kind}'; choose linear or trap_relative")
