"""Loading checkpoints, including those written before the one-task restructuring.

Until psdlab 0.1 a run saved one of three modules (``PSDClassifier``, ``EnergyRegressor``,
``MultiTaskModule``) whose hyperparameters held the part settings flat (``targets``,
``loss``, ``target_scale``, ...). Their state_dict keys (``net.*``, ``parts.psd.*``,
``parts.energy.*``) are those of :class:`Task`, so only the hyperparameters need mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from psdlab.tasks.module import Task

TASK_KEYS = (
    "net",
    "optimizer",
    "scheduler",
    "input_shape",
    "compile",
    "monitor",
    "monitor_mode",
    "log_figures_every_n_epochs",
    "max_plot_points",
    "n_example_waveforms",
)
CLASSIFICATION = "psdlab.tasks.parts.ClassificationPart"
ENERGY = "psdlab.tasks.parts.EnergyPart"


def _classification_spec(hp: Mapping[str, Any], weight: float) -> dict[str, Any]:
    keys = ("targets", "loss", "pos_weight", "threshold", "sig_eff")
    return {"_target_": CLASSIFICATION, **{k: hp[k] for k in keys if k in hp}, "weight": weight}


def _energy_spec(hp: Mapping[str, Any], loss_key: str, weight: float) -> dict[str, Any]:
    keys = ("target_scale", "target_offset", "smooth_l1_beta", "energy_bins", "peak_window")
    spec = {"_target_": ENERGY, **{k: hp[k] for k in keys if k in hp}, "weight": weight}
    spec["loss"] = hp.get(loss_key, "mse")
    return spec


def upgrade_hparams(hp: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters of a legacy classifier/regressor/multitask checkpoint as Task's.

    Current hyperparameters (with ``parts``) are returned unchanged.
    """
    if "parts" in hp:
        return dict(hp)
    task = {k: hp[k] for k in TASK_KEYS if k in hp}
    if "energy_loss" in hp:  # MultiTaskModule
        task["parts"] = {
            "psd": _classification_spec(hp, float(hp.get("psd_weight", 1.0))),
            "energy": _energy_spec(hp, "energy_loss", float(hp.get("energy_weight", 1.0))),
        }
    elif "target_scale" in hp:  # EnergyRegressor
        task["parts"] = {"energy": _energy_spec(hp, "loss", 1.0)}
    else:  # PSDClassifier
        task["parts"] = {"psd": _classification_spec(hp, 1.0)}
    return task


def load_task(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Task:
    """The :class:`Task` stored in a checkpoint (current or legacy), weights loaded.

    Loads with ``weights_only=True``: a checkpoint written by psdlab holds only primitives.
    """
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    task = Task(**upgrade_hparams(checkpoint["hyper_parameters"]))
    task.load_state_dict(checkpoint["state_dict"])
    return task
