"""Classification metrics with a physics meaning, as epoch-level torchmetrics.

A PSD cut is judged by how much background it removes while keeping a fixed fraction of
signal (MJD's A/E keeps ~90% of single-site events), so besides AUROC the headline number
is the background rejection at 90% signal efficiency.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)
from torchmetrics.utilities.data import dim_zero_cat


def background_rejection_at_signal_efficiency(
    scores: torch.Tensor, labels: torch.Tensor, sig_eff: float = 0.9
) -> torch.Tensor:
    """1 - FPR of the tightest cut ``score >= t`` that keeps at least ``sig_eff`` of signal.

    Signal is ``labels == 1``. Over the exact ROC (every distinct score a threshold), this is
    ``1 - min(FPR | TPR >= sig_eff)``, i.e. the same point as sklearn's ``roc_curve`` at the
    first TPR >= sig_eff. NaN when either class is missing.
    """
    scores = scores.detach().flatten().double()
    labels = labels.detach().flatten().bool()
    n_sig = int(labels.sum())
    n_bkg = labels.numel() - n_sig
    if n_sig == 0 or n_bkg == 0:
        return torch.tensor(float("nan"))
    order = torch.argsort(scores, descending=True, stable=True)
    s, y = scores[order], labels[order]
    tp = torch.cumsum(y, 0).double()
    fp = torch.cumsum(~y, 0).double()
    # only the last index of each run of tied scores is a reachable threshold
    last_of_tie = torch.ones_like(y)
    last_of_tie[:-1] = s[1:] != s[:-1]
    tpr = tp[last_of_tie] / n_sig
    fpr = fp[last_of_tie] / n_bkg
    ok = tpr >= sig_eff - 1e-12
    return (1.0 - fpr[ok].min()).float()


class BackgroundRejectionAtSignalEfficiency(Metric):
    """Epoch-level :func:`background_rejection_at_signal_efficiency` (exact, stores scores)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, sig_eff: float = 0.9, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sig_eff = sig_eff
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.scores.append(preds.detach().flatten().float())
        self.labels.append(target.detach().flatten().bool())

    def compute(self) -> torch.Tensor:
        if len(self.scores) == 0:  # a list, or one tensor after a DDP sync ("cat")
            return torch.tensor(float("nan"))
        return background_rejection_at_signal_efficiency(
            dim_zero_cat(self.scores), dim_zero_cat(self.labels), self.sig_eff
        )


def binary_metrics(threshold: float = 0.5, sig_eff: float = 0.9) -> MetricCollection:
    """The metric set logged per label: keys become ``<stage>/<key>[_<label>]``.

    ``sig_eff``/``bkg_rej`` are the signal efficiency (TPR) and background rejection (TNR)
    of the cut ``score > threshold`` (torchmetrics' convention: a score equal to the
    threshold counts as background); ``bkg_rej_at_90`` is threshold-free.
    """
    tag = f"bkg_rej_at_{round(100 * sig_eff)}"
    return MetricCollection(
        {
            "acc": BinaryAccuracy(threshold=threshold),
            "auroc": BinaryAUROC(),
            "precision": BinaryPrecision(threshold=threshold),
            "recall": BinaryRecall(threshold=threshold),
            "f1": BinaryF1Score(threshold=threshold),
            "sig_eff": BinaryRecall(threshold=threshold),
            "bkg_rej": BinarySpecificity(threshold=threshold),
            tag: BackgroundRejectionAtSignalEfficiency(sig_eff),
        },
        compute_groups=False,
    )
