"""Optimiser and learning-rate schedule of a task, from its plain config dicts.

Scheduler arguments that depend on the run (``T_max``, ``total_steps``, ``max_lr``, ``mode``)
may be left null in config and are filled from the trainer, the optimiser and the task's
monitored metric here, so one scheduler config works for every budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra.utils
import lightning as L
import torch

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}


def build_optimizer(cfg: Mapping[str, Any] | None, params: Any) -> torch.optim.Optimizer:
    """The optimiser of a ``_target_`` dict (``_partial_: true`` accepted); None: Adam(1e-3)."""
    opt = hydra.utils.instantiate(dict(cfg or DEFAULT_OPTIMIZER), params=params, _convert_="all")
    if callable(opt) and not isinstance(opt, torch.optim.Optimizer):  # _partial_: true
        opt = opt(params)
    return opt


def _fill_scheduler_args(
    cfg: dict[str, Any], opt: torch.optim.Optimizer, trainer: L.Trainer, monitor_mode: str
) -> str | None:
    """Fill null run-dependent arguments in place; returns the forced interval, if any."""
    target = str(cfg["_target_"])
    interval = cfg.pop("interval", None)
    if target.endswith("OneCycleLR"):
        if cfg.get("max_lr") is None:  # per group: a fine-tuned backbone has its own lr
            lrs = [g["lr"] for g in opt.param_groups]
            cfg["max_lr"] = lrs[0] if len(lrs) == 1 else lrs
        if cfg.get("total_steps") is None:
            cfg["total_steps"] = int(trainer.estimated_stepping_batches)
        return "step"
    if target.endswith("CosineAnnealingLR"):
        interval = interval or "step"
        if cfg.get("T_max") is None:
            steps = interval == "step"
            cfg["T_max"] = int(trainer.estimated_stepping_batches if steps else trainer.max_epochs)
        return interval
    if target.endswith("ReduceLROnPlateau"):
        if cfg.get("mode") is None:
            cfg["mode"] = monitor_mode
        return "epoch"
    return interval


def encoder_param_groups(module: torch.nn.Module) -> list[dict[str, Any]]:
    """Two parameter groups: the backbone ``module.net`` first, everything else second."""
    net_ids = {id(p) for p in module.net.parameters()}
    rest = [p for p in module.parameters() if id(p) not in net_ids]
    return [{"params": list(module.net.parameters())}, {"params": rest}]


def configure_optimization(
    module: L.LightningModule,
    optimizer: Mapping[str, Any] | None,
    scheduler: Mapping[str, Any] | None,
    monitor: str,
    monitor_mode: str,
    encoder_lr_factor: float = 1.0,
) -> Any:
    """What ``LightningModule.configure_optimizers`` returns for these configs.

    ``scheduler`` takes the extra keys ``interval`` (step|epoch), ``frequency`` and ``monitor``
    (default: the task's monitored metric, for ReduceLROnPlateau). ``encoder_lr_factor`` != 1
    (fine-tuning) gives the backbone its own group with the learning rate times the factor.
    """
    if encoder_lr_factor == 1.0:
        opt = build_optimizer(optimizer, module.parameters())
    else:
        opt = build_optimizer(optimizer, encoder_param_groups(module))
        opt.param_groups[0]["lr"] *= float(encoder_lr_factor)
    sched_cfg = dict(scheduler or {})
    if not sched_cfg.get("_target_"):
        return opt
    frequency = sched_cfg.pop("frequency", 1)
    monitor = sched_cfg.pop("monitor", None) or monitor
    sched_cfg.pop("_partial_", None)
    interval = _fill_scheduler_args(sched_cfg, opt, module.trainer, monitor_mode)
    sched = hydra.utils.instantiate(sched_cfg, optimizer=opt, _convert_="all")
    config = {"scheduler": sched, "interval": interval or "epoch", "frequency": frequency}
    if str(sched_cfg["_target_"]).endswith("ReduceLROnPlateau"):
        config["monitor"] = monitor
    return {"optimizer": opt, "lr_scheduler": config}
