"""Prediction pipeline behind ``python predict.py``: a checkpoint applied to any files.

Physics data, the release's unlabelled ``MJD_NPML_*.hdf5`` files and other detectors' files
have no labels; prediction needs none. Each input file is scored on its own (its own
temporary cache, so memory and disk stay bounded for the whole 43 GB release) and written
atomically to ``parts/``; an interrupted job started again in the same directory skips the
files already done. The parts are then joined into ``predictions.h5``: per event ``id``,
``detector``, ``run_number``, ``tp0``, ``energy`` (the file's ``energy_label``, when it has
one), each network output (``score_<label>``, ``energy_pred``) and, with ``classical: true``,
the classical parameters of :mod:`psdlab.dsp` computed from the same raw pulses: read file by
file, calibrated over all files at the end, or with a calibration run's constants
(``calibration=PATH``; :mod:`psdlab.run.prediction_classical`), with ``pass_<label>`` at the
90 %-DEP cut values; ``calibration.json`` records the constants used.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from psdlab.data.errors import DataError
from psdlab.data.reader import inspect_file, resolve_files
from psdlab.data.schema import DataSchema
from psdlab.report.calibration_record import ClassicalCalibration, file_sha256, load_calibration
from psdlab.run.artifacts import save_predictions_h5
from psdlab.run.build import build_datamodule
from psdlab.run.evaluate import load_run_config
from psdlab.run.prediction_classical import RAW_PREFIX, calibrated_columns, raw_columns
from psdlab.run.record import build_run_record, recorded_run, write_run_record
from psdlab.tasks import Task, load_task
from psdlab.utils.config import to_plain
from psdlab.utils.errors import ConfigError, MissingFileError

log = logging.getLogger(__name__)
META_COLUMNS = ("id", "detector", "run_number", "tp0", "energy")


def _without_nulls(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A nested mapping without its null leaves (and the mappings left empty)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            value = _without_nulls(value)
        if value not in (None, {}):
            out[key] = value
    return out


def prediction_data_config(
    run_cfg: DictConfig, file: Path, cfg: DictConfig, cache_dir: str
) -> DictConfig:
    """The training run's data settings (schema, preprocessing, bad-event handling) pointed at
    one file to predict; no training or test files, no generation, no labels needed.
    ``cfg.data`` changes keys of the run's data config for these files (e.g. the schema)."""
    overrides = _without_nulls(to_plain(cfg.get("data") or {}))
    data = OmegaConf.merge(
        run_cfg.data,
        overrides,
        {
            "train_files": None,
            "test_files": None,
            "predict_files": [str(file)],
            "generate": None,
            "energy_range": to_plain(cfg.get("energy_range")),
            "eval_batch_size": int(cfg.batch_size),
            "cache_dir": cache_dir,
            "in_memory": False,
        },
    )
    return data


def _network_columns(
    task: Task, batches: list[Mapping[str, torch.Tensor]]
) -> dict[str, np.ndarray]:
    """``trainer.predict`` outputs as named columns (``score_<label>``, ``energy_pred``)."""
    cols: dict[str, np.ndarray] = {"id": torch.cat([b["id"] for b in batches]).numpy()}
    if "score" in batches[0]:
        scores = torch.cat([b["score"] for b in batches]).float().numpy()
        names = [n for n in task.output_names if n.startswith("score_")]
        cols.update({name: scores[:, k] for k, name in enumerate(names)})
    if "energy_pred" in batches[0]:
        cols["energy_pred"] = torch.cat([b["energy_pred"] for b in batches]).float().numpy()
    return cols


def score_file(
    cfg: DictConfig,
    run_cfg: DictConfig,
    task: Task,
    file: Path,
    calibration: ClassicalCalibration | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-event table of one file (metadata, network outputs, uncalibrated classical
    parameters) and the file attributes that calibrating them needs (``calibration``: a
    calibration run's record, whose decay constants serve where the file has none)."""
    with tempfile.TemporaryDirectory(prefix="psdlab-predict-") as cache_dir:
        datamodule = build_datamodule(prediction_data_config(run_cfg, file, cfg, cache_dir))
        trainer = hydra.utils.instantiate(cfg.trainer)
        # ckpt_path restores the data module's state too (the training split's scaler)
        batches = trainer.predict(task, datamodule=datamodule, ckpt_path=str(cfg.ckpt_path))
        meta = datamodule.split_metadata("predict")
        schema = datamodule.schema
    if not batches:
        return {}, {}
    table = _network_columns(task, batches)
    if not np.array_equal(table["id"], meta["id"]):
        raise RuntimeError(f"{file}: prediction order differs from the data module's metadata")
    table.update({k: np.asarray(meta[k]) for k in META_COLUMNS if k in meta and k != "id"})
    attrs: dict[str, Any] = {}
    if cfg.get("classical", True):
        columns, attrs = raw_columns(
            file, schema, table["id"], to_plain(cfg.get("tau_us")), calibration
        )
        table.update(columns)
    return table, attrs


def _part_path(parts_dir: Path, index: int, file: Path) -> Path:
    return parts_dir / f"{index:05d}_{file.stem}.h5"


def _read_part(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _part_calibration(path: Path) -> str:
    """The calibration record a part was scored with ("" for none)."""
    with h5py.File(path, "r") as f:
        return str(f.attrs.get("calibration", ""))


def _read_attrs(paths: list[Path]) -> list[dict[str, Any]]:
    """The parts' attributes, checking that each scored part holds the raw classical
    parameters that the calibration over all files needs (older parts do not)."""
    out = []
    for path in paths:
        with h5py.File(path, "r") as f:
            column = RAW_PREFIX + "trap_energy"
            if "id" in f and column not in f:
                raise DataError(
                    f"predict: {path} has no field '{column}' (a part scored by an older psdlab, "
                    "before the classical columns were calibrated over all files): run again "
                    "with overwrite=true"
                )
            out.append(dict(f.attrs))
    return out


def join_parts(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate the per-file tables, with ``file_index`` naming each event's input file."""
    tables = [_read_part(p) for p in paths]
    tables = [(i, t) for i, t in enumerate(tables) if t]
    if not tables:
        return {}
    keys = [k for k in tables[0][1] if all(k in t for _, t in tables)]
    joined = {k: np.concatenate([t[k] for _, t in tables]) for k in keys}
    joined["file_index"] = np.concatenate([np.full(len(t["id"]), i) for i, t in tables])
    return joined


def predict(cfg: DictConfig) -> Path:
    """Score every event of ``cfg.files`` with ``cfg.ckpt_path``; returns predictions.h5."""
    ckpt_path = Path(cfg.ckpt_path)
    if not ckpt_path.is_file():
        raise MissingFileError(f"ckpt_path: checkpoint file {ckpt_path} does not exist")
    files = resolve_files(to_plain(cfg.files), "predict")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    record = build_run_record(cfg.seed, checkpoint=str(ckpt_path), files=[str(f) for f in files])
    with recorded_run(output_dir, record):
        calibration = _calibration(cfg, ckpt_path)
        run_cfg = load_run_config(ckpt_path, cfg.get("run_config"))
        data_cfg = prediction_data_config(run_cfg, files[0], cfg, "")
        schema = DataSchema.from_dict(to_plain(data_cfg.schema))
        for file in files:  # every file checked before hours of scoring start
            inspect_file(file, schema)
        task = load_task(ckpt_path)
        parts = [_part_path(output_dir / "parts", i, f) for i, f in enumerate(files)]
        pairs = list(zip(files, parts))
        # the raw classical parameters depend on the record (its filters and decay
        # constants): a part scored with another one is scored again
        source = str(cfg.calibration) if calibration is not None else ""
        for file, part in tqdm(pairs, desc="predict", unit="file", disable=None):
            if part.exists() and not cfg.get("overwrite", False):
                if _part_calibration(part) == source:
                    log.info("%s: already scored (%s), skipped", file, part)
                    continue
                log.info("%s: scored with another calibration record, scored again", file)
            table, attrs = score_file(cfg, run_cfg, task, file, calibration)
            save_predictions_h5(part, table, {"file": str(file), "calibration": source, **attrs})
        table = join_parts(parts)
        attrs = _attrs(ckpt_path, files, task)
        notes: list[str] = []
        constants: dict[str, Any] = {}
        min_net = cfg.get("report_min_net_counts", 100)
        if table and cfg.get("classical", True):
            result, used = calibrated_columns(table, _read_attrs(parts), calibration, min_net)
            notes, constants = result.notes, result.decay_constants
            for note in notes:
                log.info("classical: %s", note)
            if calibration is None:
                used.files = [str(f) for f in files]
                used.checkpoint, used.checkpoint_sha256 = str(ckpt_path), file_sha256(ckpt_path)
            used.save(output_dir / "calibration.json")
            attrs["calibration"] = str(cfg.calibration) if calibration else "fitted on these files"
        attrs["decay_constants"] = json.dumps(constants)
        path = save_predictions_h5(output_dir / "predictions.h5", table, attrs)
        if cfg.get("report") and table:
            from psdlab.report import build_prediction_report

            build_prediction_report(
                table,
                files,
                output_dir,
                run_cfg,
                notes=notes,
                decay_constants=constants or None,
                tau_us=to_plain(cfg.get("tau_us")),
                min_net_counts=min_net,
                cuts=calibration.thresholds if calibration is not None else None,
            )
    n = len(table.get("id", []))
    write_run_record(output_dir, {**record, "status": "done", "events": n})
    log.info("%d events of %d files scored: %s", n, len(files), path)
    return path


def _calibration(cfg: DictConfig, ckpt_path: Path) -> ClassicalCalibration | None:
    """The calibration run's record to apply (``calibration=PATH``), its network cuts only
    for the checkpoint that recorded them, or None to fit the constants on the scored files."""
    path = cfg.get("calibration")
    if path is None:
        return None
    record = load_calibration(path, ckpt_path)
    if not cfg.get("classical", True):
        raise ConfigError("calibration: given, but classical=false computes nothing to calibrate")
    return record


def _attrs(ckpt_path: Path, files: list[Path], task: Task) -> dict[str, Any]:
    return {
        "checkpoint": str(ckpt_path),
        "files": [str(f) for f in files],
        "outputs": task.output_names,
    }
