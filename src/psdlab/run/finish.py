"""The end of every run, shared by training and evaluation: test the chosen weights, then
write ``metrics.json``, the prediction table, figures, the exported network and (with
``report=true``) the physics report."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from psdlab.report.calibration_record import load_calibration
from psdlab.run.artifacts import write_test_artifacts
from psdlab.tasks import Task
from psdlab.utils.io import write_json
from psdlab.utils.summary import scalar_metrics


def test_and_write(
    cfg: DictConfig,
    trainer: L.Trainer,
    task: Task,
    datamodule: L.LightningDataModule,
    output_dir: Path,
    ckpt_path: str | None,
    run_cfg: DictConfig,
) -> dict[str, float]:
    """Test ``ckpt_path`` (None: the task's current weights) and write the run's outputs.

    ``cfg`` is the entry point's config (``export``, ``report``), ``run_cfg`` the training
    run's (the report names the model and data it was trained with). Files are written by
    global rank 0 only; the test metrics are returned on every rank.
    """
    trainer.test(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
    metrics = scalar_metrics(trainer.callback_metrics, "test/")
    if not trainer.is_global_zero:
        return metrics
    write_json(output_dir / "metrics.json", metrics)
    table = write_test_artifacts(cfg.get("export") or {}, task, datamodule.input_shape, output_dir)
    if cfg.get("report") and table:
        from psdlab.report import build_report, log_report_to_tensorboard

        min_counts = cfg.get("report_min_net_counts", 100)
        path = cfg.get("report_calibration")
        calibration = load_calibration(path, ckpt_path) if path else None
        report = build_report(
            table,
            datamodule,
            output_dir,
            run_cfg,
            min_net_counts=min_counts,
            calibration=calibration,
        )
        for logger in trainer.loggers:
            log_report_to_tensorboard(logger, report, step=trainer.current_epoch)
    return metrics
