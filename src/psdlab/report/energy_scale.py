"""The energy scale of the classical analysis: line calibration and drift-time correction.

Calibrations follow what an experiment does with calibration data, without labels or truth:
the trap energy is calibrated on the 228Th lines (2614.5 keV first, then every strong line),
checked against ``energy_label`` when the files have it, and corrected for charge trapping
with MJD's drift-time correction fitted on the 2614.5 keV line.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from psdlab.dsp import DriftTimeCorrection, EnergyCalibration

CALIBRATION_TOLERANCE_KEV = 3.0  # median |E - energy_label| accepted for a line calibration


def calibration_ok(energy: np.ndarray, ref: np.ndarray | None) -> bool:
    """A line calibration is accepted when it agrees with ``energy_label`` (if known)."""
    if ref is None:
        return bool(np.isfinite(energy).any())
    sel = np.isfinite(ref) & (ref > 200) & (ref < 3000) & np.isfinite(energy)
    if sel.sum() < 10:
        return False
    return bool(np.median(np.abs(energy[sel] - ref[sel])) < CALIBRATION_TOLERANCE_KEV)


def drift_time_correct(
    uncal: np.ndarray,
    groups: np.ndarray,
    raw: dict[str, np.ndarray],
    ref: np.ndarray | None,
    stored: dict | None,
    notes: list[str],
    alpha: float | None = None,
    scales: Mapping[int, EnergyCalibration | None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """MJD's drift-time (charge-trapping) correction of the uncalibrated trap energy.

    Holes trapped along longer drift paths lower the energy in proportion to the drift time;
    E * (1 + alpha * t_drift) restores it (arXiv:2208.03424). alpha is the one given (a
    calibration run's), else fitted on the 2614.5 keV line of the evaluated events (a rough
    calibration first; alpha does not depend on the scale), else taken from the file's stored
    calibration. The rough and the uncorrected calibration use ``scales`` when given (a
    calibration run's, as :func:`calibrate`). Returns the corrected uncalibrated energy, the
    calibrated energy without the correction (None when nothing was corrected) and alpha
    (0 for none).
    """
    drift = raw.get("qdrift_ns")
    if drift is None or not np.isfinite(drift).any():
        return uncal, None, 0.0
    rough, _ = calibrate(uncal, groups, ref, stored, [], scales)
    if alpha is not None:
        source = "the calibration record"
    else:
        alpha = DriftTimeCorrection.fit(rough, drift).alpha_per_us
        source = "fitted on the 2614.5 keV line of these events"
        if alpha == 0.0 and (stored or {}).get("ctc_alpha_per_us"):
            alpha, source = float(stored["ctc_alpha_per_us"]), "the file's stored calibration"
    if alpha == 0.0:
        notes.append("drift-time correction: too few 2614.5 keV events to fit it, not applied")
        return uncal, None, 0.0
    notes.append(f"drift-time (charge-trapping) correction: alpha = {alpha:.2e} per us ({source})")
    return DriftTimeCorrection(alpha)(uncal, drift), rough, float(alpha)


def _fit_scale(
    uncal: np.ndarray, ref: np.ndarray | None, stored: dict | None
) -> tuple[EnergyCalibration | None, str]:
    """One group's energy scale and how it was found: the 228Th lines (accepted when they
    agree with ``energy_label``, if known), the file's stored scale, a fit to energy_label."""
    try:
        cal = EnergyCalibration.fit(uncal)
        if calibration_ok(cal(uncal), ref):
            return cal, "228Th line fit"
    except (RuntimeError, ValueError, IndexError, TypeError):
        pass
    if stored is not None and "energy_slope" in stored:
        return EnergyCalibration(stored["energy_slope"], stored["energy_offset"]), (
            "the file's stored calibration"
        )
    if ref is not None:
        sel = np.isfinite(ref) & (ref > 100) & np.isfinite(uncal)
        if sel.sum() >= 2:
            slope, offset = np.polyfit(uncal[sel], ref[sel], 1)
            return EnergyCalibration(float(slope), float(offset)), "a linear fit to energy_label"
    return None, "none (NaN)"


def calibrate(
    uncal: np.ndarray,
    groups: np.ndarray,
    ref: np.ndarray | None,
    stored: dict | None,
    notes: list[str],
    scales: Mapping[int, EnergyCalibration | None] | None = None,
) -> tuple[np.ndarray, dict[int, EnergyCalibration | None]]:
    """keV from the uncalibrated trap energy, one scale per group (detector).

    ``scales`` given (a calibration run's): each group's scale is taken from it, and a group
    it lacks gets NaN. Otherwise each group's scale is fitted on its events. Returns the
    energies and the scales used.
    """
    out = np.full(uncal.shape, np.nan)
    used: dict[int, EnergyCalibration | None] = {}
    methods: dict[str, int] = {}
    for g in np.unique(groups):
        m = groups == g
        if scales is not None:
            cal = scales.get(int(g))
            method = "the calibration record" if cal else "none: not in the calibration record"
        else:
            cal, method = _fit_scale(uncal[m], None if ref is None else ref[m], stored)
        used[int(g)] = cal
        out[m] = cal(uncal[m]) if cal is not None else np.nan
        methods[method] = methods.get(method, 0) + int(m.sum())
    notes.append(
        "trap energy calibrated with "
        + ", ".join(f"{k} ({v} events)" for k, v in sorted(methods.items()))
    )
    return out, used
