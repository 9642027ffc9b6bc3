"""The interface every output of a :class:`psdlab.tasks.Task` implements.

A part owns one output of the network end to end: its head (features -> raw output), its loss,
its epoch-level metrics, its columns of the prediction table and its figure settings. The task
only runs the loops, so a new kind of output (another label, a pre-training target) is one new
part file and one config entry, with no change to the task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchmetrics.aggregation import MeanMetric

STAGES = ("val", "test")


def reset_metric(metric: nn.Module) -> None:
    """Reset a torchmetrics Metric/MetricCollection outside inference mode.

    ``trainer.validate``/``test`` run under ``torch.inference_mode``; a reset there would
    recreate the states as inference tensors, which the validation loop inside ``fit``
    (plain ``no_grad``) then cannot update in place.
    """
    with torch.inference_mode(False):
        metric.reset()


class TaskPart(nn.Module):
    """One output of a task: head, loss, metrics and prediction columns.

    Args:
        weight: factor of this part's loss in the task's total loss (a plain key, so a sweep
            can trade parts off against each other).
    """

    head: nn.Module
    test_metric_names: tuple[str, ...] = ()
    # the batch key of the input whose backbone features this part's head reads: the pulse
    # itself, or a part's own altered copy of it (masked, for reconstruction), so that what
    # one part does to its input never reaches another part's head
    input_key: str = "waveform"
    # a self-supervised part (reconstruction) reads no labels. Fine-tuning from a checkpoint
    # with the same part copies its head as well (label heads start fresh); beside a label
    # or energy part it is a training aid, left out of the exported model and prediction
    self_supervised: bool = False

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)
        # epoch mean of this part's training loss (logged when a task has several parts)
        self.train_loss = MeanMetric(nan_strategy="disable")

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        """Whether the batch carries what this part's loss needs."""
        raise NotImplementedError

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        """Accumulate the epoch metrics of ``stage`` (val or test)."""
        raise NotImplementedError

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        """Epoch metrics (un-prefixed names) of a stage, then reset; {} if nothing was seen."""
        raise NotImplementedError

    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per-event prediction-table columns (see psdlab.plots.summary)."""
        raise NotImplementedError

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Physical outputs (probabilities, keV) of ``trainer.predict``."""
        raise NotImplementedError

    def output_names(self) -> list[str]:
        """Column names of this part in the exported inference model's output."""
        raise NotImplementedError

    def figure_kwargs(self) -> dict[str, Any]:
        """Keyword arguments this part contributes to psdlab.plots.make_figures."""
        return {}

    def setup_fit(self, datamodule: Any) -> None:
        """Called once before fitting with the trainer's data module (may be None)."""

    def prepare_batch(
        self, batch: Mapping[str, torch.Tensor], training: bool
    ) -> Mapping[str, torch.Tensor]:
        """The batch the network sees in training/validation/test (not in predict).

        Identity by default; a self-supervised part adds its altered input (masked) under its
        own :attr:`input_key`, and what its loss needs under its own keys; ``waveform`` stays
        the pulse the other parts read.
        """
        return batch

    def figures(self, stage: str) -> dict[str, Any]:
        """This part's own TensorBoard figures (name -> matplotlib Figure) of ``stage``."""
        return {}
