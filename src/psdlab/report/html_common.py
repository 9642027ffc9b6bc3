"""Cells, tables and figure blocks shared by the report page's sections.

Numbers are printed as a physicist expects to read them: counts as integers ("n=40", never
"n=40.0"), fractions with their 1-sigma error, and anything resting on fewer than
``min_net_counts`` net events marked low statistics with the count behind it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

PEAK_ORDER = ("DEP", "Bi212", "SEP", "FEP", "Qbb")
PEAK_HEADER = ["DEP", "212Bi 1620.7", "SEP", "FEP", "Q<sub>bb</sub> 1950-2350"]


def num(x: Any, digits: int = 3) -> str:
    """A float to ``digits`` decimals, an int as an int, None/NaN as "NaN"."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NaN"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def count(x: Any) -> str:
    """An event count: always an integer (net counts are differences of integers)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NaN"
    return str(round(float(x)))


def low_mark(d: Mapping[str, Any]) -> str:
    """The low-statistics mark: the net count behind a number and its Poisson error."""
    if "n_net_error" in d:
        n = f"{count(d.get('n_net'))} &plusmn; {count(d['n_net_error'])} net events"
    else:
        n = f"{count(d.get('n_events', 0))} events"
    return f" <span class='low'>(low statistics: {n})</span>"


def pm(
    d: Mapping[str, Any] | None, key: str = "fraction", err: str = "error", signed: bool = False
) -> str:
    """``value ± error`` with the low-statistics mark when flagged (``signed``: ``+`` shown,
    for differences)."""
    if not d:
        return "NaN"
    v, e = d.get(key), d.get(err)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NaN"
    value = f"{v:+.3f}" if signed else f"{v:.3f}"
    return f"{value} &plusmn; {num(e)}" + (low_mark(d) if d.get("low_statistics") else "")


def survival_cell(s: Mapping[str, Any] | None, compact: bool = False) -> str:
    """A survival fraction with the net count behind it (in the mark when low statistics;
    ``compact``: a short mark, for tables with many such cells)."""
    if s and s.get("low_statistics"):
        if not compact or not math.isfinite(s.get("fraction") or math.nan):
            return pm(s)
        value = f"{s['fraction']:.3f} &plusmn; {num(s.get('error'))}"
        return f"{value} <span class='low'>(n={count(s.get('n_net'))}, low statistics)</span>"
    return f"{pm(s)} (n={count((s or {}).get('n_net'))})"


def table(header: list[str] | None, rows: list[list[str]], css: str = "") -> str:
    """An HTML table; ``header`` None for a key-value table, ``css`` its class."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    cls = f" class='{css}'" if css else ""
    return f"<table{cls}>{head}{body}</table>"


def figure_block(
    name: str, images: Mapping[str, str], files: Mapping[str, str], caption: str = ""
) -> str:
    """An embedded figure (the page stays one self-contained file) that links to its PNG
    beside the page, so it can be opened full size or pasted into a talk."""
    if name not in images:
        return ""
    src = f"data:image/png;base64,{images[name]}"
    img = f'<img alt="{html.escape(name)}" src="{src}"/>'
    path = files.get(name)
    if path:
        href = html.escape(path, quote=True)
        img = f'<a href="{href}">{img}</a>'
        caption = f'{caption} <a href="{href}">{html.escape(path)}</a>'.strip()
    return f"<figure id='fig-{html.escape(name)}'>{img}<figcaption>{caption}</figcaption></figure>"
