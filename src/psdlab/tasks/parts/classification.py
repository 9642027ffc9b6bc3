"""PSD classification: one or several binary pass/fail labels (True = signal-like).

``targets: [low_avse]`` gives a single-label classifier (the avse/high_avse/dcr/lq tasks);
``targets: [low_avse, high_avse, dcr, lq]`` is the multi-label psd_all task, which also
scores the combined cut "passes all four" (AND of labels vs product and min of scores),
the quantity a 0vbb analysis actually applies.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC

from psdlab.metrics.classification import BackgroundRejectionAtSignalEfficiency, binary_metrics
from psdlab.tasks.heads import BinaryHead
from psdlab.tasks.losses import binary_loss, binary_probabilities, check_binary_loss
from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric
from psdlab.utils.errors import ConfigError

MEAN_OVER_LABELS = ("auroc", "acc", "bkg_rej_at_90")


def parse_pos_weight(pos_weight: Any, n_targets: int) -> list[float] | str | None:
    """None, "auto" (resolved at fit time from the data module), or a list of K floats."""
    if pos_weight is None or pos_weight == "auto":
        return pos_weight
    if isinstance(pos_weight, int | float):
        return [float(pos_weight)] * n_targets
    values = [float(v) for v in pos_weight]
    if len(values) != n_targets:
        raise ConfigError(f"pos_weight has {len(values)} values for {n_targets} targets")
    return values


def _all_cuts_metrics(rej_key: str, sig_eff: float) -> MetricCollection:
    return MetricCollection(
        {
            "auroc_all_cuts": BinaryAUROC(),
            "auroc_all_cuts_min": BinaryAUROC(),
            f"{rej_key}_all_cuts": BackgroundRejectionAtSignalEfficiency(sig_eff),
        },
        compute_groups=False,
    )


class ClassificationPart(TaskPart):
    """Head, loss and metrics of K binary labels (batch key ``labels``, (B, K)).

    Args:
        in_features: backbone feature size (filled in by the task).
        targets: logical label names, the column order of ``batch["labels"]``.
        loss: bce | bce_logits | cross_entropy | focal (see psdlab.tasks.losses).
        pos_weight: None | "auto" | float | list of K floats: weight of signal (y=1) terms;
            "auto" sets (1-p)/p from the training split's positive fraction p at fit time.
        threshold: score cut for accuracy, precision, recall, F1, sig_eff, bkg_rej.
        sig_eff: signal efficiency of the ``bkg_rej_at_<100*sig_eff>`` metric.
        weight: factor of this part's loss in the total loss.
        focal_gamma: focusing exponent of ``loss: focal`` (>= 0; 0 is bce_logits).
    """

    def __init__(
        self,
        in_features: int,
        targets: Sequence[str] = ("low_avse",),
        loss: str = "bce_logits",
        pos_weight: Any = None,
        threshold: float = 0.5,
        sig_eff: float = 0.9,
        weight: float = 1.0,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__(weight)
        check_binary_loss(loss)
        if not focal_gamma >= 0:
            raise ConfigError(f"focal_gamma must be >= 0, got {focal_gamma}")
        self.focal_gamma = float(focal_gamma)
        if not targets:
            raise ConfigError("a classification part needs at least one target label")
        self.targets = list(targets)
        pos_weight = parse_pos_weight(pos_weight, len(self.targets))
        self.loss_name, self.threshold, self.sig_eff = loss, float(threshold), float(sig_eff)
        self.head = BinaryHead(in_features, len(self.targets), loss)
        self.auto_pos_weight = pos_weight == "auto"
        self.weighted = pos_weight is not None
        values = pos_weight if isinstance(pos_weight, list) else [1.0] * len(self.targets)
        # a buffer, so a weight resolved at fit time ("auto") is restored with the checkpoint
        self.register_buffer("pos_weight", torch.tensor(values, dtype=torch.float32))
        self.rej_key = f"bkg_rej_at_{round(100 * sig_eff)}"
        self.metrics = nn.ModuleDict(
            {
                s: nn.ModuleList([binary_metrics(threshold, sig_eff) for _ in self.targets])
                for s in STAGES
            }
        )
        self.multi = len(self.targets) > 1
        if self.multi:
            self.all_cuts = nn.ModuleDict(
                {s: _all_cuts_metrics(self.rej_key, sig_eff) for s in STAGES}
            )
        self.test_metric_names = ("auroc", self.rej_key) + (
            ("auroc_all_cuts",) if self.multi else ()
        )

    def set_pos_weight(self, values: Sequence[float]) -> None:
        self.pos_weight.copy_(torch.as_tensor(list(values), dtype=torch.float32))
        self.weighted = True
        self.auto_pos_weight = False

    def setup_fit(self, datamodule: Any) -> None:
        """Resolve ``pos_weight: auto`` from ``datamodule.positive_fraction(target)``."""
        if not self.auto_pos_weight:
            return
        if datamodule is None or not hasattr(datamodule, "positive_fraction"):
            raise ConfigError(
                "pos_weight: auto needs a datamodule with positive_fraction(target); "
                "pass a number (or list) instead"
            )
        weights = []
        for t in self.targets:
            p = float(datamodule.positive_fraction(t))
            weights.append((1.0 - p) / p if 0.0 < p < 1.0 else 1.0)
        self.set_pos_weight(weights)

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        return "labels" in batch

    def _labels(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        y = batch["labels"]
        if y.ndim == 1:
            y = y.unsqueeze(1)
        if y.shape[1] != len(self.targets):
            raise ConfigError(
                f"batch labels have {y.shape[1]} columns, task targets are {self.targets}"
            )
        return y

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        pw = self.pos_weight if self.weighted else None
        y, w = self._labels(batch), batch.get("weight")
        return binary_loss(raw, y, self.loss_name, pw, w, focal_gamma=self.focal_gamma)

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        """Metrics over the labelled events (``batch["weight"] > 0`` when a label source
        leaves some unlabelled, e.g. the events outside every line window of labels=lines)."""
        probs = binary_probabilities(raw.detach(), self.loss_name).float()
        y = self._labels(batch).round().long()
        if "weight" in batch:
            keep = batch["weight"] > 0
            if not bool(keep.any()):
                return
            probs, y = probs[keep], y[keep]
        for k, collection in enumerate(self.metrics[stage]):
            collection.update(probs[:, k], y[:, k])
        if self.multi:
            y_all = y.all(dim=1).long()
            c = self.all_cuts[stage]
            c["auroc_all_cuts"].update(probs.prod(dim=1), y_all)
            c["auroc_all_cuts_min"].update(probs.amin(dim=1), y_all)
            c[f"{self.rej_key}_all_cuts"].update(probs.prod(dim=1), y_all)

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        per_label = []
        for name, collection in zip(self.targets, self.metrics[stage]):
            if not collection["auroc"].update_called:
                return {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # one-class epochs: NaN/0 with a warning
                values = collection.compute()
            reset_metric(collection)
            per_label.append(values)
            out.update(values if not self.multi else {f"{k}_{name}": v for k, v in values.items()})
        if self.multi:
            for key in MEAN_OVER_LABELS:
                key_ = self.rej_key if key == "bkg_rej_at_90" else key
                out[key_] = torch.stack([v[key_].float() for v in per_label]).mean()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.update(self.all_cuts[stage].compute())
            reset_metric(self.all_cuts[stage])
        return out

    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        probs = binary_probabilities(raw.detach(), self.loss_name).float()
        cols = {f"score_{t}": probs[:, k] for k, t in enumerate(self.targets)}
        if "labels" in batch:
            y = self._labels(batch) > 0.5
            cols.update({f"label_{t}": y[:, k] for k, t in enumerate(self.targets)})
            if self.multi:
                cols["label_all_cuts"] = y.all(dim=1)
        if "weight" in batch:  # 0: scored but not labelled by the label source
            cols["label_weight"] = batch["weight"]
        if self.multi:
            cols["score_all_cuts"] = probs.prod(dim=1)
        return cols

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": binary_probabilities(raw, self.loss_name)}

    def output_names(self) -> list[str]:
        return [f"score_{t}" for t in self.targets]

    def figure_kwargs(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "sig_eff": self.sig_eff}
