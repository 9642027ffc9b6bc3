"""Energy section of the report: line widths and bias/resolution, network vs trap filter.

A regressor can have a small MAE and still smear the lines a spectroscopist needs, so it is
judged as the trap filter is: by the FWHM of the 583.2 and 2614.5 keV lines and by the bias
and resolution of E - E_ref across the spectrum (docs/report.md).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.report.figures import energy_figure, peak_figure
from psdlab.report.lines import line_fwhm

ENERGY_LINES = (583.2, 2614.5)
ENERGY_BINS = np.arange(100.0, 2800.0, 100.0)
OVERALL_RANGE_KEV = (500.0, 3000.0)


def binned_residuals(
    energy: np.ndarray, ref: np.ndarray, edges: np.ndarray = ENERGY_BINS
) -> dict[str, list[float]]:
    """Median residual and half the 16-84 % range per reference-energy bin (>= 10 events)."""
    e, r = np.asarray(energy, float), np.asarray(ref, float)
    out: dict[str, list[float]] = {"centre": [], "bias": [], "resolution": [], "n": []}
    for lo, hi in itertools.pairwise(edges):
        m = (r >= lo) & (r < hi) & np.isfinite(e)
        d = e[m] - r[m]
        out["centre"].append(0.5 * (lo + hi))
        out["n"].append(int(m.sum()))
        if d.size < 10:
            out["bias"].append(math.nan)
            out["resolution"].append(math.nan)
            continue
        q16, q50, q84 = np.quantile(d, [0.16, 0.5, 0.84])
        out["bias"].append(float(q50))
        out["resolution"].append(float(0.5 * (q84 - q16)))
    return out


def _overall_residual(e: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Bias and resolution of ``e`` over 500-3000 keV of the reference, as single numbers."""
    lo, hi = OVERALL_RANGE_KEV
    m = np.isfinite(e) & np.isfinite(ref) & (ref > lo) & (ref < hi)
    d = e[m] - ref[m]
    if d.size < 10:
        return {"bias": math.nan, "resolution": math.nan, "n": int(m.sum())}
    return {
        "bias": float(np.median(d)),
        "resolution": float(0.5 * np.diff(np.quantile(d, [0.16, 0.84]))[0]),
        "n": int(m.sum()),
    }


def _line(e: np.ndarray, line: float, ref: np.ndarray | None, min_events: float) -> dict:
    """``line_fwhm`` flagged ``low_statistics`` when its window held < ``min_events``."""
    fit = line_fwhm(e, line, ref)
    return {**fit, "low_statistics": bool(fit["n_events"] < min_events)}


def energy_section(
    pred: np.ndarray,
    trap: np.ndarray,
    ref: np.ndarray,
    ref_name: str,
    label: np.ndarray | None,
    min_events: float = 100.0,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """FWHM at 583.2 and 2614.5 keV and bias/resolution vs energy, network vs trap filter.

    A line fit from fewer than ``min_events`` events in its window is kept but flagged.
    """
    line_ref = label if label is not None else ref
    estimators = {"network": pred, "trap_filter": trap}
    fwhm = {
        name: {f"{line:g}": _line(e, line, line_ref, min_events) for line in ENERGY_LINES}
        for name, e in estimators.items()
    }
    binned = {name: binned_residuals(e, ref) for name, e in estimators.items()}
    overall = {name: _overall_residual(e, ref) for name, e in estimators.items()}
    sec = {"reference": ref_name, "fwhm": fwhm, "binned": binned, "overall_500_3000": overall}
    figs = {
        "energy_lines": peak_figure(estimators, ENERGY_LINES, fwhm),
        "energy_bias_resolution": energy_figure(binned),
    }
    return sec, figs
