"""The PSD part of the report page: the headline table and one section per target.

Each target's section gives the survival fractions at the 90 %-DEP cut, the truth
acceptances (simulated data), the per-detector survivals (several detectors) and its figures:
ROC with both operating points, line zooms, survival and scores against energy.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from psdlab.report.html_common import (
    PEAK_HEADER,
    PEAK_ORDER,
    count,
    figure_block,
    num,
    pm,
    survival_cell,
    table,
)

HEADLINE_HEADER = ["target", "cut", "AUC (label)", "E-matched AUC", "AUC (truth)", *PEAK_HEADER]
CIRCULAR_MARK = " <span class='note' title='the label is this cut'>(circular)</span>"
FIGURES = (
    ("roc", "ROC: signal vs background acceptance; circles: each cut at 90 % DEP"),
    ("spectrum", "Spectrum before and after each cut, one zoom per line"),
    ("survival_vs_energy", "Fraction passing each cut per energy bin"),
    ("score_vs_energy", "Network score and classical parameter against energy"),
)


def _label_auc(sec: Mapping[str, Any], who: str) -> str:
    if "auc" not in sec:
        return "-"
    circular = who == "classical" and sec.get("label_is_classical_cut")
    return num(sec["auc"].get(who)) + (CIRCULAR_MARK if circular else "")


def headline_rows(numbers: Mapping[str, Any]) -> list[list[str]]:
    """One row per (target, network|classical): AUCs and survivals at 90 % DEP."""
    rows = []
    for t, sec in numbers.get("psd", {}).items():
        for who in ("network", "classical"):
            name = "network" if who == "network" else sec.get("classical_parameter", who)
            surv = sec.get("cut", {}).get(who, {}).get("survival", {})
            truth = sec.get("truth") or {}
            rows.append(
                [
                    html.escape(t),
                    html.escape(name),
                    _label_auc(sec, who),
                    num(sec["auc_energy_matched"].get(who)) if "auc" in sec else "-",
                    num(truth.get("auc", {}).get(who)) if truth else "-",
                    *(pm(surv.get(p)) if surv else "no cut" for p in PEAK_ORDER),
                ]
            )
    return rows


def _cut_table(sec: Mapping[str, Any]) -> list[str]:
    parts, rows = [], []
    for who in ("network", "classical"):
        cut = sec["cut"][who]
        surv = cut.get("survival", {})
        if not surv:
            note = html.escape(cut.get("note") or "")
            parts.append(f"<p class='note'>{who}: no 90 %-DEP cut set: {note}</p>")
            continue
        rows.append(
            [who, num(cut.get("threshold"), 4)] + [survival_cell(surv.get(p)) for p in PEAK_ORDER]
        )
    if rows:
        parts.append("<p>Survival fractions at the cut keeping 90 % of DEP events:</p>")
        parts.append(table(["cut", "threshold", *PEAK_HEADER], rows))
    return parts


def _truth_table(truth: Mapping[str, Any]) -> list[str]:
    lo, hi = truth["cut_window_kev"]
    rows = []
    for who in ("network", "classical"):
        c = truth["cut"].get(who) or {}
        rows.append(
            [
                who,
                num(truth["auc"][who]),
                num(truth["auc_energy_matched"][who]),
                num(truth.get("auc_window", {}).get(who)),
                pm(c.get("signal_acceptance")),
                pm(c.get("background_survival")),
            ]
        )
    diff = truth.get("cut_difference")
    paired = (
        []
        if not diff
        else [
            "<p>Network minus classical at their 90 %-DEP cuts: signal acceptance "
            f"{pm(diff['signal_acceptance'], 'difference', signed=True)}, background survival "
            f"{pm(diff['background_survival'], 'difference', signed=True)} (errors from "
            f"{diff['n_bootstrap']} bootstrap replicas of the events, both cuts set again in "
            "each: they include the DEP statistics the cuts are set on, which the binomial "
            "errors above do not).</p>"
        ]
    )
    return [
        f"<p>Against simulated truth ({html.escape(truth['definition'])}; "
        f"{count(truth['n_signal'])} signal, {count(truth['n_background'])} background); "
        f"acceptances at the 90 %-DEP cut for {lo:g}-{hi:g} keV:</p>",
        table(
            [
                "cut",
                "AUC",
                "E-matched AUC",
                f"AUC {lo:g}-{hi:g} keV",
                "signal acceptance",
                "background survival",
            ],
            rows,
        ),
        *paired,
    ]


def detector_table(per_detector: Mapping[str, Any]) -> list[str]:
    """Survival at the global cut, per detector and cut (several detectors only)."""
    rows = []
    for det, row in per_detector.items():
        for who in ("network", "classical"):
            if who not in row:
                continue
            surv = row[who]["survival"]
            rows.append(
                [html.escape(det), who, count(row["n_events"]), pm(row[who]["pass_fraction"])]
                + [survival_cell(surv.get(p), compact=True) for p in PEAK_ORDER]
            )
    return [
        "<h3>Per detector</h3><p>The global 90 %-DEP threshold applied detector by detector "
        "(a threshold tuned on the sum can fail on one detector):</p>",
        table(["detector", "cut", "events", "all events passing", *PEAK_HEADER], rows),
    ]


def psd_details(
    t: str, sec: Mapping[str, Any], images: Mapping[str, str], files: Mapping[str, str]
) -> str:
    """One target's section: tables, then its figures, each linked to its PNG."""
    parts = [
        f"<h2 id='psd-{html.escape(t)}'>{html.escape(t)} "
        f"(classical: {html.escape(sec['classical_parameter'])})</h2>"
    ]
    if "n_pos" in sec:
        parts.append(f"<p>label: {count(sec['n_pos'])} pass / {count(sec['n_neg'])} fail</p>")
    if sec.get("label_is_classical_cut"):
        parts.append(
            "<p class='note'>The label is the classical cut itself: the classical AUC against "
            "it is circular, and the network's only measures how well it reproduces the cut. "
            "Read the truth AUC (simulated data) and the survival fractions instead.</p>"
        )
    parts += _cut_table(sec)
    if sec.get("truth"):
        parts += _truth_table(sec["truth"])
    if sec.get("per_detector"):
        parts += detector_table(sec["per_detector"])
    parts += [figure_block(f"{kind}_{t}", images, files, cap) for kind, cap in FIGURES]
    return "\n".join(p for p in parts if p)
