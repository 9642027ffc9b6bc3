"""Build the experiment's parts from the composed Hydra config.

The task receives plain dicts (not DictConfigs or objects) so that everything saved in a
checkpoint is a primitive: ``Task.load_from_checkpoint`` then works with torch's
``weights_only=True`` loading and needs no Hydra at all.
"""

from __future__ import annotations

from typing import Any

import hydra
import lightning as L
from lightning.pytorch import Callback, LightningDataModule
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from psdlab.plots.waveforms import waveform_axis
from psdlab.run.hparams import experiment_hparams, trial_label
from psdlab.tasks import Task
from psdlab.tasks.pretrained import finetune_options, load_backbone_weights
from psdlab.utils.config import to_plain
from psdlab.utils.errors import ConfigError


def _instantiate_group(cfg: DictConfig | None, group: str) -> list[Any]:
    """One object per non-null entry of a dict-of-configs group (callbacks, logger)."""
    objects = []
    for name, entry in (cfg or {}).items():
        if entry is None:
            continue
        if "_target_" not in entry:
            raise ConfigError(f"{group}.{name}: expected a config with _target_, got {entry}")
        objects.append(hydra.utils.instantiate(entry, **_run_name(entry)))
    return objects


def _run_name(entry: DictConfig) -> dict[str, str]:
    """In a sweep, TensorBoard's run is named by the trial and its swept values (the trial
    directories alone read '0/tensorboard', '1/tensorboard', ...)."""
    label = trial_label()
    if label is None or not str(entry.get("_target_", "")).endswith("TensorBoardLogger"):
        return {}
    return {"version": label}


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    """Callbacks of the ``callbacks`` group; null entries are switched off."""
    return _instantiate_group(cfg, "callbacks")


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger] | bool:
    """Loggers of the ``logger`` group; False (no logging) when there is none."""
    return _instantiate_group(cfg, "logger") or False


def build_trainer(cfg: DictConfig) -> L.Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with the configured callbacks and loggers."""
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)


def build_datamodule(data_cfg: DictConfig, stage: str | None = None) -> LightningDataModule:
    """Instantiate the data module of the ``data`` config.

    Training and evaluation leave ``stage`` None: the Trainer prepares and sets it up. Code
    that reads the data without a Trainer (benchmarks, notebooks) passes a stage ("fit",
    "test") to get it prepared and set up. Nested configs (preprocessing, dataset
    generation) are passed as plain dicts: the data module decides when to build or call
    them (generation runs in ``prepare_data`` only).
    """
    datamodule = hydra.utils.instantiate(data_cfg, _recursive_=False, _convert_="all")
    if stage is not None:
        datamodule.prepare_data()
        datamodule.setup(stage)
    return datamodule


def build_task(cfg: DictConfig, datamodule: Any) -> Task:
    """The task of ``cfg.task`` with its backbone sized by ``datamodule.input_shape``.

    ``input_shape`` follows from the data and preprocessing configuration alone, so no data is
    read here; ``pos_weight: auto`` is resolved by the task from the data module at fit time.
    With ``pretrained=PATH`` the backbone weights of that checkpoint replace the fresh ones
    and ``cfg.finetune`` (freeze epochs, encoder learning-rate factor) goes to the task.
    """
    in_channels, input_length = datamodule.input_shape
    net = to_plain(cfg.model)
    net.update(in_channels=int(in_channels), input_length=int(input_length))
    overrides = {
        "net": net,
        "optimizer": to_plain(cfg.optimizer),
        "scheduler": to_plain(cfg.get("scheduler")),
    }
    pretrained = cfg.get("pretrained")
    if pretrained:
        overrides["finetune"] = finetune_options(cfg.get("finetune"), pretrained)
    task = hydra.utils.instantiate(cfg.task, **overrides, _recursive_=False, _convert_="all")
    if pretrained:
        record = getattr(datamodule, "preprocess_record", None)
        load_backbone_weights(task, pretrained, record() if record else None)
    task.run_hparams = experiment_hparams(cfg)
    task.figure_settings = figure_settings(datamodule)
    return task


def figure_settings(datamodule: Any) -> dict[str, Any]:
    """Figure arguments that depend on the data: the example waveforms' time axis (us from
    tp0, sampling period and downsampling) and amplitude unit of the preprocessing."""
    pre, schema = getattr(datamodule, "preprocessor", None), getattr(datamodule, "schema", None)
    if pre is None or schema is None:
        return {}
    axis = waveform_axis(
        sampling_period_ns=float(schema.sampling_period_ns or 10.0),
        downsample=pre.downsample,
        window_mode=pre.window.mode,
        window_offset=pre.window.offset,
        window_start=pre.window.start,
        normalize=pre.normalize,
        standardize=getattr(datamodule, "scaler", None) is not None,
        amplitude_channel=pre.amplitude_channel,
    )
    return {"waveform_axis": axis}
