"""Output layers shared by training and export.

A head maps backbone features to the raw training output (``forward``: logits, scaled
energy) and to the physical inference output (``infer``: probabilities, keV), so the exported
model and the LightningModule can never disagree on post-processing.
"""

from __future__ import annotations

import torch
from torch import nn

from psdlab.tasks.losses import binary_probabilities, head_units


class BinaryHead(nn.Module):
    """Linear layer to K logits (2K for the cross-entropy form); ``infer`` gives P(signal)."""

    def __init__(self, in_features: int, n_targets: int, loss: str) -> None:
        super().__init__()
        self.loss = loss
        self.linear = nn.Linear(in_features, head_units(loss, n_targets))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h)

    def infer(self, h: torch.Tensor) -> torch.Tensor:
        return binary_probabilities(self.linear(h), self.loss)


class EnergyHead(nn.Module):
    """Linear layer to one scaled energy ``(E - offset) / scale``; ``infer`` gives keV (B, 1).

    Regressing O(1) numbers instead of O(1000) keV keeps the initial loss and gradients sane.
    """

    def __init__(self, in_features: int, target_scale: float, target_offset: float) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)
        self.target_scale = float(target_scale)
        self.target_offset = float(target_offset)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h).squeeze(-1)

    def to_kev(self, scaled: torch.Tensor) -> torch.Tensor:
        return scaled * self.target_scale + self.target_offset

    def to_scaled(self, kev: torch.Tensor) -> torch.Tensor:
        return (kev - self.target_offset) / self.target_scale

    def infer(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_kev(self.forward(h)).unsqueeze(-1)


class InferenceModel(nn.Module):
    """Backbone + heads as one module: waveform (B, C, L) -> (B, n_outputs).

    Columns follow ``output_names`` (``score_<label>`` probabilities, then ``energy_pred``
    in keV); this is what ONNX/TorchScript export.
    """

    def __init__(self, net: nn.Module, heads: list[nn.Module], output_names: list[str]) -> None:
        super().__init__()
        self.net = net
        self.heads = nn.ModuleList(heads)
        self.output_names = list(output_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        return torch.cat([head.infer(h) for head in self.heads], dim=1)
