"""Evaluation pipeline behind ``python eval.py``: re-test a checkpoint, on its own test files
or on any others, with the training run's data and preprocessing settings."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from psdlab.run.build import build_datamodule
from psdlab.run.finish import test_and_write
from psdlab.run.record import build_run_record, recorded_run, write_run_record
from psdlab.tasks import load_task
from psdlab.utils.errors import MissingFileError
from psdlab.utils.summary import print_metrics_table


def load_run_config(ckpt_path: Path, run_config: str | None) -> DictConfig:
    """The resolved config of the run that wrote ``ckpt_path``."""
    path = Path(run_config) if run_config else ckpt_path.parent.parent / "config_resolved.yaml"
    if not path.exists():
        raise MissingFileError(
            f"run config {path} not found: eval.py needs the training run's config_resolved.yaml "
            "(pass run_config=PATH when the checkpoint was moved out of its run directory)"
        )
    return OmegaConf.load(path)


def evaluation_data_config(run_cfg: DictConfig, overrides: DictConfig) -> DictConfig:
    """The training run's data config with the non-null ``overrides`` merged in.

    Evaluation never generates data: a missing file is an error, not a reason to simulate.
    """
    values = {k: v for k, v in OmegaConf.to_container(overrides).items() if v is not None}
    data_cfg = OmegaConf.merge(run_cfg.data, values)
    data_cfg.generate = None
    return data_cfg


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test the checkpoint, write metrics.json (+ figures, predictions, report); return metrics."""
    ckpt_path = Path(cfg.ckpt_path)
    if not ckpt_path.is_file():
        raise MissingFileError(f"ckpt_path: checkpoint file {ckpt_path} does not exist")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    record = build_run_record(cfg.seed, checkpoint=str(ckpt_path))
    with recorded_run(output_dir, record):
        L.seed_everything(cfg.seed, workers=True)
        run_cfg = load_run_config(ckpt_path, cfg.get("run_config"))
        datamodule = build_datamodule(evaluation_data_config(run_cfg, cfg.data))
        task = load_task(ckpt_path)
        trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer)
        # ckpt_path restores the data module's state too (the training split's scaler)
        metrics = test_and_write(
            cfg, trainer, task, datamodule, output_dir, str(ckpt_path), run_cfg
        )
    write_run_record(output_dir, {**record, "status": "done", "test_metrics": metrics})
    print_metrics_table(metrics, title=f"test metrics of {ckpt_path}")
    return metrics
