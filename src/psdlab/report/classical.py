"""The classical analysis of the evaluated events, from their raw waveforms.

The report compares a network with the classical cuts *on the same events*, so the classical
parameters are recomputed here from ``raw_waveform`` of the evaluated files with
:func:`psdlab.dsp.compute_parameters` (dspeed underneath: pole-zero, trapezoidal energy,
80 ns current for A/E, DCR, LQ, drift time), chunk by chunk so that a 65,000-event file never
sits in memory, and aligned with the test split by event ``id`` (the datamodule may drop
events or select an energy range, and its order need not be the file order).

Calibrations follow what an experiment does with calibration data, without labels or truth:
the trap energy is calibrated on the 228Th lines (2614.5 keV first, then every strong line),
the A/E, DCR and LQ bands are fitted in energy slices on the evaluated events themselves.
Where the evaluated events are too few for that (tiny test sets), the constants of the file's
own calibration (simulated files carry it as an attribute) are used, and failing that a
fit of the trap energy against ``energy_label``; every such fallback is recorded in ``notes``.
The pole-zero decay constant is resolved per file and detector by
:mod:`psdlab.report.constants` (configured, the file's own, or estimated from the tails).

Reading (:func:`read_parameters`, the slow part) and calibrating (:func:`calibrate_parameters`)
are separate steps, so that ``predict.py`` reads file by file and calibrates over all files
at once, or applies a calibration run's constants (:mod:`psdlab.report.calibration_record`)
to files that cannot be calibrated on themselves: a short physics run has no lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from psdlab.data.reader import FileInfo, inspect_file, iter_waveform_chunks, read_vector
from psdlab.data.schema import DataSchema
from psdlab.dsp import BandCorrection, DSPConfig, EnergyCalibration, compute_parameters
from psdlab.report.calibration_record import ALL_CHANNELS, ClassicalCalibration
from psdlab.report.constants import (
    TauSetting,
    UsedConstants,
    decay_constants,
    file_constants,
)
from psdlab.report.energy_scale import calibrate, drift_time_correct

log = logging.getLogger(__name__)

MIN_BAND_EVENTS = 2000  # events in 100-2700 keV needed to fit a band on the evaluated data


@dataclass
class ClassicalResult:
    """Per-event classical quantities, aligned with the ``ids`` they were requested for.

    ``energy`` is the calibrated trap-filter energy (keV); ``aoe``, ``dcr`` and ``lq`` are
    band-corrected classifiers in band widths (A/E: single-site band at 0, multi-site below;
    DCR and LQ: bulk band at 0, alphas / slow pulses above). ``raw`` holds every parameter of
    :data:`psdlab.dsp.PARAMETER_NAMES` as computed. Events not found in the files are NaN.
    """

    ids: np.ndarray
    energy: np.ndarray
    aoe: np.ndarray
    dcr: np.ndarray
    lq: np.ndarray
    drift_time_ns: np.ndarray
    raw: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    # file name -> detector -> {"tau_us", "source"}: the pole-zero constants used
    decay_constants: dict[str, UsedConstants] = field(default_factory=dict)
    # the calibrated trap energy before the drift-time (charge-trapping) correction
    energy_uncorrected: np.ndarray | None = None
    # the constants used (fitted on these events, or a calibration run's): predict.py writes
    # them as calibration.json for other files
    calibration: ClassicalCalibration | None = None

    def score(self, target: str) -> np.ndarray:
        """The classical parameter for ``target``, signed so that higher = more signal-like."""
        if target == "low_avse":
            return self.aoe
        if target == "high_avse":
            return -self.aoe
        if target == "dcr":
            return -self.dcr
        if target == "lq":
            return -self.lq
        raise KeyError(f"no classical parameter for target '{target}'")


# prediction-table column -> ClassicalResult field
CLASSICAL_COLUMNS = {
    "trap_energy": "energy",
    "aoe": "aoe",
    "dcr": "dcr",
    "lq": "lq",
    "drift_time_ns": "drift_time_ns",
}

CLASSICAL_NAMES = {
    "low_avse": "A/E (corrected)",
    "high_avse": "-A/E (corrected)",
    "dcr": "-DCR (corrected)",
    "lq": "-LQ (corrected)",
}


def _truth_vector(path: Path, schema: DataSchema, name: str) -> np.ndarray | None:
    with h5py.File(path, "r") as f:
        key = f"{schema.truth_group}/{name}"
        return f[key][()] if key in f else None


def _dsp_config(
    path: Path, schema: DataSchema, info: FileInfo, cal: dict | None
) -> DSPConfig | None:
    """The stored calibration's filters (simulated files: the labels' chain), else the trace's."""
    if cal is not None and "dsp" in cal:
        return DSPConfig(**cal["dsp"])
    tp0 = read_vector(path, schema.tp0, np.float64) if info.has_tp0 else None
    hint = float(np.median(tp0)) if tp0 is not None and tp0.size else None
    return DSPConfig.for_trace(info.trace_length, hint) if hint else None


@dataclass
class RawParameters:
    """The uncalibrated classical parameters of a list of events, in the order of their ids.

    ``values`` holds every parameter of :data:`psdlab.dsp.PARAMETER_NAMES` plus ``detector``
    and ``gain`` (the files' per-channel gains, NaN where unknown), NaN for events not found;
    the rest is what reading them recorded. :func:`calibrate_parameters` turns them into a
    :class:`ClassicalResult`, so that the reading (per file, resumable) and the calibration
    (over every file, or from a calibration run) can happen apart.
    """

    values: dict[str, np.ndarray]
    stored_cal: dict | None = None
    notes: list[str] = field(default_factory=list)
    decay_constants: dict[str, UsedConstants] = field(default_factory=dict)
    # the filters (DSPConfig fields) the parameters were computed with
    dsp: dict[str, Any] | None = None


def _read_file(
    path: Path,
    schema: DataSchema,
    wanted: np.ndarray,
    chunk_events: int,
    tau_us: TauSetting,
    parts: list[dict[str, np.ndarray]],
    out: RawParameters,
    calibration: ClassicalCalibration | None = None,
) -> None:
    """Parameters of the ``wanted`` ids of one file, chunk by chunk, into ``parts``, and what
    reading them recorded into ``out``; a ``calibration`` lends its filters and decay
    constants."""
    info = inspect_file(path, schema)
    ids = read_vector(path, schema.metadata["id"], np.int64)
    take = np.isin(ids, wanted)
    if not take.any():
        return
    cal, dt, notes = file_constants(path, schema)
    out.notes.extend(notes)
    out.stored_cal = out.stored_cal or cal
    det_name = schema.metadata.get("detector")
    detector = (
        read_vector(path, det_name, np.int64)
        if det_name and "detector" in info.metadata
        else np.zeros(info.n_events, np.int64)
    )
    recorded_tau = calibration.tau_us if calibration is not None else None
    tau, used, notes = decay_constants(path, schema, detector, dt, tau_us, recorded_tau)
    out.notes.extend(notes)
    out.decay_constants[path.name] = used
    gain = _truth_vector(path, schema, "gain_kev_per_adc")
    if calibration is not None and calibration.dsp:
        dsp_cfg: DSPConfig | None = DSPConfig(**calibration.dsp)
    else:
        dsp_cfg = _dsp_config(path, schema, info, cal)
    dsp = asdict(dsp_cfg) if dsp_cfg is not None else {}
    if out.dsp is not None and dsp != out.dsp:
        out.notes.append(f"{path.name}: filters differ from the first file's ({dsp})")
    out.dsp = dsp if out.dsp is None else out.dsp
    for start, stop, block in iter_waveform_chunks(info, schema, chunk_events):
        sel = take[start:stop]
        if not sel.any():
            continue
        p = compute_parameters(
            np.asarray(block[sel], dtype=np.float64),
            dt,
            np.asarray(tau[start:stop][sel], dtype=np.float64),
            dsp_cfg,
            chunk_size=chunk_events,
        )
        p["id"] = ids[start:stop][sel]
        p["detector"] = detector[start:stop][sel]
        p["gain"] = (
            np.asarray(gain[start:stop][sel], dtype=float)
            if gain is not None
            else np.full(int(sel.sum()), np.nan)
        )
        parts.append(p)


def _band(
    energy: np.ndarray,
    value: np.ndarray,
    side: str,
    stored: dict | None,
    what: str,
    notes: list[str],
    given: BandCorrection | None = None,
) -> tuple[np.ndarray, BandCorrection | None]:
    """Band-corrected classifier and its band: the ``given`` one (a calibration run's), else
    fitted on these events when they suffice, else the file's stored one, else a flat
    median/MAD normalisation."""
    band = given
    if band is not None:
        notes.append(f"{what} band from the calibration record")
    else:
        band = _fit_band(energy, value, side)
        if band is not None:
            notes.append(f"{what} band fitted on the evaluated events")
        elif stored is not None:
            band = BandCorrection(**stored)
            notes.append(f"{what} band: too few events to fit, the file's stored band used")
        else:
            v = value[np.isfinite(value)]
            if v.size < 2:
                notes.append(f"{what}: no events, NaN")
                return np.full(value.shape, np.nan), None
            med = float(np.median(v))
            mad = float(np.median(np.abs(v - med)) * 1.4826) or 1.0
            band = BandCorrection(c0=med, c1=0.0, w0=mad, w1=0.0)
            notes.append(f"{what} band: too few events to fit, median/MAD normalisation used")
    if band.c1 == 0.0 and band.w1 == 0.0:
        # a flat band needs no energy: events whose energy could not be calibrated (a small
        # unlabelled file) keep a classifier instead of NaN
        return band.classifier(np.ones(value.shape), value), band
    return band.classifier(energy, value), band


def _fit_band(energy: np.ndarray, value: np.ndarray, side: str) -> BandCorrection | None:
    """The band fitted on the events in 100-2700 keV, None when too few or a failed fit."""
    sel = np.isfinite(energy) & np.isfinite(value) & (energy > 100) & (energy < 2700)
    if sel.sum() < MIN_BAND_EVENTS:
        return None
    try:
        band = BandCorrection.fit(energy[sel], value[sel], side=side)
    except (ValueError, TypeError, np.linalg.LinAlgError):
        return None
    finite = all(np.isfinite([band.c0, band.c1, band.w0, band.w1]))
    return band if finite and (band.w0 > 0 or band.w1 > 0) else None


def _aligned(
    p: dict[str, np.ndarray], ids: np.ndarray, notes: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The parameters ``p`` (read in file order) in the order of ``ids``; NaN where an id
    was not found in the files. Returns them and the found mask."""
    order = np.argsort(p["id"], kind="stable")
    sorted_ids = p["id"][order]
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, max(sorted_ids.size - 1, 0))
    found = sorted_ids[pos] == ids
    if not found.all():
        notes.append(f"{int((~found).sum())} evaluated events not found in the raw files (NaN)")
    src = order[pos]

    def aligned(arr: np.ndarray) -> np.ndarray:
        out = np.full(ids.size, np.nan)
        out[found] = arr[src[found]]
        return out

    return {k: aligned(v) for k, v in p.items() if k != "id"}, found


def read_parameters(
    files: Sequence[str | Path],
    schema: DataSchema,
    ids: np.ndarray,
    chunk_events: int = 2000,
    tau_us: TauSetting = None,
    calibration: ClassicalCalibration | None = None,
) -> RawParameters:
    """The uncalibrated parameters of the events ``ids`` in ``files``, in the order of
    ``ids`` (``tau_us`` as for :func:`classical_parameters`; a ``calibration`` lends its
    filters and its decay constants, the latter as for
    :func:`psdlab.report.constants.decay_constants`). Empty ``values`` when none of the
    events is in the files."""
    ids = np.asarray(ids, dtype=np.int64)
    raw = RawParameters({})
    parts: list[dict[str, np.ndarray]] = []
    for path in files:
        _read_file(Path(path), schema, ids, chunk_events, tau_us, parts, raw, calibration)
    if parts:
        joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        raw.values = _aligned(joined, ids, raw.notes)[0]
    return raw


def calibrate_parameters(
    raw: RawParameters,
    ids: np.ndarray,
    ref_energy: np.ndarray | None = None,
    calibration: ClassicalCalibration | None = None,
) -> ClassicalResult:
    """Calibrated energy and band-corrected A/E, DCR and LQ of the ``raw`` parameters.

    Without ``calibration`` every constant is fitted on these events (with the fallbacks
    described in the module docstring); with one (a calibration run's), its constants are
    applied and nothing is fitted. The result's ``calibration`` holds the constants used.
    """
    ids = np.asarray(ids, dtype=np.int64)
    notes = list(raw.notes)
    n = ids.size
    if not raw.values:
        nan = np.full(n, np.nan)
        notes.append("no evaluated event found in the raw files: classical analysis skipped")
        return ClassicalResult(ids, nan, nan, nan, nan, nan, {}, notes, raw.decay_constants)
    values = dict(raw.values)
    gain = values.pop("gain")
    detector = values.pop("detector")
    found = np.isfinite(detector)
    gain_known = bool(found.any()) and bool(np.isfinite(gain[found]).all())
    if calibration is not None and ALL_CHANNELS not in calibration.energy:
        gain_known = False  # a record of files without gains: per-detector scales of the trap
    uncal = values["trap_energy"] * gain if gain_known else values["trap_energy"]
    # with per-channel gains applied one calibration serves every detector; otherwise each
    # detector is its own channel with its own scale
    groups = np.zeros(n, np.int64) if gain_known else np.nan_to_num(detector, nan=-1).astype(int)
    stored = raw.stored_cal
    scales = None if calibration is None else _record_scales(calibration, groups, gain_known)
    alpha = None if calibration is None else calibration.ctc_alpha_per_us
    uncal, uncorrected, alpha = drift_time_correct(
        uncal, groups, values, ref_energy, stored, notes, alpha, scales
    )
    energy, scales = calibrate(uncal, groups, ref_energy, stored, notes, scales)
    bands: dict[str, BandCorrection | None] = {}
    classifiers: dict[str, np.ndarray] = {}
    # the DCR band from its central half: tails of earlier pulses (pile-up) skew both sides
    for name, side, what in (
        ("aoe", "upper", "A/E"),
        ("dcr", "core", "DCR"),
        ("lq", "lower", "LQ"),
    ):
        given = None if calibration is None else calibration.band(name)
        stored_band = (stored or {}).get(f"{name}_band")
        classifiers[name], bands[name] = _band(
            energy, values[name], side, stored_band, what, notes, given
        )
    record = calibration or ClassicalCalibration(
        energy=_energy_record(scales, gain_known, detector, gain),
        ctc_alpha_per_us=alpha,
        bands={k: b.to_dict() for k, b in bands.items() if b is not None},
        tau_us=_median_constants(raw.decay_constants),
        dsp=dict(raw.dsp or {}),
        notes=list(notes),
    )
    return ClassicalResult(
        ids,
        energy,
        classifiers["aoe"],
        classifiers["dcr"],
        classifiers["lq"],
        values["drift_time_ns"],
        values,
        notes,
        raw.decay_constants,
        energy_uncorrected=uncorrected,
        calibration=record,
    )


def _energy_record(
    scales: Mapping[int, EnergyCalibration | None],
    gain_known: bool,
    detector: np.ndarray,
    gain: np.ndarray,
) -> dict[str, dict[str, float]]:
    """The scales for a record: one per detector; with per-channel gains known, the common
    scale ("all", for files with gains) and each detector's scale of its plain trap energy
    (slope times the detector's gain, for files without them, e.g. real ones)."""
    if not gain_known:
        return {str(g): {"slope": c.slope, "offset": c.offset} for g, c in scales.items() if c}
    common = scales.get(0)
    if common is None:
        return {}
    out = {ALL_CHANNELS: {"slope": common.slope, "offset": common.offset}}
    for d in np.unique(detector[np.isfinite(detector)]):
        g = float(np.median(gain[detector == d]))
        out[str(int(d))] = {"slope": common.slope * g, "offset": common.offset}
    return out


def _record_scales(
    calibration: ClassicalCalibration, groups: np.ndarray, gain_known: bool
) -> dict[int, EnergyCalibration | None]:
    """The record's energy scale of each group (None where it has none)."""
    if gain_known:
        return {0: calibration.energy_calibration(ALL_CHANNELS)}
    return {int(g): calibration.energy_calibration(str(int(g))) for g in np.unique(groups)}


def _median_constants(used: Mapping[str, UsedConstants]) -> dict[str, float]:
    """Detector -> the median over the files of its pole-zero constant."""
    per_detector: dict[str, list[float]] = {}
    for constants in used.values():
        for det, c in constants.items():
            per_detector.setdefault(str(det), []).append(float(c["tau_us"]))
    return {det: float(np.median(v)) for det, v in sorted(per_detector.items())}


def classical_parameters(
    files: Sequence[str | Path],
    schema: DataSchema,
    ids: np.ndarray,
    ref_energy: np.ndarray | None = None,
    chunk_events: int = 2000,
    tau_us: TauSetting = None,
    calibration: ClassicalCalibration | None = None,
) -> ClassicalResult:
    """Classical parameters of the events ``ids`` in ``files``, in the order of ``ids``.

    ``ref_energy`` (the events' ``energy_label``, same order as ``ids``) only validates the
    line calibration and serves as its last fallback; it never enters a PSD parameter.
    ``tau_us`` is the pole-zero decay constant: None = each file's own per-channel constants
    where it has them, else estimated per detector from its pulses' tails; a number = every
    detector; ``{detector: tau_us}`` = those detectors (the others as for None). The
    constants used are in the result's ``decay_constants`` and ``notes``
    (:mod:`psdlab.report.constants`). ``calibration`` (a calibration run's record) is applied
    instead of fitting the constants on these events; its decay constants serve the
    detectors that neither ``tau_us`` nor the files' own constants cover.
    """
    raw = read_parameters(files, schema, ids, chunk_events, tau_us, calibration)
    return calibrate_parameters(raw, ids, ref_energy, calibration)
