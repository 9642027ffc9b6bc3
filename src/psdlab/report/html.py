"""Self-contained HTML of the physics report: tables of numbers and base64-embedded PNGs.

One file with no external references, so it can be mailed, attached to an elog or opened on
a cluster without a web server.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from psdlab.report.html_common import PEAK_ORDER, count, figure_block, num, pm, table
from psdlab.report.html_psd import HEADLINE_HEADER, headline_rows, psd_details

STYLE = """
body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
.note{color:#8a4b00}.low{color:#8a4b00;font-style:italic}img{max-width:100%}
table.keys td{text-align:left}figure{margin:1em 0}figcaption{font-size:90%;color:#555}nav a{margin-right:1em}
"""


def _energy_details(
    en: Mapping[str, Any], images: Mapping[str, str], files: Mapping[str, str]
) -> str:
    rows = []
    for name, lines in en["fwhm"].items():
        ov = en["overall_500_3000"][name]
        rows.append(
            [name]
            + [pm(fit, "fwhm", "fwhm_err") for fit in lines.values()]
            + [num(ov["bias"], 2), num(ov["resolution"], 2)]
        )
    lines = list(next(iter(en["fwhm"].values())).keys())
    parts = [
        "<h2 id='energy'>Energy</h2>",
        f"<p>FWHM (keV) of peak fits; bias and resolution against {html.escape(en['reference'])}"
        " for 500-3000 keV (median and half the 16-84 % range of E - E<sub>ref</sub>).</p>",
        table(
            ["estimator", *(f"FWHM {x} keV" for x in lines), "bias [keV]", "resolution [keV]"],
            rows,
        ),
        figure_block("energy_lines", images, files, "The calibration lines per estimator"),
        figure_block("energy_bias_resolution", images, files, "Bias and resolution vs energy"),
    ]
    return "\n".join(parts)


def _lines_table(numbers: Mapping[str, Any]) -> str:
    """Net events at each line: what every survival fraction of the page rests on."""
    rows = []
    for p in PEAK_ORDER:
        c = numbers["lines"].get(p)
        if c is not None:
            flag = "low statistics" if c["low_statistics"] else ""
            net = f"{count(c['n_net'])} &plusmn; {count(c['n_net_error'])}"
            rows.append([p, net, count(c["n_window"]), count(c["n_sideband"]), flag])
    return (
        f"<h2 id='lines'>Lines</h2><p>Events at each line of {html.escape(numbers['energy_reference'])}"
        " (peak window minus side bands; Q<sub>bb</sub>: all events of the region); results "
        f"from fewer than {count(numbers['min_net_counts'])} net events are marked low "
        "statistics, and no 90 %-DEP cut is set from fewer DEP events.</p>"
        + table(["line", "net events", "window", "side bands", ""], rows)
    )


def _decay_table(constants: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The pole-zero decay constant used per file and detector, and where it came from."""
    rows = [
        [html.escape(f), html.escape(d), num(c["tau_us"], 1), html.escape(c["source"])]
        for f, dets in constants.items()
        for d, c in dets.items()
    ]
    return "<h2 id='decay'>Decay constants</h2>" + table(
        ["file", "detector", "tau [us]", "source"], rows
    )


PROVENANCE_ROWS = (
    ("checkpoint", "checkpoint evaluated"),
    ("training_run", "training run"),
    ("label_source", "label source"),
    ("git_commit", "psdlab commit"),
    ("command", "command"),
    ("date", "report written"),
)
RUN_FIGURE_PREFIX = "run_"


def _provenance(numbers: Mapping[str, Any]) -> str:
    """What was evaluated on what: a number without its checkpoint cannot be reproduced."""
    prov = numbers.get("provenance") or {}
    rows = [[label, html.escape(str(prov[k]))] for k, label in PROVENANCE_ROWS if prov.get(k)]
    files = numbers.get("files", [])
    rows.append([f"files ({len(files)})", "<br>".join(html.escape(f) for f in files)])
    return "<h2 id='provenance'>Provenance</h2>" + table(None, rows, "keys")


def _run_figures(images: Mapping[str, str], files: Mapping[str, str]) -> str:
    """The test run's own figures (figures/*.png: ROC, score distributions, confusion matrix,
    example waveforms, energy), so nothing the run wrote goes unseen."""
    names = sorted(n for n in images if n.startswith(RUN_FIGURE_PREFIX))
    if not names:
        return ""
    blocks = [figure_block(n, images, files, n[len(RUN_FIGURE_PREFIX) :]) for n in names]
    return (
        "<h2 id='run-figures'>Figures of the test run</h2><p>Written by the run next to "
        "metrics.json (network against the label, threshold of the task).</p>" + "".join(blocks)
    )


def _nav(numbers: Mapping[str, Any], has_run_figures: bool) -> str:
    """Links to every section the page has, so a long report reads like a document."""
    links = [("provenance", "Provenance")]
    if numbers.get("psd"):
        links.append(("headline", "Headline"))
        links += [(f"psd-{t}", t) for t in numbers["psd"]]
    optional = (
        ("lines", "Lines", bool(numbers.get("lines"))),
        ("energy", "Energy", bool(numbers.get("energy"))),
        ("run-figures", "Run figures", has_run_figures),
        ("decay", "Decay constants", bool(numbers.get("decay_constants"))),
        ("notes", "Notes", bool(numbers.get("notes"))),
    )
    links += [(anchor, text) for anchor, text, shown in optional if shown]
    return "<nav>" + "".join(f"<a href='#{a}'>{html.escape(b)}</a>" for a, b in links) + "</nav>"


def render_html(numbers: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """The report page; ``images`` maps figure names to base64 PNG data (the test run's own
    figures under ``run_<name>``), ``numbers["figure_files"]`` names to their PNG files."""
    title = "psdlab physics report"
    meta = ", ".join(
        f"{k}: {html.escape(str(numbers.get(k)))}"
        for k in ("source", "model", "task", "labels", "n_events", "energy_reference", "has_truth")
        if k in numbers
    )
    files = numbers.get("figure_files") or {}
    run_figures = _run_figures(images, files)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1><p>{meta}</p>",
        _nav(numbers, bool(run_figures)),
        _provenance(numbers),
    ]
    if numbers.get("psd"):
        parts.append(
            "<h2 id='headline'>Headline</h2><p>Network and classical cut, each set to keep 90 % "
            "of DEP events (peak minus side bands); survival fractions &plusmn; 1 sigma.</p>"
        )
        parts.append(table(HEADLINE_HEADER, headline_rows(numbers)))
        for t, sec in numbers["psd"].items():
            parts.append(psd_details(t, sec, images, files))
    if numbers.get("lines"):
        parts.append(_lines_table(numbers))
    if numbers.get("energy"):
        parts.append(_energy_details(numbers["energy"], images, files))
    parts.append(run_figures)
    if numbers.get("decay_constants"):
        parts.append(_decay_table(numbers["decay_constants"]))
    if numbers.get("notes"):
        parts.append("<h2 id='notes'>Notes</h2><ul>")
        parts.extend(f"<li class='note'>{html.escape(n)}</li>" for n in numbers["notes"])
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
