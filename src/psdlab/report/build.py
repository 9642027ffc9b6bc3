"""``build_report``: the report of a test run, from its prediction table and data module.

Called at the end of ``python eval.py ... report=true`` (and ``train.py report=true``): the
prediction table is matched by event ``id`` to the test split's metadata (labels, energy,
truth), the classical parameters are recomputed from the raw waveforms of the evaluated
files, and ``report.json`` and ``report.html`` are written next to ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from psdlab.report.assemble import PhysicsReport, compute_report
from psdlab.report.classical import classical_parameters
from psdlab.report.io import write_report

log = logging.getLogger(__name__)


def _align(
    table: Mapping[str, np.ndarray], meta: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Restrict both to the events the network saw, in the prediction table's order, by id."""
    t = {k: np.asarray(v) for k, v in table.items() if np.ndim(v) == 1}
    n_meta = len(meta["id"])
    if "id" not in t:  # no ids: the loader order is the split order
        n = len(next(iter(t.values())))
        return t, {k: np.asarray(v)[:n] for k, v in meta.items() if len(v) == n_meta}
    order = np.argsort(meta["id"], kind="stable")
    sid = np.asarray(meta["id"])[order]
    pos = np.clip(np.searchsorted(sid, t["id"]), 0, sid.size - 1)
    found = sid[pos] == t["id"]
    if not found.all():
        log.warning("%d predicted events not in the split metadata: dropped", (~found).sum())
    t = {k: v[found] for k, v in t.items() if len(v) == len(found)}
    rows = order[pos[found]]
    m = {k: np.asarray(v)[rows] for k, v in meta.items() if len(v) == n_meta}
    return t, m


def _run_info(files: list[Path], run_cfg: Any) -> dict[str, Any]:
    """Files, model, task and label-source names for the page's header."""
    info: dict[str, Any] = {"files": [str(f) for f in files]}
    if run_cfg is not None:
        with contextlib.suppress(AttributeError):
            info["model"] = str(run_cfg.model.net._target_).rsplit(".", 1)[-1]
        info["task"] = str(getattr(getattr(run_cfg, "task", None), "_target_", "")).rsplit(".")[-1]
        # the label source the network was trained on (conf/labels/; runs before it: the cut)
        labels = getattr(getattr(run_cfg, "data", None), "labels", None)
        info["labels"] = str(getattr(labels, "name", None) or "cut")
    return info


def build_report(
    predictions: Mapping[str, np.ndarray],
    datamodule: Any,
    output_dir: str | Path,
    run_cfg: Any = None,
) -> PhysicsReport:
    """Write ``report.json`` and ``report.html`` for a test run; return the report.

    ``predictions`` is the run's prediction table (``id``, ``score_<label>``,
    ``energy_pred``: what the task's ``test_predictions()`` returns); ``datamodule`` gives the
    test split's metadata, files and schema; ``run_cfg`` (optional) names model and task.
    """
    from psdlab.data.reader import resolve_files

    table, meta = _align(predictions, datamodule.split_metadata("test"))
    files = resolve_files(datamodule.test_files, "test")
    ref = np.asarray(meta["energy"], float) if "energy" in meta else None
    classical = classical_parameters(files, datamodule.schema, table.get("id", meta["id"]), ref)
    report = compute_report(table, meta, classical, _run_info(files, run_cfg))
    write_report(report, Path(output_dir))
    return report
