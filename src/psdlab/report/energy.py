"""Energy section of the report: line widths and bias/resolution, network vs trap filter.

A regressor can have a small MAE and still smear the lines a spectroscopist needs, so it is
judged as the trap filter is: by the FWHM of the 583.2, 860.6, 1592.5 and 2614.5 keV lines,
a fitted FWHM(E) curve through them, and the bias and resolution of E - E_ref across the
spectrum (docs/report.md). Estimators: the network as it comes; the network recalibrated
per channel on the 228Th lines of the evaluated events (``network_recal``: a network cannot
know a channel's keV/ADC, the trap filter is given it); the trap filter; and the trap filter
with MJD's drift-time (charge-trapping) correction fitted on the 2614.5 keV line
(``trap_filter_dtc``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import nnls

from psdlab.dsp import DriftTimeCorrection
from psdlab.plots.common import new_figure
from psdlab.report.figures import energy_figure, peak_figure
from psdlab.report.lines import line_fwhm
from psdlab.tasks.calibrate import fit_recalibration

ENERGY_LINES = (583.2, 860.6, 1592.5, 2614.5)
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


def fwhm_curve(fits: dict[str, dict]) -> dict[str, Any]:
    """FWHM(E) = sqrt(a^2 + b^2 E + c^2 E^2) through the fitted lines (noise, Fano/charge
    statistics, charge-collection terms), non-negative least squares on FWHM^2 weighted by
    its errors; NaN with fewer than 3 good lines."""
    pts = [
        (float(k), f["fwhm"], f["fwhm_err"])
        for k, f in fits.items()
        if np.isfinite(f["fwhm"]) and np.isfinite(f["fwhm_err"]) and f["fwhm_err"] > 0
    ]
    if len(pts) < 3:
        return {"a": math.nan, "b": math.nan, "c": math.nan, "n_lines": len(pts)}
    e, w, dw = (np.array(v) for v in zip(*pts, strict=True))
    sigma = 2.0 * w * dw  # error of FWHM^2
    design = np.stack([np.ones_like(e), e, e**2], axis=1) / sigma[:, None]
    coef, _ = nnls(design, w**2 / sigma)
    a, b, c = np.sqrt(coef)
    return {"a": float(a), "b": float(b), "c": float(c), "n_lines": len(pts)}


def _curve_figure(curves: dict[str, dict], fwhm: dict[str, dict]) -> Figure:
    """The fitted FWHM of each line and the FWHM(E) curve of each estimator."""
    fig, axes = new_figure(ncols=1, size=(5.0, 3.6))
    ax = axes[0, 0]
    grid = np.linspace(100.0, 3000.0, 200)
    for i, (name, cur) in enumerate(curves.items()):
        colour = f"C{i}"
        pts = [(float(k), f["fwhm"], f["fwhm_err"]) for k, f in fwhm[name].items()]
        ax.errorbar(*zip(*pts, strict=True), fmt="o", ms=3, color=colour, label=name)
        if np.isfinite(cur["a"]):
            ax.plot(
                grid,
                np.sqrt(cur["a"] ** 2 + cur["b"] ** 2 * grid + cur["c"] ** 2 * grid**2),
                color=colour,
                lw=0.8,
            )
    ax.set(xlabel="energy [keV]", ylabel="FWHM [keV]")
    ax.legend(fontsize=7)
    return fig


def _estimators(
    pred: np.ndarray,
    trap: np.ndarray,
    detector: np.ndarray | None,
    qdrift_ns: np.ndarray | None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Network (as is, recalibrated per channel) and trap filter (without, with DTC)."""
    est = {"network": pred}
    info: dict[str, Any] = {}
    if detector is not None:
        recal = fit_recalibration(pred, detector)
        est["network_recal"] = recal(pred, detector)
        info["network_recalibration"] = recal.to_dict()
    est["trap_filter"] = trap
    if qdrift_ns is not None and np.isfinite(qdrift_ns).any():
        dtc = DriftTimeCorrection.fit(trap, qdrift_ns)
        corrected = dtc(trap, qdrift_ns)
        # the correction raises the scale by ~alpha * <t>: one line calibration puts it back
        est["trap_filter_dtc"] = fit_recalibration(corrected)(corrected)
        info["dtc_alpha_per_us"] = dtc.alpha_per_us
    return est, info


def energy_section(
    pred: np.ndarray,
    trap: np.ndarray,
    ref: np.ndarray,
    ref_name: str,
    label: np.ndarray | None,
    min_events: float = 100.0,
    detector: np.ndarray | None = None,
    qdrift_ns: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """FWHM at the 228Th lines, FWHM(E) curves and bias/resolution vs energy of every
    estimator (see the module docstring); ``detector`` adds the per-channel recalibrated
    network, ``qdrift_ns`` (the charge-weighted drift time) the drift-time-corrected trap.

    A line fit from fewer than ``min_events`` events in its window is kept but flagged.
    """
    line_ref = label if label is not None else ref
    estimators, info = _estimators(pred, trap, detector, qdrift_ns)
    fwhm = {
        name: {f"{line:g}": _line(e, line, line_ref, min_events) for line in ENERGY_LINES}
        for name, e in estimators.items()
    }
    curves = {name: fwhm_curve(f) for name, f in fwhm.items()}
    binned = {name: binned_residuals(e, ref) for name, e in estimators.items()}
    overall = {name: _overall_residual(e, ref) for name, e in estimators.items()}
    sec = {
        "reference": ref_name,
        "fwhm": fwhm,
        "fwhm_curve": curves,
        "binned": binned,
        "overall_500_3000": overall,
        **info,
    }
    figs = {
        "energy_lines": peak_figure(estimators, ENERGY_LINES, fwhm),
        "energy_bias_resolution": energy_figure(binned),
        "energy_fwhm_curve": _curve_figure(curves, fwhm),
    }
    return sec, figs
