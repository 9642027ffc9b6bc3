"""Masked reconstruction of the preprocessed pulse: the self-supervised pre-training target.

A copy of each window with a fraction of it (patches or spans, see :mod:`psdlab.tasks.masking`)
replaced by ``mask_value`` goes through the backbone; a decoder maps the pooled features back
to the whole window and the loss is the mean squared error on the hidden samples only, so the
encoder must infer the hidden part of the pulse from the rest. The masked copy is this part's
own input (``recon_input``): next to a label part (an auxiliary reconstruction loss while
fine-tuning, ``+task/parts@task.parts.recon=reconstruction``) the label head still reads
the whole pulse, in training as in prediction.
No label and no energy is used: the part trains on any file of the schema (``MJD_NPML_*``,
real pulses). Its metric ``recon_mse_masked`` (val/test) is in the units of the preprocessed
window (min-max: the pulse height is 1), which makes simulated and real pulses comparable.

Decoder: an MLP from the pooled features ``(B, out_features)`` to the window ``(B, C, L)``.
Every backbone (MLP, CNN, ResNet1D, InceptionTime, GRU, Transformer) ends in pooled
features, so this is the one decoder that works with all of them unchanged; and the features
a classification head reads later are exactly the ones that had to describe the pulse. A
token-wise decoder (MAE style) would reconstruct better on the Transformer but would need
each backbone's unpooled sequence, a change to every model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn
from torchmetrics.aggregation import SumMetric

from psdlab.tasks.masking import check_mask_config, make_mask
from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric


class ReconstructionHead(nn.Module):
    """Linear-GELU-Linear from features to the flattened window, reshaped to (B, C, L)."""

    def __init__(self, in_features: int, shape: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.shape = (int(shape[0]), int(shape[-1]))
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.GELU(),
            nn.Linear(hidden, self.shape[0] * self.shape[1]),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h).view(-1, *self.shape)

    def infer(self, h: torch.Tensor) -> torch.Tensor:
        """The flattened reconstruction (B, C*L), the exported model's output."""
        return self.mlp(h)


class ReconstructionPart(TaskPart):
    """Masking, decoder, masked-MSE loss and metrics (batch key ``waveform`` only, no labels).

    Args:
        in_features: backbone feature size (filled in by the task).
        input_shape: (C, L) of the window (filled in by the task).
        mask: patches | spans.
        mask_ratio: fraction of each window hidden, in (0, 1).
        mask_size: samples per patch or span (25: one Transformer token at patch_size 25).
        mask_value: what the hidden samples are replaced by (0: the baseline after baseline
            subtraction).
        visible_weight: weight of the error on visible samples in the loss (0: masked only).
        decoder_hidden: hidden units of the decoder MLP.
        n_figure_examples: events drawn in the original-vs-reconstruction figure.
        weight: factor of this part's loss in the total loss.
    """

    needs_input_shape = True
    test_metric_names = ("recon_mse_masked",)
    input_key = "recon_input"
    self_supervised = True

    def __init__(
        self,
        in_features: int,
        input_shape: Sequence[int],
        mask: str = "patches",
        mask_ratio: float = 0.5,
        mask_size: int = 25,
        mask_value: float = 0.0,
        visible_weight: float = 0.0,
        decoder_hidden: int = 256,
        n_figure_examples: int = 8,
        weight: float = 1.0,
    ) -> None:
        super().__init__(weight)
        self.shape = (int(input_shape[0]), int(input_shape[-1]))
        check_mask_config(mask, mask_ratio, int(mask_size), self.shape[1])
        self.mask_mode, self.mask_ratio, self.mask_size = mask, float(mask_ratio), int(mask_size)
        self.mask_value, self.visible_weight = float(mask_value), float(visible_weight)
        self.n_examples = int(n_figure_examples)
        self.head = ReconstructionHead(in_features, self.shape, int(decoder_hidden))
        names = ("sq_masked", "n_masked", "sq_all", "n_all")
        self.sums = nn.ModuleDict(
            {s: nn.ModuleDict({k: SumMetric() for k in names}) for s in STAGES}
        )
        self._examples: dict[str, dict[str, torch.Tensor] | None] = dict.fromkeys(STAGES)
        self._figure_examples: dict[str, dict[str, torch.Tensor] | None] = dict.fromkeys(STAGES)

    # ------------------------------------------------------------------ masking
    def prepare_batch(
        self, batch: Mapping[str, torch.Tensor], training: bool
    ) -> dict[str, torch.Tensor]:
        """A copy of ``waveform`` with part of it hidden, as ``recon_input``; the original as
        ``recon_target``, and the mask.

        Training draws fresh masks; validation and test draw them from a generator seeded
        with the batch's first event id, so every epoch and every model is scored on the
        same hidden samples.
        """
        x = batch["waveform"]
        gen = None
        if not training:
            seed = int(batch["id"][0]) if "id" in batch else 0
            gen = torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
        mask = make_mask(
            self.mask_mode, x.shape[0], x.shape[-1], self.mask_size, self.mask_ratio, gen
        ).to(x.device, non_blocking=True)
        masked = x.masked_fill(mask.unsqueeze(1), self.mask_value)
        return {**batch, "recon_input": masked, "recon_target": x, "recon_mask": mask}

    # ------------------------------------------------------------------ loss and metrics
    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        return "recon_target" in batch

    def _sq_error(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, L) squared error, averaged over channels."""
        return (raw.float() - batch["recon_target"].float()).pow(2).mean(dim=1)

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        sq, m = self._sq_error(raw, batch), batch["recon_mask"]
        loss = sq[m].mean()
        if self.visible_weight:
            loss = loss + self.visible_weight * sq[~m].mean()
        return loss

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        sq, m = self._sq_error(raw.detach(), batch), batch["recon_mask"]
        sums = self.sums[stage]
        sums["sq_masked"].update(sq[m].sum())
        sums["n_masked"].update(m.sum().float())
        sums["sq_all"].update(sq.sum())
        sums["n_all"].update(float(sq.numel()))
        if self._examples[stage] is None and self.n_examples > 0:
            n = self.n_examples
            self._examples[stage] = {
                "original": batch["recon_target"][:n].detach().float().cpu(),
                "reconstruction": raw[:n].detach().float().cpu(),
                "mask": m[:n].cpu(),
            }

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        sums = self.sums[stage]
        if not sums["n_masked"].update_called:
            return {}
        values = {k: metric.compute() for k, metric in sums.items()}
        for metric in sums.values():
            reset_metric(metric)
        self._figure_examples[stage], self._examples[stage] = self._examples[stage], None
        return {
            "recon_mse_masked": values["sq_masked"] / values["n_masked"].clamp(min=1),
            "recon_mse_all": values["sq_all"] / values["n_all"].clamp(min=1),
        }

    def figures(self, stage: str) -> dict[str, Figure]:
        """Original vs reconstructed pulses of the last computed epoch of ``stage``."""
        ex = self._figure_examples[stage]
        if not ex:
            return {}
        from psdlab.plots.reconstruction import reconstruction_figure

        self._figure_examples[stage] = None
        return {
            "reconstruction": reconstruction_figure(
                ex["original"].numpy(), ex["reconstruction"].numpy(), ex["mask"].numpy()
            )
        }

    # ------------------------------------------------------------------ outputs
    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per-event masked MSE (``recon_mse_masked``), e.g. for sim-vs-real histograms."""
        sq, m = self._sq_error(raw.detach(), batch), batch["recon_mask"].float()
        return {"recon_mse_masked": (sq * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)}

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Nothing per event: prediction runs unmasked, where a reconstruction error has no
        meaning (evaluate with ``test`` instead)."""
        return {}

    def output_names(self) -> list[str]:
        c, n = self.shape
        return [f"recon_{i}_{j}" for i in range(c) for j in range(n)]

    def figure_kwargs(self) -> dict[str, Any]:
        return {}
