"""The hyperparameters a run shows in TensorBoard's HPARAMS tab.

TensorBoard ticks the first few keys in alphabetical order and draws every key as an axis of
its parallel-coordinates view, so the list is short and chosen: the axes a physicist sweeps
(backbone, depth, width, dropout, learning rate, weight decay, batch size, preprocessing,
labels, label source, schedule), the same set for every run so runs stay comparable, plus any
other key given on the command line (the axes of a grid or Optuna sweep). Values are scalars
or strings; lists and nulls become strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from psdlab.utils.config import to_plain

# TensorBoard name -> config key (None: the config group's chosen option)
CURATED: dict[str, str | None] = {
    "model": None,
    "model/depth": "model.depth",
    "model/width": "model.width",
    "model/dropout": "model.dropout",
    "task": None,
    "labels": None,
    "optimizer": None,
    "optimizer/lr": "optimizer.lr",
    "optimizer/weight_decay": "optimizer.weight_decay",
    "scheduler": None,
    "preprocess": None,
    "preprocess/window/mode": "preprocess.window.mode",
    "preprocess/window/length": "preprocess.window.length",
    "preprocess/normalize": "preprocess.normalize",
    "preprocess/current": "preprocess.current",
    "preprocess/downsample": "preprocess.downsample",
    "preprocess/standardize": "preprocess.standardize",
    "data": None,
    "data/batch_size": "data.batch_size",
    "data/sampling": "data.sampling",
    "data/energy_range": "data.energy_range",
    "trainer/max_epochs": "trainer.max_epochs",
    "experiment": None,
    "seed": "seed",
}


def tensorboard_value(value: Any) -> int | float | str | bool:
    """A value TensorBoard's HPARAMS plugin stores: numbers, strings, booleans."""
    if isinstance(value, bool | int | float | str):
        return value
    if value is None:
        return "null"
    return str(to_plain(value)).replace("'", "")


def _choices() -> dict[str, str]:
    if not HydraConfig.initialized():
        return {}
    return {k: str(v) for k, v in HydraConfig.get().runtime.choices.items() if v is not None}


# command-line keys that say where things are or how much is logged, not what is trained
PLUMBING = (
    "hydra",
    "paths.",
    "callbacks.",
    "logger.",
    "export.",
    "debug",
    "data.train_files",
    "data.test_files",
    "data.predict_files",
    "data.cache_dir",
    "data.generate",
    "data.schema.",
    "data.num_workers",
    "data.eval_batch_size",
    "trainer.limit_",
    "trainer.enable_",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "trainer.accelerator",
    "trainer.devices",
    "task.log_figures_every_n_epochs",
    "task.max_plot_points",
    "task.n_example_waveforms",
    "report",
    "ckpt_path",
)


def _command_line_keys() -> list[str]:
    """Config keys set on the command line (a sweep's axes), without the plumbing ones."""
    if not HydraConfig.initialized():
        return []
    keys = []
    for item in HydraConfig.get().overrides.task:
        key = item.split("=", 1)[0].lstrip("+~")
        if "=" in item and "/" not in key and not key.startswith(PLUMBING):
            keys.append(key)
    return keys


def _task_summary(task: Mapping[str, Any]) -> dict[str, Any]:
    """Targets, loss and pos_weight of the task's parts (classification first)."""
    parts = task.get("parts") or {}
    psd, energy = parts.get("psd") or {}, parts.get("energy") or {}
    out: dict[str, Any] = {}
    if psd:
        out.update({"task/targets": "+".join(psd.get("targets") or [])})
        out.update({"task/loss": psd.get("loss"), "task/pos_weight": psd.get("pos_weight")})
    elif energy:
        out["task/loss"] = energy.get("loss")
    return out


def experiment_hparams(cfg: DictConfig) -> dict[str, int | float | str | bool]:
    """The HPARAMS entry of a run: the curated keys, the task's outputs, the trial number and
    every key set on the command line."""
    choices = _choices()
    hparams: dict[str, Any] = {}
    for name, key in CURATED.items():
        if key is None:
            if name in choices:
                hparams[name] = choices[name]
        else:
            hparams[name] = OmegaConf.select(cfg, key, default=None)
    hparams.update(_task_summary(to_plain(cfg.get("task") or {})))
    for key in _command_line_keys():
        hparams.setdefault(key.replace(".", "/"), OmegaConf.select(cfg, key, default=None))
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hparams["trial"] = int(HydraConfig.get().job.num)
    return {k: tensorboard_value(v) for k, v in hparams.items()}
