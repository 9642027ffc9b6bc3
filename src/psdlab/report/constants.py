"""Per-file and per-detector constants of the classical analysis: decay constants, stored cuts.

Real data needs constants that simulated files carry with them. The pole-zero decay constant
differs per detector (MJD: 64-77 us; the LEGEND pulses of ``../shared/realdata``: 80-900 us)
and a wrong one tilts every tail: DCR and the trap energy suffer first. So each file's
constants are resolved per detector, in this order, and what was used is recorded:

1. ``tau_us`` as configured: a number for every detector, or ``{detector: tau_us}``;
2. the file's own per-channel constants (``truth/tau_us``, simulated files);
3. a calibration run's constants (``predict.py calibration=PATH``), per detector;
4. an estimate from the tails of that detector's pulses in the file
   (``psdlab.dsp.decay.estimate_decay_constants``: the median over its usable tails, marked
   when fewer than 5), the file's median estimate for detectors with no usable tail;
5. the MJD default of 72 us, noted as such, when nothing better is available.

A file's ``calibration`` attribute is used as psdlab's stored cut calibration only when it
has that structure: other tools write attributes of the same name (the real file's holds a
gain, a decay constant and a method per detector), and misreading one would silently
replace the analysis' constants.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from psdlab.data.schema import DataSchema
from psdlab.labelling.cuts import CutCalibration
from psdlab.utils.errors import ConfigError

DEFAULT_TAU_US = 72.0  # typical MJD preamplifier decay constant (mjd-facts.md)
MIN_PULSES = 5  # accepted tails for a detector's constant to count as well measured
MAX_FEW_PULSE_ROWS = 5000  # rows read again for the detectors with fewer tails
# tau_us as configured: None (per file), one value, or {detector: value}
TauSetting = float | Mapping[Any, float] | None
# detector -> {"tau_us": value, "source": where it came from}
UsedConstants = dict[str, dict[str, Any]]


def is_psdlab_calibration(cal: Any) -> bool:
    """True when ``cal`` has every field of psdlab's :class:`CutCalibration`."""
    names = {f.name for f in dataclasses.fields(CutCalibration)}
    return isinstance(cal, dict) and names <= set(cal)


def file_constants(path: Path, schema: DataSchema) -> tuple[dict | None, float, list[str]]:
    """The file's stored psdlab calibration (or None), its sampling period in ns, notes."""
    cal, dt, notes = None, float(schema.sampling_period_ns), []
    with h5py.File(path, "r") as f:
        if "calibration" in f.attrs:
            with contextlib.suppress(TypeError, ValueError):
                cal = json.loads(f.attrs["calibration"])
        if "simulator_config" in f.attrs:
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                dt = float(json.loads(f.attrs["simulator_config"]).get("sampling_period_ns", dt))
    if cal is not None and not is_psdlab_calibration(cal):
        notes.append(
            f"{path.name}: its 'calibration' attribute is not psdlab's cut calibration "
            "(different fields): not used"
        )
        cal = None
    return cal, dt, notes


def _configured(tau_us: TauSetting) -> float | dict[int, float] | None:
    """The ``tau_us`` setting checked: None, one positive number, or {int detector: number}."""

    def value(v: Any, key: str) -> float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0:
            raise ConfigError(f"{key}: expected a positive decay constant in us, got {v!r}")
        return float(v)

    if tau_us is None:
        return None
    if isinstance(tau_us, Mapping):
        out = {}
        for k, v in tau_us.items():
            try:
                out[int(k)] = value(v, f"tau_us[{k}]")
            except (TypeError, ValueError) as err:
                if isinstance(err, ConfigError):
                    raise
                raise ConfigError(f"tau_us: detector keys must be integers, got {k!r}") from None
        return out
    return value(tau_us, "tau_us")


def _tail_estimator() -> Callable[..., dict[int, float]] | None:
    """``psdlab.dsp.decay.estimate_decay_constants`` where that module exists, else None."""
    try:
        from psdlab.dsp.decay import estimate_decay_constants
    except ImportError:
        return None
    return estimate_decay_constants


def _fit_tails(
    estimator: Callable[..., dict[int, float]],
    ds: h5py.Dataset,
    detector: np.ndarray,
    dt_ns: float,
    wanted: np.ndarray,
) -> dict[int, tuple[float, str]]:
    """{detector: (tau_us, source)}: a median over >= MIN_PULSES tails, else over fewer.

    A detector with one or two pulses in the file (common in mixed real files) is still
    better served by its own tails than by other detectors' constants, which can differ by
    a factor of 5; its source says so. That second pass reads only those detectors' rows.
    """
    fitted = estimator(ds, detector, sampling_period_ns=dt_ns, min_pulses=MIN_PULSES)
    out = {int(d): (float(tau), "tail fit") for d, tau in fitted.items()}
    few = np.isin(detector, wanted) & ~np.isin(detector, list(out))
    if 0 < few.sum() <= MAX_FEW_PULSE_ROWS:
        rows = np.flatnonzero(few)
        more = estimator(ds[rows], detector[rows], sampling_period_ns=dt_ns, min_pulses=1)
        why = f"tail fit of fewer than {MIN_PULSES} pulses"
        out.update({int(d): (float(tau), why) for d, tau in more.items()})
    return out


def _estimate(
    path: Path, schema: DataSchema, detector: np.ndarray, dt_ns: float, wanted: np.ndarray
) -> dict[int, tuple[float, str]]:
    """{detector: (tau_us, source)} for the ``wanted`` detectors, from the pulse tails."""
    estimator = _tail_estimator()
    if estimator is None:
        why = f"default {DEFAULT_TAU_US:g} us (no estimate: psdlab.dsp.decay is not available)"
        return {int(d): (DEFAULT_TAU_US, why) for d in wanted}
    with h5py.File(path, "r") as f:  # the estimator reads the dataset in chunks
        fitted = _fit_tails(estimator, f[schema.waveform], detector, dt_ns, wanted)
    good = [tau for tau, src in fitted.values() if src == "tail fit"]
    if fitted:
        fallback = float(np.median(good or [tau for tau, _ in fitted.values()]))
        why = f"no usable pulse tail: the file's median tail fit, {fallback:.1f} us"
    else:
        fallback, why = DEFAULT_TAU_US, f"no usable pulse tail in the file: {DEFAULT_TAU_US:g} us"
    return {int(d): fitted.get(int(d), (fallback, why)) for d in wanted}


def decay_constants(
    path: Path,
    schema: DataSchema,
    detector: np.ndarray,
    dt_ns: float,
    tau_us: TauSetting = None,
    recorded: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, UsedConstants, list[str]]:
    """Per-event decay constants of one file, what was used per detector, and notes.

    ``recorded`` (detector id as a string -> us: a calibration run's constants) serves the
    detectors that neither ``tau_us`` nor the file's own constants cover, before any
    estimate from this file's tails."""
    setting = _configured(tau_us)
    det = np.asarray(detector, dtype=np.int64)
    per_event = np.full(det.shape, np.nan)
    chosen: dict[int, tuple[float, str]] = {}
    if isinstance(setting, float):
        chosen = {int(d): (setting, "config tau_us") for d in np.unique(det)}
    elif setting:
        chosen = {
            int(d): (setting[int(d)], "config tau_us") for d in np.unique(det) if d in setting
        }
    for d, (tau, _) in chosen.items():
        per_event[det == d] = tau
    rest = np.isnan(per_event)
    if rest.any():
        with h5py.File(path, "r") as f:
            key = f"{schema.truth_group}/tau_us"
            truth = np.asarray(f[key][()], dtype=np.float64) if key in f else None
        if truth is not None:
            per_event[rest] = truth[rest]
            for d in np.unique(det[rest]):
                chosen[int(d)] = (float(np.median(truth[det == d])), "the file's truth/tau_us")
        else:
            for d in np.unique(det[rest]):
                if str(int(d)) in (recorded or {}):
                    chosen[int(d)] = (float(recorded[str(int(d))]), "the calibration record")
                    per_event[det == d] = chosen[int(d)][0]
            rest = np.isnan(per_event)
            if rest.any():
                est = _estimate(path, schema, det, dt_ns, np.unique(det[rest]))
                for d, (tau, source) in est.items():
                    per_event[rest & (det == d)] = tau
                    chosen[d] = (tau, source)
    used = {str(d): {"tau_us": tau, "source": src} for d, (tau, src) in sorted(chosen.items())}
    return per_event, used, [describe(path.name, used)]


def describe(name: str, used: UsedConstants) -> str:
    """One note line: the decay constants used for a file, grouped by where they came from."""
    by_source: dict[str, list[str]] = {}
    for d, c in used.items():
        by_source.setdefault(c["source"], []).append(f"{d}: {c['tau_us']:.1f}")
    groups = "; ".join(f"{src}: {', '.join(v)}" for src, v in by_source.items())
    return f"{name}: pole-zero decay constants (us) per detector, {groups}"
