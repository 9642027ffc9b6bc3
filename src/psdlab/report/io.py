"""Writing a report: ``report.json`` and ``report.html``, and its export to TensorBoard."""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psdlab.report.assemble import PhysicsReport
from psdlab.report.html import RUN_FIGURE_PREFIX, render_html
from psdlab.report.provenance import provenance
from psdlab.utils.io import atomic_path, write_json

log = logging.getLogger(__name__)


FIGURE_DIR = "report_figures"  # the report's PNGs, beside report.html
RUN_FIGURE_DIR = "figures"  # the test run's own PNGs (psdlab.run.artifacts.write_figures)


def _save_figures(report: PhysicsReport, output_dir: Path) -> dict[str, bytes]:
    """Every report figure as ``report_figures/<name>.png``; returns the PNG bytes."""
    (output_dir / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    pngs = {}
    for name in report.figures:
        pngs[name] = report.png(name)
        with atomic_path(output_dir / FIGURE_DIR / f"{name}.png") as tmp:
            tmp.write_bytes(pngs[name])
    return pngs


def _run_figures(output_dir: Path) -> dict[str, Path]:
    """The test run's PNGs in ``figures/`` (none for predict.py): ``run_<stem>`` -> path."""
    folder = output_dir / RUN_FIGURE_DIR
    return {f"{RUN_FIGURE_PREFIX}{p.stem}": p for p in sorted(folder.glob("*.png"))}


def write_report(report: PhysicsReport, output_dir: str | Path) -> None:
    """``report.json``, ``report.html`` and every figure as a PNG, all written atomically.

    The page embeds each figure (one file that can be mailed) and links it to its PNG;
    ``figure_files`` in the JSON lists every PNG the page shows, relative to ``output_dir``,
    the test run's own figures included. ``provenance`` is added unless already given.
    """
    output_dir = Path(output_dir)
    numbers = report.numbers
    if "provenance" not in numbers:
        numbers["provenance"] = provenance(output_dir, numbers)
    pngs = _save_figures(report, output_dir)
    files = {name: f"{FIGURE_DIR}/{name}.png" for name in pngs}
    for name, path in _run_figures(output_dir).items():
        pngs[name] = path.read_bytes()
        files[name] = f"{RUN_FIGURE_DIR}/{path.name}"
    numbers["figure_files"] = files
    write_json(output_dir / "report.json", numbers)
    images = {name: base64.b64encode(data).decode("ascii") for name, data in pngs.items()}
    with atomic_path(output_dir / "report.html") as tmp:
        tmp.write_text(render_html(numbers, images), encoding="utf-8")
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
    """The report's headline numbers as flat ``{name: value}`` (AUCs, survivals, FWHMs).

    Survivals and FWHMs flagged ``low_statistics`` are left out: a curve of scalars shows
    no flag, so a number from 13 events would read like one from 10,000.
    """
    out: dict[str, float] = {}
    for t, sec in report.numbers.get("psd", {}).items():
        _flatten(f"{prefix}/{t}/auc", sec.get("auc", {}), out)
        _flatten(f"{prefix}/{t}/auc_energy_matched", sec.get("auc_energy_matched", {}), out)
        for who, cut in sec.get("cut", {}).items():
            for peak, s in cut.get("survival", {}).items():
                if not s.get("low_statistics"):
                    _flatten(f"{prefix}/{t}/survival_{who}/{peak}", s.get("fraction"), out)
        if sec.get("truth"):
            _flatten(f"{prefix}/{t}/truth_auc", sec["truth"]["auc"], out)
            _flatten(f"{prefix}/{t}/truth_auc_window", sec["truth"].get("auc_window", {}), out)
            for name, d in sec["truth"].get("cut_difference", {}).items():
                if isinstance(d, dict):
                    _flatten(f"{prefix}/{t}/truth_cut_difference/{name}", d.get("difference"), out)
    en = report.numbers.get("energy") or {}
    for name, lines in en.get("fwhm", {}).items():
        for line, fit in lines.items():
            if not fit.get("low_statistics"):
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
