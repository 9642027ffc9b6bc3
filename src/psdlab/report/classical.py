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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from psdlab.data.reader import FileInfo, inspect_file, iter_waveform_chunks, read_vector
from psdlab.data.schema import DataSchema
from psdlab.dsp import BandCorrection, DSPConfig, EnergyCalibration, compute_parameters
from psdlab.report.constants import (
    TauSetting,
    UsedConstants,
    decay_constants,
    file_constants,
)

log = logging.getLogger(__name__)

MIN_BAND_EVENTS = 2000  # events in 100-2700 keV needed to fit a band on the evaluated data
CALIBRATION_TOLERANCE_KEV = 3.0  # median |E - energy_label| accepted for a line calibration


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
class _Read:
    """What :func:`_read_parameters` gathers over the files."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    stored_cal: dict | None = None
    notes: list[str] = field(default_factory=list)
    decay_constants: dict[str, UsedConstants] = field(default_factory=dict)


def _read_file(
    path: Path,
    schema: DataSchema,
    wanted: np.ndarray,
    chunk_events: int,
    tau_us: TauSetting,
    out: _Read,
) -> None:
    """Parameters of the ``wanted`` ids of one file, chunk by chunk, into ``out``."""
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
    tau, used, notes = decay_constants(path, schema, detector, dt, tau_us)
    out.notes.extend(notes)
    out.decay_constants[path.name] = used
    gain = _truth_vector(path, schema, "gain_kev_per_adc")
    dsp_cfg = _dsp_config(path, schema, info, cal)
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
        out.parts.append(p)


def _read_parameters(
    files: Sequence[Path],
    schema: DataSchema,
    wanted: np.ndarray,
    chunk_events: int,
    tau_us: TauSetting,
) -> tuple[dict[str, np.ndarray], _Read]:
    """Parameters of the ``wanted`` ids in ``files`` (plus id, detector, gain) and the rest."""
    read = _Read()
    for path in files:
        _read_file(Path(path), schema, wanted, chunk_events, tau_us, read)
    if not read.parts:
        return {}, read
    return {k: np.concatenate([p[k] for p in read.parts]) for k in read.parts[0]}, read


def _calibration_ok(energy: np.ndarray, ref: np.ndarray | None) -> bool:
    """A line calibration is accepted when it agrees with ``energy_label`` (if known)."""
    if ref is None:
        return bool(np.isfinite(energy).any())
    sel = np.isfinite(ref) & (ref > 200) & (ref < 3000) & np.isfinite(energy)
    if sel.sum() < 10:
        return False
    return bool(np.median(np.abs(energy[sel] - ref[sel])) < CALIBRATION_TOLERANCE_KEV)


def _calibrate(
    uncal: np.ndarray,
    groups: np.ndarray,
    ref: np.ndarray | None,
    stored: dict | None,
    notes: list[str],
) -> np.ndarray:
    """keV from the uncalibrated trap energy, one calibration per group (detector)."""
    out = np.full(uncal.shape, np.nan)
    methods: dict[str, int] = {}
    for g in np.unique(groups):
        m = groups == g
        e = None
        try:
            cal = EnergyCalibration.fit(uncal[m])
            e = cal(uncal[m])
            method = "228Th line fit"
            if not _calibration_ok(e, None if ref is None else ref[m]):
                e = None
        except (RuntimeError, ValueError, IndexError, TypeError):
            e = None
        if e is None and stored is not None and "energy_slope" in stored:
            e = stored["energy_offset"] + stored["energy_slope"] * uncal[m]
            method = "the file's stored calibration"
        if e is None and ref is not None:
            sel = m & np.isfinite(ref) & (ref > 100) & np.isfinite(uncal)
            if sel.sum() >= 2:
                slope, offset = np.polyfit(uncal[sel], ref[sel], 1)
                e = offset + slope * uncal[m]
                method = "a linear fit to energy_label"
        if e is None:
            method = "none (NaN)"
            e = np.full(int(m.sum()), np.nan)
        out[m] = e
        methods[method] = methods.get(method, 0) + int(m.sum())
    notes.append(
        "trap energy calibrated with "
        + ", ".join(f"{k} ({v} events)" for k, v in sorted(methods.items()))
    )
    return out


def _band(
    energy: np.ndarray,
    value: np.ndarray,
    side: str,
    stored: dict | None,
    what: str,
    notes: list[str],
) -> np.ndarray:
    """Band-corrected classifier; fitted on these events when they suffice."""
    sel = np.isfinite(energy) & np.isfinite(value) & (energy > 100) & (energy < 2700)
    band = None
    if sel.sum() >= MIN_BAND_EVENTS:
        try:
            band = BandCorrection.fit(energy[sel], value[sel], side=side)
            if not all(np.isfinite([band.c0, band.c1, band.w0, band.w1])) or (
                band.w0 <= 0 and band.w1 <= 0
            ):
                band = None
        except (ValueError, TypeError, np.linalg.LinAlgError):
            band = None
    if band is not None:
        notes.append(f"{what} band fitted on the evaluated events")
    elif stored is not None:
        band = BandCorrection(**stored)
        notes.append(f"{what} band: too few events to fit, the file's stored band used")
    else:
        v = value[np.isfinite(value)]
        if v.size < 2:
            notes.append(f"{what}: no events, NaN")
            return np.full(value.shape, np.nan)
        med = float(np.median(v))
        mad = float(np.median(np.abs(v - med)) * 1.4826) or 1.0
        band = BandCorrection(c0=med, c1=0.0, w0=mad, w1=0.0)
        notes.append(f"{what} band: too few events to fit, median/MAD normalisation used")
        # a flat band needs no energy: events whose energy could not be calibrated (a small
        # unlabelled file) keep a classifier instead of NaN
        return band.classifier(np.ones(value.shape), value)
    return band.classifier(energy, value)


def classical_parameters(
    files: Sequence[str | Path],
    schema: DataSchema,
    ids: np.ndarray,
    ref_energy: np.ndarray | None = None,
    chunk_events: int = 2000,
    tau_us: TauSetting = None,
) -> ClassicalResult:
    """Classical parameters of the events ``ids`` in ``files``, in the order of ``ids``.

    ``ref_energy`` (the events' ``energy_label``, same order as ``ids``) only validates the
    line calibration and serves as its last fallback; it never enters a PSD parameter.
    ``tau_us`` is the pole-zero decay constant: None = each file's own per-channel constants
    where it has them, else estimated per detector from its pulses' tails; a number = every
    detector; ``{detector: tau_us}`` = those detectors (the others as for None). The
    constants used are in the result's ``decay_constants`` and ``notes``
    (:mod:`psdlab.report.constants`).
    """
    ids = np.asarray(ids, dtype=np.int64)
    p, read = _read_parameters([Path(f) for f in files], schema, ids, chunk_events, tau_us)
    notes, stored = read.notes, read.stored_cal
    n = ids.size
    nan = np.full(n, np.nan)
    if not p:
        notes.append("no evaluated event found in the raw files: classical analysis skipped")
        return ClassicalResult(ids, nan, nan, nan, nan, nan, {}, notes, read.decay_constants)
    order = np.argsort(p["id"], kind="stable")
    sorted_ids = p["id"][order]
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, max(sorted_ids.size - 1, 0))
    found = sorted_ids[pos] == ids
    if not found.all():
        notes.append(f"{int((~found).sum())} evaluated events not found in the raw files (NaN)")
    src = order[pos]

    def aligned(arr: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan)
        out[found] = arr[src[found]]
        return out

    raw = {k: aligned(v) for k, v in p.items() if k not in ("id",)}
    gain = raw.pop("gain")
    detector = raw.pop("detector")
    gain_known = bool(np.isfinite(gain[found]).all()) and found.any()
    uncal = raw["trap_energy"] * gain if gain_known else raw["trap_energy"]
    # with per-channel gains applied one calibration serves every detector; otherwise each
    # detector is its own channel with its own scale
    groups = np.zeros(n, np.int64) if gain_known else np.nan_to_num(detector, nan=-1).astype(int)
    energy = _calibrate(uncal, groups, ref_energy, stored, notes)
    aoe = _band(energy, raw["aoe"], "upper", (stored or {}).get("aoe_band"), "A/E", notes)
    dcr = _band(energy, raw["dcr"], "lower", (stored or {}).get("dcr_band"), "DCR", notes)
    lq = _band(energy, raw["lq"], "lower", (stored or {}).get("lq_band"), "LQ", notes)
    return ClassicalResult(
        ids, energy, aoe, dcr, lq, raw["drift_time_ns"], raw, notes, read.decay_constants
    )
