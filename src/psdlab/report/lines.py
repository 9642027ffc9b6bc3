"""FWHM of a calibration line as seen by one energy estimator (network or trap filter).

A network's line can be shifted by tens of keV and be tens of keV wide, where the trap
filter's is 2-3 keV: a fixed fit window either cuts the broad line or drowns the sharp one
in continuum. The events whose reference energy lies at the line tell where the estimator
puts the line and how wide it is, and the fit window follows them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from psdlab.dsp import peak_fit

MIN_HALF_WINDOW_KEV = 15.0
MAX_HALF_WINDOW_KEV = 150.0


def _nan_fit(note: str) -> dict[str, Any]:
    return {"fwhm": math.nan, "fwhm_err": math.nan, "mu": math.nan, "n_events": 0, "note": note}


def _shift_and_spread(
    energy: np.ndarray, line: float, ref: np.ndarray | None
) -> tuple[float, float | None]:
    """Where the estimator puts ``line`` and half its 16-84 % spread there (None: unknown)."""
    if ref is None:
        return line, None
    r = np.asarray(ref, dtype=float)
    near = np.isfinite(r) & (np.abs(r - line) < 3.0) & np.isfinite(energy)
    if near.sum() < 5:
        return line, None
    d = np.asarray(energy)[near] - r[near]
    spread = 0.5 * float(np.percentile(d, 84) - np.percentile(d, 16))
    # below 0.1 keV the estimator is the reference itself (e.g. the trap filter against
    # energy_label, which is a calibrated trap filter): no width information
    return line + float(np.median(d)), (spread if spread >= 0.1 else None)


def _fit(e: np.ndarray, centre: float, spread: float | None) -> Any:
    """Peak fit, the window widened to 3 FWHM (at most 150 keV) while it cuts the line."""
    if spread is None:
        hw = MIN_HALF_WINDOW_KEV
    else:
        hw = float(np.clip(4.0 * spread, MIN_HALF_WINDOW_KEV, MAX_HALF_WINDOW_KEV))
    fit = None
    for _ in range(3):
        fit = peak_fit(e, centre, half_window=hw, sigma_guess=spread or None)
        if 2.5 * fit.fwhm <= hw or hw >= MAX_HALF_WINDOW_KEV:
            break
        hw = min(MAX_HALF_WINDOW_KEV, 3.0 * fit.fwhm)
    return fit


def line_fwhm(energy: np.ndarray, line: float, ref: np.ndarray | None = None) -> dict[str, Any]:
    """FWHM of ``line`` (Gaussian + step + flat fit), NaN with a note when it cannot be fitted.

    Events whose reference energy lies at the line tell how the estimator shifts and smears
    it: the window is centred on the shifted line and sized to that spread, so a network
    whose line is tens of keV wide is fitted as a whole. A fit much narrower than that spread,
    or far from where those events lie, has locked onto a fluctuation and is rejected.
    """
    e = np.asarray(energy, dtype=float)
    e = e[np.isfinite(e)]
    centre, spread = _shift_and_spread(energy, line, ref)
    try:
        fit = _fit(e, centre, spread)
    except (RuntimeError, ValueError) as err:
        return _nan_fit(f"fit failed: {err}")
    if not (np.isfinite(fit.fwhm_err) and fit.fwhm_err < fit.fwhm):
        return {**_nan_fit("fit did not converge (too few events?)"), "n_events": fit.n_events}
    if spread is not None and (
        fit.sigma < 0.3 * spread or abs(fit.mu - centre) > max(3.0, 2.0 * spread)
    ):
        return {
            **_nan_fit(
                f"fit (mu {fit.mu:.1f} keV, sigma {fit.sigma:.2f} keV) inconsistent with the "
                f"events at the line (shift {centre - line:+.1f} keV, spread {spread:.1f} keV): "
                "a fluctuation, not the line"
            ),
            "n_events": fit.n_events,
        }
    return {
        "fwhm": fit.fwhm,
        "fwhm_err": fit.fwhm_err,
        "mu": fit.mu,
        "n_events": fit.n_events,
        "note": "",
    }
