"""Declaring a run's hyperparameters to TensorBoard's HPARAMS plugin.

Two defaults of the usual route hide what a sweep varied. Lightning's
``TensorBoardLogger.log_hyperparams(params, metrics)`` writes every metric as a scalar with
value 0 at step 0, which draws a diagonal from 0 to the final value that looks like a training
curve; and it writes an *experiment* record per run, whose hyperparameters all say "does not
differ", so TensorBoard ticks the first five keys alphabetically (constant ones) and leaves
the swept ones unticked. psdlab writes only the session records: TensorBoard then builds the
experiment from all runs itself, marks the keys whose values differ between runs and shows
those by default, and takes the metrics from the scalars the runs logged (``hp/*``, ``val/*``,
``test/*``), which have real values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams as hparams_summary


def declare_hparams(logger: TensorBoardLogger, hparams: Mapping[str, Any]) -> None:
    """Write the run's HPARAMS session records (its hyperparameters): no metric value and no
    experiment record; the metrics are the scalars the run logs (``hp/*``, ``val/*``)."""
    _, session_start, session_end = hparams_summary(dict(hparams), {})
    # ranks other than 0 get Lightning's dummy experiment, which writes nothing
    writer = getattr(logger.experiment, "_get_file_writer", lambda: None)()
    if writer is None:
        return
    for record in (session_start, session_end):
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
