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
from psdlab.report.psd import DEP_KEEP, MIN_NET_COUNTS, PSD_TARGETS, line_counts, psd_section
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
    cuts: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """One PSD section per target with a ``score_<target>`` column; cut notes to ``notes``.
    ``cuts`` (target -> network/classical cut values) come from a calibration run."""
    numbers = report.numbers
    min_net = numbers["min_net_counts"]
    for t in numbers["targets"]:
        score = np.asarray(table[f"score_{t}"], float)
        label = meta.get(t)
        given = (cuts or {}).get(t)
        sec, figs = psd_section(t, score, label, classical.score(t), energy, meta, min_net, given)
        numbers["psd"][t] = sec
        report.figures.update(figs)
        if label is None:
            numbers["notes"].append(
                f"{t}: AUC against the label skipped: no label given for these events "
                "(unlabelled data, or a prediction table)"
            )
        elif label_is_classical_cut(numbers.get("labels"), sec):
            sec["label_is_classical_cut"] = True
            numbers["notes"].append(circular_note(t, sec))
        for who in ("network", "classical"):
            cut = sec["cut"][who]
            if cut["note"]:
                numbers["notes"].append(f"{t}, {who}: {cut['note']}")
            low = [p for p, s in cut["survival"].items() if s["low_statistics"]]
            if low:
                numbers["notes"].append(
                    f"{t}, {who}: survival at {', '.join(low)} from fewer than {min_net:g} "
                    "net events (low statistics)"
                )


CIRCULAR_AUC = 0.99  # a classical AUC against the label this high: the label is that cut


def label_is_classical_cut(label_source: str | None, sec: Mapping[str, Any]) -> bool:
    """Whether the label the AUCs are computed against is the classical cut itself.

    The data's ``psd_label_*`` are the outputs of the classical cuts (the MJD release's and
    the simulator's labelling), so with the cut as label source, or whenever the recomputed
    classical parameter reproduces the label almost perfectly, "classical vs label" is the
    cut measured against itself.
    """
    auc = sec.get("auc", {}).get("classical", float("nan"))
    return label_source in (None, "cut") or bool(np.isfinite(auc) and auc >= CIRCULAR_AUC)


def circular_note(target: str, sec: Mapping[str, Any]) -> str:
    """The warning printed beside a circular label AUC, and what to read instead."""
    auc = sec.get("auc", {}).get("classical", float("nan"))
    instead = "the AUC against simulated truth and " if "truth" in sec else ""
    return (
        f"{target}: the label is the classical cut itself ({sec['classical_parameter']} "
        f"thresholded), so 'classical vs label' AUC = {auc:.3f} is circular and the network's "
        "label AUC only says how well it reproduces that cut; judge the network by "
        f"{instead}the survival fractions at the 90 % DEP cut"
    )


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
        if not has_energy:
            numbers["notes"].append(
                "energy: no energy_label and no truth: the network's energy is compared with "
                "the classical trap energy, not with a known energy"
            )
    pred = np.asarray(table["energy_pred"], float)
    label = energy if has_energy else None
    min_net = numbers["min_net_counts"]
    detector = meta.get("detector")
    sec, figs = energy_section(
        pred,
        classical.energy,
        ref,
        ref_name,
        label,
        min_net,
        detector=None if detector is None else np.asarray(detector),
        qdrift_ns=classical.raw.get("qdrift_ns"),
    )
    numbers["energy"] = sec
    report.figures.update(figs)
    for name, lines in sec["fwhm"].items():
        for line, fit in lines.items():
            if fit["note"]:
                numbers["notes"].append(f"energy, {name}, {line} keV: {fit['note']}")
            elif fit["low_statistics"]:
                numbers["notes"].append(
                    f"energy, {name}, {line} keV: fit from {fit['n_events']} events in its "
                    f"window, fewer than {min_net:g} (low statistics)"
                )


def pileup_counts(meta: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Events on an earlier tail and with a second pulse, from the truth ({} without it)."""
    if "on_tail" not in meta and "pileup" not in meta:
        return {}
    n = len(next(iter(meta.values())))
    count = {
        k: int(np.asarray(meta[k], bool).sum()) if k in meta else 0 for k in ("on_tail", "pileup")
    }
    return {"n": n, **count}


def compute_report(
    table: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    classical: ClassicalResult,
    info: Mapping[str, Any] | None = None,
    min_net_counts: float = MIN_NET_COUNTS,
    cuts: Mapping[str, Mapping[str, float]] | None = None,
) -> PhysicsReport:
    """The report of aligned arrays: ``table`` (predictions), ``meta`` (labels, truth,
    energy) and ``classical`` all in the same event order. ``cuts`` (target ->
    ``{"network", "classical"}`` cut values of a calibration run) replace the 90 %-DEP cuts
    set on these events.

    Labels, truth and ``energy_label`` are optional: without them their sections are
    skipped with a note, and the peak windows use the classical trap energy. Line results
    from fewer than ``min_net_counts`` net events are flagged as low statistics.
    """
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
        "min_net_counts": min_net_counts,
        "lines": line_counts(energy, min_net_counts),
        "decay_constants": dict(classical.decay_constants),
        "notes": list(classical.notes),
        "psd": {},
        "energy": None,
    }
    if not numbers["has_truth"]:
        numbers["notes"].append("truth sections skipped: no simulated truth given for these events")
    numbers["pileup"] = pileup_counts(meta)
    if numbers["pileup"]:
        p = numbers["pileup"]
        numbers["notes"].append(
            f"pile-up (truth): {p['on_tail']} of {p['n']} events sit on an earlier pulse's tail, "
            f"{p['pileup']} hold a second pulse in the trace; all are evaluated as they are"
        )
    report = PhysicsReport(numbers, {})
    _add_psd(report, table, meta, classical, energy, cuts)
    if "energy_pred" in table:
        _add_energy(report, table, meta, classical, energy, has_energy)
    numbers["figures"] = sorted(report.figures)
    return report
