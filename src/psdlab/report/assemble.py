"""The report of aligned arrays: numbers and figures, before anything is read or written.

``compute_report`` does the arithmetic on plain arrays (prediction table, metadata and the
classical parameters, all in the same event order), so tests can feed it constructed inputs
and the reading (:mod:`psdlab.report.build`) and writing (:mod:`psdlab.report.io`) stay apart.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from psdlab.report.classical import ClassicalResult
from psdlab.report.energy import energy_section
from psdlab.report.psd import DEP_KEEP, PSD_TARGETS, psd_section
from psdlab.report.truth import TRUTH_FIELDS


@dataclass
class PhysicsReport:
    """Numbers (JSON-ready) and matplotlib figures of one report."""

    numbers: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)

    def png(self, name: str, dpi: int = 100) -> bytes:
        """The figure ``name`` as PNG bytes (for embedding in the HTML page)."""
        buf = io.BytesIO()
        self.figures[name].savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def close(self) -> None:
        """Release the figures' memory (they hold no pyplot state)."""
        self.figures.clear()


def _add_psd(
    report: PhysicsReport,
    table: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    classical: ClassicalResult,
    energy: np.ndarray,
) -> None:
    """One PSD section per target with a ``score_<target>`` column; cut notes to ``notes``."""
    numbers = report.numbers
    for t in numbers["targets"]:
        score = np.asarray(table[f"score_{t}"], float)
        sec, figs = psd_section(t, score, meta.get(t), classical.score(t), energy, meta)
        numbers["psd"][t] = sec
        report.figures.update(figs)
        for who in ("network", "classical"):
            note = sec["cut"][who]["note"]
            if note:
                numbers["notes"].append(f"{t}, {who}: {note}")


def _add_energy(
    report: PhysicsReport,
    table: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    classical: ClassicalResult,
    energy: np.ndarray,
    has_energy: bool,
) -> None:
    """The energy section against the truth energy (simulated) or the reference energy."""
    numbers = report.numbers
    if "true_energy" in meta:
        ref, ref_name = np.asarray(meta["true_energy"], float), "truth true_energy"
    else:
        ref, ref_name = energy, numbers["energy_reference"]
    pred = np.asarray(table["energy_pred"], float)
    label = energy if has_energy else None
    sec, figs = energy_section(pred, classical.energy, ref, ref_name, label)
    numbers["energy"] = sec
    report.figures.update(figs)
    for name, lines in sec["fwhm"].items():
        for line, fit in lines.items():
            if fit["note"]:
                numbers["notes"].append(f"energy, {name}, {line} keV: {fit['note']}")


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
    numbers: dict[str, Any] = {
        **dict(info or {}),
        "n_events": int(energy.size),
        "targets": targets,
        "has_truth": any(k in meta for k in TRUTH_FIELDS),
        "energy_reference": "energy_label" if has_energy else "classical trap energy",
        "dep_keep": DEP_KEEP,
        "notes": list(classical.notes),
        "psd": {},
        "energy": None,
    }
    report = PhysicsReport(numbers, {})
    _add_psd(report, table, meta, classical, energy)
    if "energy_pred" in table:
        _add_energy(report, table, meta, classical, energy, has_energy)
    numbers["figures"] = sorted(report.figures)
    return report
