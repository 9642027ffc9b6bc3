"""The physics report: a trained network beside the classical analysis on the same events.

``build_report`` (called by ``python eval.py ... report=true``) takes the task's last test
predictions, recomputes the classical parameters from the raw waveforms of the evaluated
files, and writes ``report.json`` (numbers) and ``report.html`` (the same numbers and the
figures, PNGs embedded, one self-contained file). ``compute_report`` does the arithmetic on
plain arrays so tests can feed it constructed inputs; docs/report.md defines every number.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.dsp import peak_fit
from psdlab.metrics.physics import (
    Survival,
    dep_threshold,
    efficiency,
    energy_matched_auc,
    energy_matched_weights,
    roc_auc,
    survival_table,
)
from psdlab.report.classical import CLASSICAL_NAMES, ClassicalResult, classical_parameters
from psdlab.report.figures import energy_figure, peak_figure, roc_figure, spectrum_figure
from psdlab.utils.io import atomic_path, write_json

log = logging.getLogger(__name__)

PSD_TARGETS = ("low_avse", "high_avse", "dcr", "lq")
DEP_KEEP = 0.90
ENERGY_LINES = (583.2, 2614.5)
TRUTH_WINDOW = (1000.0, 2700.0)  # keV: where truth acceptances are quoted (the PSD-relevant range)
ENERGY_BINS = np.arange(100.0, 2800.0, 100.0)


@dataclass
class PhysicsReport:
    """Numbers (JSON-ready) and matplotlib figures of one report."""

    numbers: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)

    def png(self, name: str, dpi: int = 100) -> bytes:
        buf = io.BytesIO()
        self.figures[name].savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def close(self) -> None:
        """Release the figures' memory (they hold no pyplot state)."""
        self.figures.clear()


# ---------------------------------------------------------------------------------- truth
def truth_signal(target: str, meta: Mapping[str, np.ndarray]) -> tuple[np.ndarray, str] | None:
    """True signal-like (True) vs background for ``target`` from simulated truth, or None.

    The labels are classical cuts; the truth says what the cut is *meant* to find, so a network
    can be seen to beat the classical cut rather than reproduce it.
    """
    from psdlab.simulate import EventClass

    cls = meta.get("event_class")
    if target == "low_avse" and "single_site" in meta:
        return np.asarray(meta["single_site"], bool), "truth single_site (vs multi-site)"
    if target == "high_avse" and cls is not None:
        return np.asarray(cls) != EventClass.POINT_CONTACT, "truth not POINT_CONTACT"
    if target == "dcr" and "surface_alpha" in meta:
        return ~np.asarray(meta["surface_alpha"], bool), "truth not surface_alpha"
    if target == "lq" and cls is not None:
        return np.asarray(cls) != EventClass.SLOW_LQ, "truth not SLOW_LQ"
    return None


# ---------------------------------------------------------------------------------- energy
def _nan_fit(note: str) -> dict[str, Any]:
    return {"fwhm": math.nan, "fwhm_err": math.nan, "mu": math.nan, "n_events": 0, "note": note}


def line_fwhm(energy: np.ndarray, line: float, ref: np.ndarray | None = None) -> dict[str, Any]:
    """FWHM of ``line`` (Gaussian + step + flat fit), NaN with a note when it cannot be fitted.

    Events whose reference energy lies at the line tell how the estimator shifts and smears
    it: the window is centred on the shifted line and sized to that spread, so a network
    whose line is tens of keV wide is fitted as a whole. A fit much narrower than that spread,
    or far from where those events lie, has locked onto a fluctuation and is rejected.
    """
    e = np.asarray(energy, dtype=float)
    e = e[np.isfinite(e)]
    centre, spread = line, None
    if ref is not None:
        r = np.asarray(ref, dtype=float)
        near = np.isfinite(r) & (np.abs(r - line) < 3.0) & np.isfinite(energy)
        if near.sum() >= 5:
            d = np.asarray(energy)[near] - r[near]
            centre = line + float(np.median(d))
            spread = 0.5 * float(np.percentile(d, 84) - np.percentile(d, 16))
            if spread < 0.1:
                # the estimator is the reference itself (e.g. the trap filter against
                # energy_label, which is a calibrated trap filter): no width information
                spread = None
    hw = 15.0 if spread is None else float(np.clip(4.0 * spread, 15.0, 150.0))
    guess = spread if spread else None
    fit = None
    for _ in range(3):
        try:
            fit = peak_fit(e, centre, half_window=hw, sigma_guess=guess)
        except (RuntimeError, ValueError) as err:
            return _nan_fit(f"fit failed: {err}")
        if 2.5 * fit.fwhm <= hw or hw >= 150.0:
            break
        hw = min(150.0, 3.0 * fit.fwhm)
    assert fit is not None
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


# ---------------------------------------------------------------------------------- PSD
def _aucs(score: np.ndarray, label: np.ndarray, energy: np.ndarray) -> tuple[float, float]:
    return roc_auc(score, label), energy_matched_auc(score, label, energy)


def _cut_block(energy: np.ndarray, score: np.ndarray) -> tuple[dict[str, Any], np.ndarray | None]:
    thr = dep_threshold(energy, score, DEP_KEEP)
    if not np.isfinite(thr):
        return {
            "threshold": math.nan,
            "survival": {},
            "note": "too few DEP events above the continuum to set a 90 % DEP cut",
        }, None
    passed = np.asarray(score, float) > thr
    table = {k: v.to_dict() for k, v in survival_table(energy, passed).items()}
    return {"threshold": thr, "survival": table, "note": ""}, passed


def psd_section(
    target: str,
    score: np.ndarray,
    label: np.ndarray | None,
    classical: np.ndarray,
    energy: np.ndarray,
    meta: Mapping[str, np.ndarray],
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Numbers and figures of one PSD target: ROC/AUC vs label and truth, 90 %-DEP cuts."""
    sec: dict[str, Any] = {"classical_parameter": CLASSICAL_NAMES.get(target, target)}
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    aucs: dict[str, float] = {}
    if label is not None:
        y = np.asarray(label).astype(bool)
        sec["n_pos"], sec["n_neg"] = int(y.sum()), int((~y).sum())
        a_net, m_net = _aucs(score, y, energy)
        a_cl, m_cl = _aucs(classical, y, energy)
        sec["auc"] = {"network": a_net, "classical": a_cl}
        sec["auc_energy_matched"] = {"network": m_net, "classical": m_cl}
        curves["network vs label"] = (score, y, None)
        curves["classical vs label"] = (classical, y, None)
        aucs.update({"network vs label": a_net, "classical vs label": a_cl})
    cut_net, pass_net = _cut_block(energy, score)
    cut_cl, pass_cl = _cut_block(energy, classical)
    sec["cut"] = {"network": cut_net, "classical": cut_cl}
    truth = truth_signal(target, meta)
    if truth is not None:
        t, definition = truth
        a_net, m_net = _aucs(score, t, energy)
        a_cl, m_cl = _aucs(classical, t, energy)
        win = (energy >= TRUTH_WINDOW[0]) & (energy < TRUTH_WINDOW[1])
        cut_eff: dict[str, Any] = {}
        for name, passed in (("network", pass_net), ("classical", pass_cl)):
            if passed is None:
                cut_eff[name] = None
                continue
            cut_eff[name] = {
                "signal_acceptance": efficiency(passed, t & win).to_dict(),
                "background_survival": efficiency(passed, ~t & win).to_dict(),
            }
        sec["truth"] = {
            "definition": definition,
            "n_signal": int(t.sum()),
            "n_background": int((~t).sum()),
            "auc": {"network": a_net, "classical": a_cl},
            "auc_energy_matched": {"network": m_net, "classical": m_cl},
            "cut_window_kev": list(TRUTH_WINDOW),
            "cut": cut_eff,
        }
        curves["network vs truth"] = (score, t, None)
        curves["classical vs truth"] = (classical, t, None)
        aucs.update({"network vs truth": a_net, "classical vs truth": a_cl})
    figs = {
        f"roc_{target}": roc_figure(target, curves, aucs),
        f"spectrum_{target}": spectrum_figure(
            target, energy, {"network": pass_net, "classical": pass_cl}
        ),
    }
    return sec, figs


def energy_section(
    pred: np.ndarray, trap: np.ndarray, ref: np.ndarray, ref_name: str, label: np.ndarray | None
) -> tuple[dict[str, Any], dict[str, Figure]]:
    """FWHM at 583.2 and 2614.5 keV and bias/resolution vs energy, network vs trap filter."""
    line_ref = label if label is not None else ref
    estimators = {"network": pred, "trap_filter": trap}
    fwhm = {
        name: {f"{line:g}": line_fwhm(e, line, line_ref) for line in ENERGY_LINES}
        for name, e in estimators.items()
    }
    binned = {name: binned_residuals(e, ref) for name, e in estimators.items()}
    overall = {}
    for name, e in estimators.items():
        m = np.isfinite(e) & np.isfinite(ref) & (ref > 500) & (ref < 3000)
        d = e[m] - ref[m]
        overall[name] = (
            {
                "bias": float(np.median(d)),
                "resolution": float(0.5 * np.diff(np.quantile(d, [0.16, 0.84]))[0]),
                "n": int(m.sum()),
            }
            if d.size >= 10
            else {"bias": math.nan, "resolution": math.nan, "n": int(m.sum())}
        )
    sec = {"reference": ref_name, "fwhm": fwhm, "binned": binned, "overall_500_3000": overall}
    figs = {
        "energy_lines": peak_figure(estimators, ENERGY_LINES, fwhm),
        "energy_bias_resolution": energy_figure(binned),
    }
    return sec, figs


def compute_report(
    table: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    classical: ClassicalResult,
    info: Mapping[str, Any] | None = None,
) -> PhysicsReport:
    """The report of aligned arrays: ``table`` (predictions), ``meta`` (labels, truth,
    energy) and ``classical`` all in the same event order."""
    targets = [
        c[len("score_") :]
        for c in table
        if c.startswith("score_") and c[len("score_") :] in PSD_TARGETS
    ]
    has_energy = "energy" in meta and meta["energy"] is not None
    energy = np.asarray(meta["energy"], dtype=float) if has_energy else np.asarray(classical.energy)
    has_truth = any(k in meta for k in ("single_site", "event_class", "surface_alpha"))
    numbers: dict[str, Any] = {
        **dict(info or {}),
        "n_events": int(energy.size),
        "targets": targets,
        "has_truth": has_truth,
        "energy_reference": "energy_label" if has_energy else "classical trap energy",
        "dep_keep": DEP_KEEP,
        "notes": list(classical.notes),
        "psd": {},
        "energy": None,
    }
    figures: dict[str, Figure] = {}
    for t in targets:
        label = meta.get(t)
        sec, figs = psd_section(
            t, np.asarray(table[f"score_{t}"], float), label, classical.score(t), energy, meta
        )
        numbers["psd"][t] = sec
        figures.update(figs)
        for who in ("network", "classical"):
            note = sec["cut"][who]["note"]
            if note:
                numbers["notes"].append(f"{t}, {who}: {note}")
    if "energy_pred" in table:
        if "true_energy" in meta:
            ref, ref_name = np.asarray(meta["true_energy"], float), "truth true_energy"
        else:
            ref, ref_name = energy, numbers["energy_reference"]
        sec, figs = energy_section(
            np.asarray(table["energy_pred"], float),
            classical.energy,
            ref,
            ref_name,
            energy if has_energy else None,
        )
        numbers["energy"] = sec
        figures.update(figs)
        for name, lines in sec["fwhm"].items():
            for line, fit in lines.items():
                if fit["note"]:
                    numbers["notes"].append(f"energy, {name}, {line} keV: {fit['note']}")
    numbers["figures"] = sorted(figures)
    return PhysicsReport(numbers, figures)


# ---------------------------------------------------------------------------------- I/O
def _align(
    table: Mapping[str, np.ndarray], meta: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Restrict both to the events the network saw, in the prediction table's order, by id."""
    t = {k: np.asarray(v) for k, v in table.items() if np.ndim(v) == 1}
    n_meta = len(meta["id"])
    if "id" not in t:  # no ids: the loader order is the split order
        n = len(next(iter(t.values())))
        return t, {k: np.asarray(v)[:n] for k, v in meta.items() if len(v) == n_meta}
    order = np.argsort(meta["id"], kind="stable")
    sid = np.asarray(meta["id"])[order]
    pos = np.clip(np.searchsorted(sid, t["id"]), 0, sid.size - 1)
    found = sid[pos] == t["id"]
    if not found.all():
        log.warning("%d predicted events not in the split metadata: dropped", (~found).sum())
    t = {k: v[found] for k, v in t.items() if len(v) == len(found)}
    rows = order[pos[found]]
    m = {k: np.asarray(v)[rows] for k, v in meta.items() if len(v) == n_meta}
    return t, m


def build_report(
    task: Any, datamodule: Any, output_dir: str | Path, run_cfg: Any = None
) -> PhysicsReport:
    """Write ``report.json`` and ``report.html`` for the task's last test run; return it."""
    from psdlab.data.reader import resolve_files

    output_dir = Path(output_dir)
    table, meta = _align(task.test_predictions(), datamodule.split_metadata("test"))
    files = resolve_files(datamodule.test_files, "test")
    ref = np.asarray(meta["energy"], float) if "energy" in meta else None
    classical = classical_parameters(files, datamodule.schema, table.get("id", meta["id"]), ref)
    info: dict[str, Any] = {"files": [str(f) for f in files]}
    if run_cfg is not None:
        with contextlib.suppress(AttributeError):
            info["model"] = str(run_cfg.model.net._target_).rsplit(".", 1)[-1]
        info["task"] = str(getattr(getattr(run_cfg, "task", None), "_target_", "")).rsplit(".")[-1]
    report = compute_report(table, meta, classical, info)
    write_report(report, output_dir)
    return report


def write_report(report: PhysicsReport, output_dir: str | Path) -> None:
    """``report.json`` and the self-contained ``report.html``, both written atomically."""
    from psdlab.report.html import render_html

    output_dir = Path(output_dir)
    write_json(output_dir / "report.json", report.numbers)
    images = {name: base64.b64encode(report.png(name)).decode("ascii") for name in report.figures}
    with atomic_path(output_dir / "report.html") as tmp:
        tmp.write_text(render_html(report.numbers, images), encoding="utf-8")
    log.info("physics report written to %s", output_dir / "report.html")


def _flatten(prefix: str, obj: Any, out: dict[str, float]) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(f"{prefix}/{k}", v, out)
    elif isinstance(obj, bool):
        return
    elif isinstance(obj, int | float) and math.isfinite(obj):
        out[prefix] = float(obj)


def report_scalars(report: PhysicsReport, prefix: str = "report") -> dict[str, float]:
    """The report's headline numbers as flat ``{name: value}`` (AUCs, survivals, FWHMs)."""
    out: dict[str, float] = {}
    for t, sec in report.numbers.get("psd", {}).items():
        _flatten(f"{prefix}/{t}/auc", sec.get("auc", {}), out)
        _flatten(f"{prefix}/{t}/auc_energy_matched", sec.get("auc_energy_matched", {}), out)
        for who, cut in sec.get("cut", {}).items():
            for peak, s in cut.get("survival", {}).items():
                _flatten(f"{prefix}/{t}/survival_{who}/{peak}", s.get("fraction"), out)
        if sec.get("truth"):
            _flatten(f"{prefix}/{t}/truth_auc", sec["truth"]["auc"], out)
    en = report.numbers.get("energy") or {}
    for name, lines in en.get("fwhm", {}).items():
        for line, fit in lines.items():
            _flatten(f"{prefix}/energy/fwhm_{name}/{line}", fit.get("fwhm"), out)
    return out


def log_report_to_tensorboard(
    logger: Any, report: PhysicsReport, step: int = 0, prefix: str = "report"
) -> None:
    """Log the report's figures and headline numbers to TensorBoard.

    ``logger`` is a Lightning ``TensorBoardLogger`` (its ``experiment`` is used) or a
    ``SummaryWriter``; anything else is ignored, so callers can pass every trainer logger.
    """
    writer = getattr(logger, "experiment", logger)
    if not (hasattr(writer, "add_scalar") and hasattr(writer, "add_figure")):
        return
    for name, value in report_scalars(report, prefix).items():
        writer.add_scalar(name, value, step)
    for name, fig in report.figures.items():
        writer.add_figure(f"{prefix}/{name}", fig, step, close=False)
    if hasattr(writer, "flush"):
        writer.flush()


__all__ = [
    "PhysicsReport",
    "Survival",
    "binned_residuals",
    "build_report",
    "compute_report",
    "energy_matched_weights",
    "line_fwhm",
    "log_report_to_tensorboard",
    "report_scalars",
    "truth_signal",
    "write_report",
]
