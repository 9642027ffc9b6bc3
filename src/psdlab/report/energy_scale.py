"""The energy scale of the classical analysis: line calibration and drift-time correction.

Calibrations follow what an experiment does with calibration data, without labels or truth:
the trap energy is calibrated on the 228Th lines (2614.5 keV first, then every strong line),
checked against ``energy_label`` when the files have it, and corrected for charge trapping
with MJD's drift-time correction fitted on the 2614.5 keV line.
"""

from __future__ import annotations

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
) -> tuple[np.ndarray, np.ndarray | None]:
    """MJD's drift-time (charge-trapping) correction of the uncalibrated trap energy.

    Holes trapped along longer drift paths lower the energy in proportion to the drift time;
    E * (1 + alpha * t_drift) restores it (arXiv:2208.03424). alpha is fitted on the 2614.5
    keV line of the evaluated events (a rough calibration first; alpha does not depend on the
    scale), else taken from the file's stored calibration. Returns the corrected uncalibrated
    energy and the calibrated energy without the correction (None when nothing was corrected).
    """
    drift = raw.get("qdrift_ns")
    if drift is None or not np.isfinite(drift).any():
        return uncal, None
    rough = calibrate(uncal, groups, ref, stored, [])
    alpha = DriftTimeCorrection.fit(rough, drift).alpha_per_us
    source = "fitted on the 2614.5 keV line of these events"
    if alpha == 0.0 and (stored or {}).get("ctc_alpha_per_us"):
        alpha, source = float(stored["ctc_alpha_per_us"]), "the file's stored calibration"
    if alpha == 0.0:
        notes.append("drift-time correction: too few 2614.5 keV events to fit it, not applied")
        return uncal, None
    notes.append(f"drift-time (charge-trapping) correction: alpha = {alpha:.2e} per us ({source})")
    return DriftTimeCorrection(alpha)(uncal, drift), rough


def calibrate(
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
            if not calibration_ok(e, None if ref is None else ref[m]):
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
