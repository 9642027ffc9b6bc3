"""Regression of each pulse's own classical parameters: a self-supervised pre-training target.

The head reads the backbone's features of the whole pulse and predicts the standardised DSP
parameters the data module attaches (``data.dsp_targets``, see :mod:`psdlab.data.dsp_targets`:
A/E, DCR, LQ, drift time, log energy). No label is used, so it trains on unlabelled and real
pulses like the masked reconstruction, and next to it (``experiment=pretrain_sim_dsp``) it
points the encoder at the few samples the cuts measure, which a reconstruction loss weighs
little. The loss is a smooth L1 on the finite targets, so the clipped tails of A/E and DCR do
not dominate; the metrics are the mean squared error per parameter, in units of its robust
spread (1: no better than predicting the median).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.aggregation import SumMetric

from psdlab.data.dsp_targets import check_dsp_targets
from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric
from psdlab.utils.errors import ConfigError


class DSPTargetHead(nn.Module):
    """An MLP (or one linear layer) to the K standardised parameters; ``infer`` is the same."""

    def __init__(self, in_features: int, n_targets: int, hidden: int) -> None:
        super().__init__()
        self.mlp = (
            nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, n_targets))
            if hidden
            else nn.Linear(in_features, n_targets)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)

    infer = forward  # standardised units in training and in the exported model alike


class DSPTargetPart(TaskPart):
    """Head, loss and metrics of the standardised DSP parameters (batch key ``dsp_targets``).

    Args:
        in_features: backbone feature size (filled in by the task).
        targets: the parameters, in the order of ``data.dsp_targets`` (the data config reads
            them from here, so they cannot differ).
        hidden: hidden units of the head (0: a linear head).
        beta: transition of the smooth L1 loss, in robust spreads.
        weight: factor of this part's loss in the total loss.
    """

    test_metric_names = ("dsp_mse",)
    self_supervised = True

    def __init__(
        self,
        in_features: int,
        targets: Sequence[str] = ("trap_energy", "aoe", "dcr", "lq", "drift_time_ns"),
        hidden: int = 128,
        beta: float = 1.0,
        weight: float = 1.0,
    ) -> None:
        super().__init__(weight)
        self.targets = check_dsp_targets(targets)
        if not self.targets:
            raise ConfigError("task.parts.<dsp>.targets: name at least one DSP parameter")
        self.beta = float(beta)
        k = len(self.targets)
        self.head = DSPTargetHead(in_features, k, int(hidden))
        # per target: sum of squared errors and count of finite targets, per stage
        names = [f"{kind}_{k}" for k in range(k) for kind in ("sq", "n")]
        self.sums = nn.ModuleDict(
            {s: nn.ModuleDict({name: SumMetric() for name in names}) for s in STAGES}
        )

    def setup_fit(self, datamodule: Any) -> None:
        """The data module must attach these very parameters, in this order."""
        have = list(getattr(datamodule, "dsp_targets", None) or [])
        if datamodule is not None and have != self.targets:
            raise ConfigError(
                f"the DSP part predicts {self.targets} but data.dsp_targets is {have}; "
                "set data.dsp_targets to the part's targets (the data configs read "
                "task.parts.dsp.targets)"
            )

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        return "dsp_targets" in batch

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        target = batch["dsp_targets"].to(raw.dtype)
        ok = torch.isfinite(target)
        if not bool(ok.any()):
            return raw.sum() * 0.0
        return F.smooth_l1_loss(raw[ok], target[ok], beta=self.beta)

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        target = batch["dsp_targets"].float()
        ok = torch.isfinite(target)
        sq = torch.where(ok, (raw.detach().float() - target).pow(2), torch.zeros_like(target))
        sums = self.sums[stage]
        for k in range(len(self.targets)):
            sums[f"sq_{k}"].update(sq[:, k].sum())
            sums[f"n_{k}"].update(ok[:, k].sum().float())

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        sums = self.sums[stage]
        if not sums["n_0"].update_called:
            return {}
        per = torch.stack(
            [
                sums[f"sq_{k}"].compute() / sums[f"n_{k}"].compute().clamp(min=1)
                for k in range(len(self.targets))
            ]
        )
        for metric in sums.values():
            reset_metric(metric)
        out = {f"dsp_mse_{name}": per[k] for k, name in enumerate(self.targets)}
        out["dsp_mse"] = per.mean()
        return out

    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The predicted standardised parameters (``dsp_<name>``)."""
        return {f"dsp_{name}": raw[:, k].detach() for k, name in enumerate(self.targets)}

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"dsp_{name}": raw[:, k] for k, name in enumerate(self.targets)}

    def output_names(self) -> list[str]:
        return [f"dsp_{name}" for name in self.targets]
