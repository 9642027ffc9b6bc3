"""Files a tested model leaves in its run directory: prediction table, figures, network.

Every file is written atomically (:func:`psdlab.utils.io.atomic_path`), so a run killed
mid-write never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psdlab.tasks import Task, export_onnx, export_torchscript
from psdlab.utils.errors import ConfigError
from psdlab.utils.io import atomic_path

log = logging.getLogger(__name__)


def save_predictions_h5(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], attrs: Mapping | None = None
) -> Path:
    """Write each array as a root dataset of an HDF5 file (atomically); returns the path.

    String-like ``attrs`` (e.g. target names, checkpoint path) become file attributes.
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            arr = np.asarray(value)
            if arr.dtype == object:
                arr = arr.astype(str).astype("S")
            f.create_dataset(key, data=arr)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value if not isinstance(value, list | tuple) else list(value)
    return path


def write_figures(
    table: Mapping[str, np.ndarray],
    out_dir: str | os.PathLike,
    threshold: float = 0.5,
    sig_eff: float = 0.9,
    dpi: int = 110,
) -> list[Path]:
    """Write psdlab.plots.make_figures(table) as ``<out_dir>/<name>.png``; returns the paths.

    ``table`` is a prediction table, e.g. ``task.test_predictions()``.
    """
    import matplotlib.pyplot as plt

    from psdlab.plots import make_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in make_figures(table, threshold=threshold, sig_eff=sig_eff).items():
        p = out / f"{name}.png"
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        plt.close(fig)
        paths.append(p)
    return paths


def export_model(task: Task, fmt: str | None, output_dir: Path, input_shape: Sequence[int]) -> None:
    """``model.onnx`` or ``model.ts`` in ``output_dir``; ``fmt`` None/"none" writes nothing."""
    if fmt == "onnx":
        export_onnx(task, output_dir / "model.onnx", input_shape)
    elif fmt == "torchscript":
        export_torchscript(task, output_dir / "model.ts", input_shape)
    elif fmt not in (None, "none"):
        raise ConfigError(f"export.model: expected onnx, torchscript or null, got '{fmt}'")


def write_test_artifacts(
    export: Mapping[str, Any], task: Task, input_shape: Sequence[int], output_dir: Path
) -> dict[str, np.ndarray]:
    """``predictions.h5``, ``figures/*.png`` and the exported network, as ``export`` says.

    Uses (and returns) the prediction table the task collected during ``trainer.test``.
    """
    table = task.test_predictions()
    if not table:
        log.warning("The task collected no test predictions: nothing to export")
        return table
    if export.get("predictions", True):
        columns = {k: v for k, v in table.items() if not k.startswith("example_")}
        save_predictions_h5(output_dir / "predictions.h5", columns)
    if export.get("figures", True):
        write_figures(table, output_dir / "figures", **task.figure_kwargs())
    export_model(task, export.get("model"), output_dir, input_shape)
    return table
