"""Declaring a run's hyperparameters and metrics to TensorBoard's HPARAMS plugin.

Lightning's ``TensorBoardLogger.log_hyperparams(params, metrics)`` writes every metric as a
scalar with value 0 at step 0, which draws a diagonal from 0 to the final value that looks
like a training curve. Writing the plugin's experiment and session records directly declares
the metrics without any value; the task then logs them (``hp/*``) when they exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams as hparams_summary


def declare_hparams(
    logger: TensorBoardLogger, hparams: Mapping[str, Any], metric_keys: Iterable[str]
) -> None:
    """Write the HPARAMS records (hyperparameters, metric names) without metric values."""
    experiment, session_start, session_end = hparams_summary(
        dict(hparams), dict.fromkeys(metric_keys, 0.0)
    )
    writer = logger.experiment._get_file_writer()
    for record in (experiment, session_start, session_end):
        writer.add_summary(record)


def task_hparams(hp: Mapping[str, Any]) -> dict[str, Any]:
    """A flat summary of a task's own hyperparameters, for a Task used outside the run layer
    (the run layer passes the experiment's, see :mod:`psdlab.run.hparams`)."""
    net, opt = hp.get("net") or {}, hp.get("optimizer") or {}
    out: dict[str, Any] = {"model": str(net.get("_target_", "")).rsplit(".", 1)[-1]}
    for key in ("depth", "width", "dropout"):
        if key in net:
            out[f"model/{key}"] = net[key]
    for key in ("lr", "weight_decay"):
        if key in opt:
            out[f"optimizer/{key}"] = opt[key]
    out["task/outputs"] = "+".join(hp.get("parts") or {})
    return {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in out.items()}
