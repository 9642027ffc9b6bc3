"""Self-contained HTML of the physics report: tables of numbers and base64-embedded PNGs.

One file with no external references, so it can be mailed, attached to an elog or opened on
a cluster without a web server.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

STYLE = """
body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
.note{color:#8a4b00}.low{color:#8a4b00;font-style:italic}img{max-width:100%}
"""
PEAK_ORDER = ("DEP", "Bi212", "SEP", "FEP", "Qbb")


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NaN"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def _low(d: Mapping[str, Any]) -> str:
    """The low-statistics mark: the net count behind a number and its Poisson error."""
    if "n_net_error" in d:
        n = f"{_num(d.get('n_net'), 0)} &plusmn; {_num(d['n_net_error'], 0)} net events"
    else:
        n = f"{d.get('n_events', 0)} events"
    return f" <span class='low'>(low statistics: {n})</span>"


def _pm(d: Mapping[str, Any] | None, key: str = "fraction", err: str = "error") -> str:
    if not d:
        return "NaN"
    v, e = d.get(key), d.get(err)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NaN"
    return f"{v:.3f} &plusmn; {_num(e)}" + (_low(d) if d.get("low_statistics") else "")


def _survival_cell(s: Mapping[str, Any] | None) -> str:
    """A survival fraction with the net count behind it (in the mark when low statistics)."""
    if s and s.get("low_statistics"):
        return _pm(s)
    return f"{_pm(s)} (n={_num((s or {}).get('n_net'), 1)})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


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
                    _num(sec["auc"].get(who)) if "auc" in sec else "-",
                    _num(sec["auc_energy_matched"].get(who)) if "auc" in sec else "-",
                    _num(truth.get("auc", {}).get(who)) if truth else "-",
                    *(_pm(surv.get(p)) if surv else "no cut" for p in PEAK_ORDER),
                ]
            )
    return rows


HEADLINE_HEADER = [
    "target",
    "cut",
    "AUC (label)",
    "E-matched AUC",
    "AUC (truth)",
    "DEP",
    "212Bi 1620.7",
    "SEP",
    "FEP",
    "Q<sub>bb</sub> 1950-2350",
]


def _psd_details(t: str, sec: Mapping[str, Any], images: Mapping[str, str]) -> str:
    parts = [f"<h2>{html.escape(t)} (classical: {html.escape(sec['classical_parameter'])})</h2>"]
    if "n_pos" in sec:
        parts.append(f"<p>label: {sec['n_pos']} pass / {sec['n_neg']} fail</p>")
    rows = []
    for who in ("network", "classical"):
        cut = sec["cut"][who]
        surv = cut.get("survival", {})
        if not surv:
            note = html.escape(cut.get("note") or "")
            parts.append(f"<p class='note'>{who}: no 90 %-DEP cut set: {note}</p>")
            continue
        rows.append(
            [who, _num(cut.get("threshold"), 4)] + [_survival_cell(surv.get(p)) for p in PEAK_ORDER]
        )
    if rows:
        parts.append("<p>Survival fractions at the cut keeping 90 % of DEP events:</p>")
        parts.append(_table(["cut", "threshold", *HEADLINE_HEADER[5:]], rows))
    truth = sec.get("truth")
    if truth:
        lo, hi = truth["cut_window_kev"]
        trows = []
        for who in ("network", "classical"):
            c = truth["cut"].get(who) or {}
            trows.append(
                [
                    who,
                    _num(truth["auc"][who]),
                    _num(truth["auc_energy_matched"][who]),
                    _pm(c.get("signal_acceptance")),
                    _pm(c.get("background_survival")),
                ]
            )
        parts.append(
            f"<p>Against simulated truth ({html.escape(truth['definition'])}; "
            f"{truth['n_signal']} signal, {truth['n_background']} background); acceptances "
            f"at the 90 %-DEP cut for {lo:g}-{hi:g} keV:</p>"
        )
        parts.append(
            _table(
                ["cut", "AUC", "E-matched AUC", "signal acceptance", "background survival"],
                trows,
            )
        )
    for name in (f"roc_{t}", f"spectrum_{t}"):
        if name in images:
            parts.append(f'<img alt="{name}" src="data:image/png;base64,{images[name]}"/>')
    return "\n".join(parts)


def _energy_details(en: Mapping[str, Any], images: Mapping[str, str]) -> str:
    rows = []
    for name, lines in en["fwhm"].items():
        ov = en["overall_500_3000"][name]
        rows.append(
            [name]
            + [_pm(fit, "fwhm", "fwhm_err") for fit in lines.values()]
            + [_num(ov["bias"], 2), _num(ov["resolution"], 2)]
        )
    lines = list(next(iter(en["fwhm"].values())).keys())
    parts = [
        "<h2>Energy</h2>",
        f"<p>FWHM (keV) of peak fits; bias and resolution against {html.escape(en['reference'])}"
        " for 500-3000 keV (median and half the 16-84 % range of E - E<sub>ref</sub>).</p>",
        _table(
            ["estimator", *(f"FWHM {x} keV" for x in lines), "bias [keV]", "resolution [keV]"],
            rows,
        ),
    ]
    for name in ("energy_lines", "energy_bias_resolution"):
        if name in images:
            parts.append(f'<img alt="{name}" src="data:image/png;base64,{images[name]}"/>')
    return "\n".join(parts)


def _lines_table(numbers: Mapping[str, Any]) -> str:
    """Net events at each line: what every survival fraction of the page rests on."""
    rows = []
    for p in PEAK_ORDER:
        c = numbers["lines"].get(p)
        if c is not None:
            flag = "low statistics" if c["low_statistics"] else ""
            net = f"{_num(c['n_net'], 0)} &plusmn; {_num(c['n_net_error'], 0)}"
            rows.append([p, net, str(c["n_window"]), str(c["n_sideband"]), flag])
    return (
        f"<h2>Lines</h2><p>Events at each line of {html.escape(numbers['energy_reference'])}"
        " (peak window minus side bands; Q<sub>bb</sub>: all events of the region); results "
        f"from fewer than {_num(numbers['min_net_counts'], 0)} net events are marked low "
        "statistics, and no 90 %-DEP cut is set from fewer DEP events.</p>"
        + _table(["line", "net events", "window", "side bands", ""], rows)
    )


def _decay_table(constants: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The pole-zero decay constant used per file and detector, and where it came from."""
    rows = [
        [html.escape(f), html.escape(d), _num(c["tau_us"], 1), html.escape(c["source"])]
        for f, dets in constants.items()
        for d, c in dets.items()
    ]
    return "<h2>Decay constants</h2>" + _table(["file", "detector", "tau [us]", "source"], rows)


def render_html(numbers: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """The report page; ``images`` maps figure names to base64 PNG data."""
    title = "psdlab physics report"
    meta = ", ".join(
        f"{k}: {html.escape(str(numbers.get(k)))}"
        for k in ("source", "model", "task", "n_events", "energy_reference", "has_truth")
        if k in numbers
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1><p>{meta}</p>",
        "<p>Files: " + ", ".join(html.escape(f) for f in numbers.get("files", [])) + "</p>",
    ]
    if numbers.get("psd"):
        parts.append(
            "<h2>Headline</h2><p>Network and classical cut, each set to keep 90 % of DEP "
            "events (peak minus side bands); survival fractions &plusmn; 1 sigma.</p>"
        )
        parts.append(_table(HEADLINE_HEADER, headline_rows(numbers)))
        for t, sec in numbers["psd"].items():
            parts.append(_psd_details(t, sec, images))
    if numbers.get("lines"):
        parts.append(_lines_table(numbers))
    if numbers.get("energy"):
        parts.append(_energy_details(numbers["energy"], images))
    if numbers.get("decay_constants"):
        parts.append(_decay_table(numbers["decay_constants"]))
    if numbers.get("notes"):
        parts.append("<h2>Notes</h2><ul>")
        parts.extend(f"<li class='note'>{html.escape(n)}</li>" for n in numbers["notes"])
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
