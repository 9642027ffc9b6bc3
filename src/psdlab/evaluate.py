"""Evaluation pipeline behind ``python eval.py``: re-test a checkpoint, on its own test files
or on any others, with the training run's data and preprocessing settings."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from psdlab.utils.instantiate import build_datamodule
from psdlab.utils.io import write_json
from psdlab.utils.run_record import build_run_record, write_run_record
from psdlab.utils.summary import print_metrics_table, scalar_metrics

log = logging.getLogger(__name__)


def load_run_config(ckpt_path: Path, run_config: str | None) -> DictConfig:
    """The resolved config of the run that wrote ``ckpt_path``."""
    path = Path(run_config) if run_config else ckpt_path.parent.parent / "config_resolved.yaml"
    if not path.exists():
        raise FileNotFoundError(
            f"run config {path} not found: eval.py needs the training run's config_resolved.yaml "
            "(pass run_config=PATH when the checkpoint was moved out of its run directory)"
        )
    return OmegaConf.load(path)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test the checkpoint, write metrics.json (+ figures, predictions, report); return metrics."""
    ckpt_path = Path(cfg.ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint file {ckpt_path} does not exist")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)

    run_cfg = load_run_config(ckpt_path, cfg.get("run_config"))
    overrides = {k: v for k, v in OmegaConf.to_container(cfg.data).items() if v is not None}
    data_cfg = OmegaConf.merge(run_cfg.data, overrides)
    data_cfg.generate = None  # evaluation never generates data
    datamodule = build_datamodule(data_cfg, "test")

    task_cls = hydra.utils.get_class(run_cfg.task._target_)
    task = task_cls.load_from_checkpoint(ckpt_path, map_location="cpu")
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer)
    trainer.test(task, datamodule=datamodule, ckpt_path=str(ckpt_path), weights_only=False)
    metrics = scalar_metrics(trainer.callback_metrics, "test/")

    write_json(output_dir / "metrics.json", metrics)
    write_run_record(
        output_dir,
        build_run_record(cfg.seed, checkpoint=str(ckpt_path), test_metrics=metrics),
    )
    from psdlab.utils.exports import export_test_artifacts

    export_test_artifacts(cfg, task, datamodule, output_dir)
    if cfg.get("report"):
        from psdlab.report import build_report

        build_report(task, datamodule, output_dir, run_cfg)
    print_metrics_table(metrics, title=f"test metrics of {ckpt_path}")
    return metrics
