"""The classical columns of ``predict.py``: read per file, calibrated over all of them.

Reading the classical parameters from the raw pulses is the slow part and happens file by
file (resumable, as the network scores). Calibrating them does not: the energy scale, the
drift-time correction and the A/E, DCR and LQ bands are fitted once on the joined table of
every scored file, per detector (a calibration run split over several files is calibrated as
one), or taken from a calibration run's record (``calibration=PATH``), as an experiment
calibrates its physics runs. The constants used are written as ``calibration.json`` together
with the 90 %-DEP cut values of the network and the classical parameters, so that a
calibration run's output directory calibrates the physics runs after it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from psdlab.data.schema import DataSchema
from psdlab.report.calibration_record import ClassicalCalibration
from psdlab.report.classical import (
    CLASSICAL_COLUMNS,
    ClassicalResult,
    RawParameters,
    calibrate_parameters,
    read_parameters,
)
from psdlab.report.constants import TauSetting
from psdlab.report.psd import MIN_NET_COUNTS, PSD_TARGETS, cut_threshold, line_counts

log = logging.getLogger(__name__)
RAW_PREFIX = "raw_"  # the per-file tables' uncalibrated parameters (not in predictions.h5)


def raw_columns(
    file: Path,
    schema: DataSchema,
    ids: np.ndarray,
    tau_us: TauSetting,
    calibration: ClassicalCalibration | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The uncalibrated parameters of the events ``ids`` of one file (``raw_<name>``), and
    what calibrating them later needs (the file's stored calibration, the reading's notes and
    decay constants) as JSON file attributes. A ``calibration`` lends its filters and decay
    constants."""
    raw = read_parameters([file], schema, ids, tau_us=tau_us, calibration=calibration)
    attrs = {
        "dsp": json.dumps(raw.dsp),
        "stored_calibration": json.dumps(raw.stored_cal),
        "classical_notes": json.dumps(raw.notes),
        "decay_constants": json.dumps(raw.decay_constants),
    }
    return {RAW_PREFIX + k: v for k, v in raw.values.items()}, attrs


def joined_raw(
    table: Mapping[str, np.ndarray], part_attrs: list[Mapping[str, Any]]
) -> RawParameters:
    """The joined table's raw columns and the parts' attributes as one :class:`RawParameters`."""
    values = {k[len(RAW_PREFIX) :]: v for k, v in table.items() if k.startswith(RAW_PREFIX)}
    raw = RawParameters(values)
    for attrs in part_attrs:
        raw.stored_cal = raw.stored_cal or json.loads(attrs.get("stored_calibration", "null"))
        raw.notes += json.loads(attrs.get("classical_notes", "[]"))
        raw.decay_constants.update(json.loads(attrs.get("decay_constants", "{}")))
        dsp = json.loads(attrs.get("dsp", "null"))
        if raw.dsp and dsp and dsp != raw.dsp:
            raw.notes.append(f"{attrs.get('file')}: filters differ from the first file's ({dsp})")
        raw.dsp = raw.dsp or dsp
    return raw


def calibrated_columns(
    table: dict[str, np.ndarray],
    part_attrs: list[Mapping[str, Any]],
    calibration: ClassicalCalibration | None,
    min_net_counts: float = MIN_NET_COUNTS,
) -> tuple[ClassicalResult, ClassicalCalibration]:
    """Replace the table's raw columns by the calibrated ones (``trap_energy``, ``aoe``,
    ``dcr``, ``lq``, ``drift_time_ns``) and add ``pass_<target>`` and
    ``pass_<target>_classical`` at the cut values. Returns the classical result and the
    calibration used: ``calibration`` as given, or the constants and 90 %-DEP cuts fitted
    on this table."""
    raw = joined_raw(table, part_attrs)
    for key in [k for k in table if k.startswith(RAW_PREFIX)]:
        del table[key]
    result = calibrate_parameters(raw, table["id"], table.get("energy"), calibration)
    for column, attr in CLASSICAL_COLUMNS.items():
        table[column] = np.asarray(getattr(result, attr), dtype=float)
    record = result.calibration
    assert record is not None
    if calibration is None:
        energy = table["energy"] if "energy" in table else table["trap_energy"]
        record.thresholds = cut_values(table, result, energy, min_net_counts)
    for target, cuts in record.thresholds.items():
        columns = {
            "network": (f"pass_{target}", table.get(f"score_{target}")),
            "classical": (f"pass_{target}_classical", result.score(target)),
        }
        for who, (column, score) in columns.items():
            cut = cuts.get(who)
            if score is not None and cut is not None and math.isfinite(cut):
                table[column] = np.asarray(score, float) > cut
    return result, record


def cut_values(
    table: Mapping[str, np.ndarray],
    result: ClassicalResult,
    energy: np.ndarray,
    min_net_counts: float,
) -> dict[str, dict[str, float]]:
    """Target -> the network's and the classical parameter's cut keeping 90 % of the DEP,
    for the targets with a score column; a target whose DEP is too small is left out."""
    out: dict[str, dict[str, float]] = {}
    dep = line_counts(energy, min_net_counts)["DEP"]
    for target in PSD_TARGETS:
        if f"score_{target}" not in table:
            continue
        cuts = {
            "network": cut_threshold(energy, table[f"score_{target}"], dep),
            "classical": cut_threshold(energy, result.score(target), dep),
        }
        cuts = {k: float(v) for k, v in cuts.items() if math.isfinite(v)}
        if cuts:
            out[target] = cuts
        else:
            log.info("%s: too few DEP events for a 90 %%-DEP cut; none recorded", target)
    return out
