"""Fine-tuning from a pre-trained checkpoint: load the backbone, freeze it for a while.

``python train.py task=avse pretrained=PATH`` builds the task as usual, then copies the
backbone weights (``net.*``) of the checkpoint at PATH into it by value; the heads start
fresh, except a self-supervised part's (``self_supervised``: the reconstruction
decoder, kept as an auxiliary loss) when the checkpoint holds one of the same name and shape:
a fresh decoder's large first gradients would tear up the features it was pre-trained with.
Options (``finetune:`` in conf/train.yaml, stored in the task's ``finetune``
hyperparameter so a checkpoint says how it was trained):

- ``freeze_epochs``: the backbone is frozen for the first N epochs (only the heads learn,
  so a random head cannot wreck the pre-trained features), with Lightning's
  ``BaseFinetuning`` doing the freezing and unfreezing;
- ``encoder_lr_factor``: the backbone's learning rate is the optimiser's times this factor
  (its own parameter group, built in :mod:`psdlab.tasks.optim` before the scheduler, so
  every scheduler sees both groups from the start);
- ``train_bn``: keep BatchNorm layers trainable while frozen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import Optimizer

from psdlab.utils.config import to_plain
from psdlab.utils.errors import ConfigError, MissingFileError

log = logging.getLogger(__name__)

FINETUNE_DEFAULTS: dict[str, Any] = {"freeze_epochs": 0, "encoder_lr_factor": 1.0, "train_bn": True}


def finetune_options(cfg: Mapping[str, Any] | None, pretrained: str | None = None) -> dict:
    """The ``finetune`` hyperparameter: defaults, the config's values, and the source path
    (kept for the record only; weights are loaded by :func:`load_backbone_weights`)."""
    values = {**FINETUNE_DEFAULTS, **(to_plain(cfg) or {})}
    unknown = sorted(set(values) - set(FINETUNE_DEFAULTS) - {"pretrained"})
    if unknown:
        raise ConfigError(f"finetune: unknown keys {unknown}; known: {sorted(FINETUNE_DEFAULTS)}")
    if float(values["encoder_lr_factor"]) <= 0 or int(values["freeze_epochs"]) < 0:
        raise ConfigError(f"finetune: need encoder_lr_factor > 0, freeze_epochs >= 0: {values}")
    if pretrained is not None:
        values["pretrained"] = str(pretrained)
    return values


def _same_backbone(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    """Backbone settings that differ between two ``net`` configs (dropout may differ)."""
    keys = (set(source) | set(target)) - {"dropout"}
    return sorted(k for k in keys if source.get(k) != target.get(k))


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def preprocess_differences(
    source: Mapping[str, Any] | None, target: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """Preprocessing settings (dotted keys) that differ: key -> (pre-trained, this run).

    An empty dict when either side is unknown (a checkpoint without a data module state)."""
    if not source or not target:
        return {}
    a, b = _flatten(source), _flatten(target)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def load_backbone_weights(
    task: torch.nn.Module,
    path: str | os.PathLike,
    preprocess: Mapping[str, Any] | None = None,
) -> list[str]:
    """Copy the ``net.*`` tensors of the checkpoint at ``path`` into ``task.net``.

    The backbones must match (same class and shape-setting keys; a different dropout is
    allowed); anything else is a ConfigError naming the differing keys. Returns the loaded
    parameter names, then those of the self-supervised heads loaded too (see
    :func:`_load_self_supervised_heads`); the other heads of ``task`` are left as they are.

    ``preprocess`` is this run's preprocessing (``WaveformDataModule.preprocess_record``). An
    encoder learnt its input: the same window length with another window position, pole-zero
    correction or normalisation loads without a shape error and silently fine-tunes worse, so
    differences from the checkpoint's recorded preprocessing are logged as a warning.
    """
    if not Path(path).is_file():
        raise MissingFileError(f"pretrained: checkpoint file {path} does not exist")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    source_net = dict(checkpoint.get("hyper_parameters", {}).get("net") or {})
    target_net = dict(getattr(task, "hparams", {}).get("net") or {})
    differ = _same_backbone(source_net, target_net) if source_net and target_net else []
    if differ:
        detail = {k: (source_net.get(k), target_net.get(k)) for k in differ}
        raise ConfigError(
            f"pretrained: backbone of {path} differs from this run's model (pre-trained, "
            f"this run): {detail}; fine-tune with the model settings of the pre-training"
        )
    state = {k[4:]: v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    if not state:
        raise ConfigError(f"pretrained: {path} holds no backbone weights (net.*)")
    try:
        task.net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ConfigError(f"pretrained: backbone weights of {path} do not fit: {err}") from err
    stored = (checkpoint.get("WaveformDataModule") or {}).get("preprocess")
    changed = preprocess_differences(stored, preprocess)
    if changed:
        log.warning(
            "pretrained: %s was pre-trained with other preprocessing (pre-trained, this run): "
            "%s; the encoder sees another input than it learnt",
            path,
            changed,
        )
    heads = _load_self_supervised_heads(task, checkpoint["state_dict"], path)
    log.info("Loaded %d backbone tensors from %s", len(state), path)
    return sorted(state) + heads


def _load_self_supervised_heads(
    task: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike
) -> list[str]:
    """Copy the heads of ``self_supervised`` parts (no labels in them,
    so the pre-training's head is a better start than a random one) from a checkpoint part
    of the same name; a part the checkpoint lacks, or whose shapes differ, starts fresh.
    Returns the loaded names (``parts.<name>.head.*``)."""
    loaded: list[str] = []
    for name, part in getattr(task, "parts", {}).items():
        if not part.self_supervised:
            continue
        prefix = f"parts.{name}.head."
        head = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        own = part.head.state_dict()
        if set(head) != set(own) or any(head[k].shape != own[k].shape for k in own):
            log.info(
                "pretrained: %s has no matching head for part '%s'; it starts fresh", path, name
            )
            continue
        part.head.load_state_dict(head)
        loaded += [prefix + k for k in sorted(head)]
    return loaded


class EncoderFreeze(BaseFinetuning):
    """Freeze ``pl_module.net`` before training and unfreeze it at epoch ``epochs``.

    The backbone's parameters stay in the optimiser all along (their own group, see
    :func:`psdlab.tasks.optim.encoder_param_groups`): frozen parameters get no gradient and
    optimisers skip them, so unfreezing needs no new parameter group and no scheduler
    surgery.
    """

    def __init__(self, epochs: int, train_bn: bool = True) -> None:
        super().__init__()
        self.epochs, self.train_bn = int(epochs), bool(train_bn)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.epochs > 0:
            self.freeze(pl_module.net, train_bn=self.train_bn)

    def finetune_function(
        self, pl_module: L.LightningModule, current_epoch: int, optimizer: Optimizer
    ) -> None:
        if self.epochs > 0 and current_epoch == self.epochs:
            self.make_trainable(pl_module.net)
            log.info("Epoch %d: backbone unfrozen", current_epoch)
