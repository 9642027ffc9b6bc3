"""Loss functions of the tasks, selected by name from the task config.

The first three binary forms are the lecture's: ``bce`` (sigmoid output + BCELoss),
``bce_logits`` (BCEWithLogitsLoss on raw logits: the numerically stable default) and
``cross_entropy`` (a 2-unit head per label with softmax cross-entropy). ``focal`` is the
binary focal loss (Lin et al. 2017) on logits: the cross-entropy times ``(1 - p_t)**gamma``,
which shrinks the terms of events already classified with confidence, so training time goes
to the hard ones near the cut (low-energy events, whose shape is noisy). All forms return the
plain mean over events and labels, and weight positive (signal) events by ``pos_weight``
when given, so switching form does not change the effective class balance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from psdlab.utils.errors import ConfigError

BINARY_LOSSES = ("bce", "bce_logits", "cross_entropy", "focal")
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
    sample_weight: torch.Tensor | None = None,
    focal_gamma: float = 2.0,
) -> torch.Tensor:
    """Mean binary loss over a (B, K) label matrix; ``pos_weight`` (K,) weights y=1 terms.

    ``sample_weight`` (B,) makes it the weighted mean over events (a label source's weight:
    0 for events that are scored but carry no label); without it the plain mean, as before.
    ``focal_gamma`` is the focusing exponent of ``focal`` (0: bce_logits).
    """
    labels = labels.float()
    if sample_weight is None:
        return _binary_terms(logits, labels, loss, pos_weight, "mean", focal_gamma)
    per = _binary_terms(logits, labels, loss, pos_weight, "none", focal_gamma)
    w = sample_weight.to(per).reshape(-1, 1)
    return (per * w).sum() / (w.sum() * per.shape[1]).clamp_min(1e-12)


def _binary_terms(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: str,
    pos_weight: torch.Tensor | None,
    reduction: str,
    focal_gamma: float = 2.0,
) -> torch.Tensor:
    """The loss of each form, reduced by ``reduction`` ("mean", or "none": (B, K) terms)."""
    if loss == "bce_logits":
        return F.binary_cross_entropy_with_logits(
            logits, labels, pos_weight=pos_weight, reduction=reduction
        )
    weight = None
    if pos_weight is not None:
        weight = torch.where(labels > 0.5, pos_weight.to(labels), torch.ones_like(labels))
    if loss == "bce":
        # BCELoss on probabilities, as in the lecture; binary_cross_entropy clamps log at -100
        return F.binary_cross_entropy(
            torch.sigmoid(logits), labels, weight=weight, reduction=reduction
        )
    if loss == "cross_entropy":
        b, k = labels.shape
        per = F.cross_entropy(
            logits.reshape(b * k, 2), labels.reshape(-1).round().long(), reduction="none"
        ).reshape(b, k)
    elif loss == "focal":
        per = _focal_terms(logits, labels, focal_gamma)
    else:
        check_binary_loss(loss)
        raise AssertionError("unreachable")
    per = per * weight if weight is not None else per
    return per.mean() if reduction == "mean" else per


def _focal_terms(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    """(B, K) focal terms ``(1 - p_t)**gamma * BCE``, p_t the probability of the true class
    (soft labels interpolate it); the BCE is the stable logits form, so gamma=0 is
    bce_logits exactly."""
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if gamma == 0:
        return ce
    p = torch.sigmoid(logits)
    p_t = p * labels + (1.0 - p) * (1.0 - labels)
    return ce * (1.0 - p_t).clamp_min(0.0) ** gamma


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
