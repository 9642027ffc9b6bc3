"""Training pipeline behind ``python train.py``: data, model, trainer, fit, then the shared
end of run (:mod:`psdlab.run.finish`).

The root-level ``train.py`` only parses the Hydra config and calls :func:`train`; everything a
test or a notebook needs is importable from here, so the same code path runs in every
context.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from psdlab.run.build import build_datamodule, build_task, build_trainer
from psdlab.run.finish import test_and_write
from psdlab.run.record import build_run_record, recorded_run, run_wall_time, write_run_record
from psdlab.utils.errors import MissingFileError
from psdlab.utils.io import atomic_path
from psdlab.utils.summary import print_metrics_table, scalar_metrics

log = logging.getLogger(__name__)


def resolve_resume_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """Turn ``ckpt_path=last`` into this run directory's last checkpoint."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        if not last.exists():
            raise MissingFileError(
                f"ckpt_path=last: no checkpoint at {last}; start the resumed run in the "
                "interrupted run's directory with hydra.run.dir=<that directory>"
            )
        return str(last)
    if not Path(ckpt_path).exists():
        raise MissingFileError(f"ckpt_path: checkpoint file {ckpt_path} does not exist")
    return ckpt_path


def save_config(cfg: DictConfig, output_dir: Path) -> None:
    """Write the fully resolved config beside the run (Hydra's .hydra/ keeps interpolations)."""
    with atomic_path(output_dir / "config_resolved.yaml") as tmp:
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def _best_score_from_checkpoint(path: str | None) -> float | None:
    """The monitored score stored in a checkpoint by its ModelCheckpoint callback.

    Spawn-based DDP copies only the best checkpoint's path back to the launching process,
    not its score, so the score is read from the file.
    """
    if not path or not Path(path).exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False).get("callbacks", {})
    for key, value in state.items():
        if key.startswith("ModelCheckpoint") and value.get("best_model_score") is not None:
            return float(value["best_model_score"])
    return None


def _best(trainer: L.Trainer, monitor: str | None) -> tuple[str | None, float | None]:
    """Path and monitored score of the best checkpoint (the last value without one)."""
    ckpt_cb = trainer.checkpoint_callback
    path = ckpt_cb.best_model_path if ckpt_cb and ckpt_cb.best_model_path else None
    score = ckpt_cb.best_model_score if ckpt_cb else None
    score = float(score) if score is not None else _best_score_from_checkpoint(path)
    if score is None and monitor in trainer.callback_metrics:
        score = float(trainer.callback_metrics[monitor])
    return path, score


def train(cfg: DictConfig) -> float | None:
    """Run one experiment and return the value of ``cfg.optimized_metric`` for sweepers.

    A run that raises still leaves its record, marked ``failed`` with the error.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    record = build_run_record(cfg.seed, output_dir=str(output_dir))
    with recorded_run(output_dir, record):
        return _train(cfg, output_dir, record)


def _train(cfg: DictConfig, output_dir: Path, record: dict[str, Any]) -> float | None:
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    L.seed_everything(cfg.seed, workers=True)
    save_config(cfg, output_dir)
    datamodule = build_datamodule(cfg.data)
    task = build_task(cfg, datamodule)
    trainer = build_trainer(cfg)

    if cfg.get("train", True):
        resume = resolve_resume_path(cfg.get("ckpt_path"), output_dir)
        if resume:
            log.info("Resuming from %s", resume)
        trainer.fit(task, datamodule=datamodule, ckpt_path=resume)
    monitor = cfg.get("optimized_metric")
    best_path, best_score = _best(trainer, monitor)
    val_metrics = scalar_metrics(trainer.callback_metrics, "val/")

    test_metrics: dict[str, float] = {}
    if cfg.get("test", True):
        ckpt = best_path if best_path and Path(best_path).exists() else None
        if ckpt is None:
            log.warning("No best checkpoint (fast_dev_run?): testing the current weights")
        test_metrics = test_and_write(cfg, trainer, task, datamodule, output_dir, ckpt, cfg)

    if trainer.is_global_zero:
        record.update(
            status="done",
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            wall_time_s=round(run_wall_time(), 2),
            epochs=int(trainer.current_epoch),
            global_steps=int(trainer.global_step),
            best_checkpoint=best_path,
            monitor=monitor,
            best_val_score=best_score,
            val_metrics=val_metrics,
            test_metrics=test_metrics,
        )
        write_run_record(output_dir, record)
        title = f"{cfg.get('run_name', 'run')}: test metrics (best checkpoint)"
        print_metrics_table(test_metrics or val_metrics, title=title)
    return best_score
