"""Reading a run into a report: a test run (``build_report``) or a prediction table
(``build_prediction_report``).

``build_report`` is called at the end of ``python eval.py ... report=true`` (and
``train.py report=true``): the prediction table is matched by event ``id`` to the test
split's metadata (labels, energy, truth), the classical parameters are recomputed from the
raw waveforms of the evaluated files, and ``report.json`` and ``report.html`` are written
next to ``metrics.json``.

``build_prediction_report`` is called by ``python predict.py ... report=true`` on any files,
unlabelled and real ones included: the table already holds the classical parameters of each
event (or they are recomputed from the files), and the sections that need labels or truth
are skipped with a note.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from psdlab.report.assemble import PhysicsReport, compute_report
from psdlab.report.calibration_record import ClassicalCalibration
from psdlab.report.classical import CLASSICAL_COLUMNS, ClassicalResult, classical_parameters
from psdlab.report.constants import TauSetting, UsedConstants
from psdlab.report.io import write_report
from psdlab.report.psd import MIN_NET_COUNTS

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
    tau_us: TauSetting = None,
    min_net_counts: float = MIN_NET_COUNTS,
    calibration: ClassicalCalibration | None = None,
) -> PhysicsReport:
    """Write ``report.json`` and ``report.html`` for a test run; return the report.

    ``predictions`` is the run's prediction table (``id``, ``score_<label>``,
    ``energy_pred``: what the task's ``test_predictions()`` returns); ``datamodule`` gives the
    test split's metadata, files and schema; ``run_cfg`` (optional) names model and task;
    ``tau_us`` as for :func:`classical_parameters`; line results from fewer than
    ``min_net_counts`` net events are flagged as low statistics. ``calibration`` (a
    calibration run's record) supplies the classical constants and the 90 %-DEP cut values
    instead of fitting and setting them on the test events (a 10,000-event test file holds
    too few DEP events to set a cut).
    """
    from psdlab.data.reader import resolve_files

    table, meta = _align(predictions, datamodule.split_metadata("test"))
    files = resolve_files(datamodule.test_files, "test")
    ref = np.asarray(meta["energy"], float) if "energy" in meta else None
    ids = table.get("id", meta["id"])
    classical = classical_parameters(
        files, datamodule.schema, ids, ref, tau_us=tau_us, calibration=calibration
    )
    cuts = calibration.thresholds if calibration is not None else None
    info = _run_info(files, run_cfg)
    report = compute_report(table, meta, classical, info, min_net_counts, cuts)
    write_report(report, Path(output_dir))
    return report


TABLE_META = ("id", "energy", "detector", "run_number", "tp0")


def _schema(run_cfg: Any) -> Any:
    """The training run's data schema; without one the MJD names, any trace length."""
    from psdlab.data.schema import DataSchema
    from psdlab.utils.config import to_plain

    data = getattr(run_cfg, "data", None) if run_cfg is not None else None
    if data is None or data.get("schema") is None:
        return DataSchema(trace_length=0)  # 0: the reader checks no length
    return DataSchema.from_dict(to_plain(data.schema))


def _recompute(
    t: Mapping[str, np.ndarray], files: list[Path], run_cfg: Any, tau_us: TauSetting
) -> ClassicalResult:
    """Classical parameters of a table without them, file by file as predict.py does."""
    ids, n = t["id"], len(t["id"])
    index = t.get("file_index", np.zeros(n, np.int64))
    cols = {f: np.full(n, np.nan) for f in CLASSICAL_COLUMNS.values()}
    notes: list[str] = []
    constants: dict[str, UsedConstants] = {}
    for i, path in enumerate(files):
        m = index == i
        if not m.any():
            continue
        ref = np.asarray(t["energy"][m], float) if "energy" in t else None
        r = classical_parameters([path], _schema(run_cfg), ids[m], ref, tau_us=tau_us)
        for f in cols:
            cols[f][m] = getattr(r, f)
        notes.extend(f"{path.name}: {x}" if path.name not in x else x for x in r.notes)
        constants.update(r.decay_constants)
    return ClassicalResult(ids, raw={}, notes=notes, decay_constants=constants, **cols)


def build_prediction_report(
    table: Mapping[str, np.ndarray],
    files: list[str | Path],
    output_dir: str | Path,
    run_cfg: Any = None,
    *,
    notes: list[str] | tuple[str, ...] = (),
    decay_constants: Mapping[str, UsedConstants] | None = None,
    tau_us: TauSetting = None,
    min_net_counts: float = MIN_NET_COUNTS,
    cuts: Mapping[str, Mapping[str, float]] | None = None,
) -> PhysicsReport:
    """Write the label-free ``report.json`` and ``report.html`` of a prediction table.

    ``table`` is predict.py's joined table (``id``, ``score_<label>``, ``energy_pred``,
    ``energy`` when the files have ``energy_label``, the classical columns ``trap_energy``,
    ``aoe``, ``dcr``, ``lq``, ``drift_time_ns``, and ``file_index`` into ``files``). The
    peak windows use ``energy``, else the calibrated ``trap_energy``. ``notes`` and
    ``decay_constants`` are what :func:`classical_parameters` recorded when the table was
    made; without the classical columns they are recomputed from ``files`` (schema from
    ``run_cfg``, decay constants from ``tau_us``). ``cuts`` (a calibration run's cut values,
    target -> ``{"network", "classical"}``) are applied instead of cuts set on these events.
    """
    t = {k: np.asarray(v) for k, v in table.items() if np.ndim(v) == 1}
    paths = [Path(f) for f in files]
    if all(c in t for c in CLASSICAL_COLUMNS):
        cols = {f: np.asarray(t[c], float) for c, f in CLASSICAL_COLUMNS.items()}
        consts = dict(decay_constants or {})
        classical = ClassicalResult(
            t["id"], raw={}, notes=list(notes), decay_constants=consts, **cols
        )
    else:
        classical = _recompute(t, paths, run_cfg, tau_us)
    meta = {k: t[k] for k in TABLE_META if k in t}
    info = {**_run_info(paths, run_cfg), "source": "prediction table (no labels)"}
    report = compute_report(t, meta, classical, info, min_net_counts, cuts)
    write_report(report, Path(output_dir))
    return report
