"""Loss functions of the tasks, selected by name from the task config.

The three binary forms are the lecture's: ``bce`` (sigmoid output + BCELoss), ``bce_logits``
(BCEWithLogitsLoss on raw logits: the numerically stable default) and ``cross_entropy``
(a 2-unit head per label with softmax cross-entropy). All three return the plain mean over
events and labels, and weight positive (signal) events by ``pos_weight`` when given, so
switching form does not change the effective class balance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from psdlab.utils.errors import ConfigError

BINARY_LOSSES = ("bce", "bce_logits", "cross_entropy")
REGRESSION_LOSSES = ("mse", "l1", "smooth_l1", "huber")


def head_units(loss: str, n_targets: int) -> int:
    """Output units of the classification head: 2 per label for ``cross_entropy``."""
    check_binary_loss(loss)
    return 2 * n_targets if loss == "cross_entropy" else n_targets


def check_binary_loss(loss: str) -> None:
    if loss not in BINARY_LOSSES:
        raise ConfigError(f"unknown binary loss '{loss}'; choose one of {BINARY_LOSSES}")


def binary_probabilities(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Signal probability (B, K) from the head output (B, K) or (B, 2K) for cross_entropy."""
    if loss == "cross_entropy":
        return torch.softmax(logits.reshape(logits.shape[0], -1, 2), dim=-1)[..., 1]
    return torch.sigmoid(logits)


def binary_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: str,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean binary loss over a (B, K) label matrix; ``pos_weight`` (K,) weights y=1 terms."""
    labels = labels.float()
    if loss == "bce_logits":
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
    weight = None
    if pos_weight is not None:
        weight = torch.where(labels > 0.5, pos_weight.to(labels), torch.ones_like(labels))
    if loss == "bce":
        # BCELoss on probabilities, as in the lecture; binary_cross_entropy clamps log at -100
        return F.binary_cross_entropy(torch.sigmoid(logits), labels, weight=weight)
    if loss == "cross_entropy":
        b, k = labels.shape
        per = F.cross_entropy(
            logits.reshape(b * k, 2), labels.reshape(-1).round().long(), reduction="none"
        ).reshape(b, k)
        return (per * weight).mean() if weight is not None else per.mean()
    check_binary_loss(loss)
    raise AssertionError("unreachable")


def regression_loss(
    pred: torch.Tensor, target: torch.Tensor, loss: str, beta: float = 1.0
) -> torch.Tensor:
    """Mean regression loss on scaled targets (``beta``: the smooth_l1/huber transition)."""
    if loss == "mse":
        return F.mse_loss(pred, target)
    if loss == "l1":
        return F.l1_loss(pred, target)
    if loss == "smooth_l1":
        return F.smooth_l1_loss(pred, target, beta=beta)
    if loss == "huber":
        return F.huber_loss(pred, target, delta=beta)
    raise ConfigError(f"unknown regression loss '{loss}'; choose one of {REGRESSION_LOSSES}")
