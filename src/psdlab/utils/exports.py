"""What a run leaves behind after testing: predictions, figures and the exported network."""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch import LightningDataModule, LightningModule
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def export_test_artifacts(
    cfg: DictConfig, task: LightningModule, datamodule: LightningDataModule, output_dir: Path
) -> None:
    """Write ``predictions.h5``, ``figures/*.png`` and ``model.onnx``/``model.ts`` as configured.

    Uses the prediction table the task collected during ``trainer.test``.
    """
    from psdlab.tasks.export import (
        export_onnx,
        export_torchscript,
        save_predictions_h5,
        write_figures,
    )

    export = cfg.get("export") or {}
    table = task.test_predictions()
    if not table:
        log.warning("The task collected no test predictions: nothing to export")
        return
    if export.get("predictions", True):
        columns = {k: v for k, v in table.items() if not k.startswith("example_")}
        save_predictions_h5(output_dir / "predictions.h5", columns)
    if export.get("figures", True):
        write_figures(table, output_dir / "figures", **task.figure_kwargs())
    fmt = export.get("model")
    if fmt == "onnx":
        export_onnx(task, output_dir / "model.onnx", datamodule.input_shape)
    elif fmt == "torchscript":
        export_torchscript(task, output_dir / "model.ts", datamodule.input_shape)
    elif fmt not in (None, "none"):
        raise ValueError(f"export.model: expected onnx, torchscript or null, got '{fmt}'")
