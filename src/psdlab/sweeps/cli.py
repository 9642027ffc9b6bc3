"""Command line of the sweep summary: ``python -m psdlab.sweeps SWEEP_DIR``.

Prints the trial table with rich, writes ``sweep_summary.csv`` and, unless told not to,
``sweep_summary.png`` into the sweep directory, and names the best trial.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from psdlab.sweeps.figure import write_plot
from psdlab.sweeps.summary import SweepSummary, summarize, write_csv
from psdlab.sweeps.trials import finite_float


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "*" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    number = finite_float(value) if isinstance(value, str) and "." in value else None
    return f"{number:.4g}" if number is not None else str(value)


def print_summary(summary: SweepSummary, console: Any = None) -> None:
    """The trial table (best trial highlighted) and one line naming the best trial."""
    from rich.console import Console
    from rich.table import Table

    # a sweep table is wide: never squeeze it below 160 columns when writing to a file or pipe
    console = console or Console(width=None if Console().is_terminal else 200)
    rows = summary.rows()
    monitor = summary.monitor or "val"
    test_name = monitor.replace("val/", "test/", 1)
    columns = ["trial", "status", *summary.params, f"best {monitor}", "epochs", "wall_time_s"]
    if any(test_name in r for r in rows):
        columns.append(test_name)
    title = f"{summary.sweep_dir}: {len(rows)} trials, {monitor} ({summary.mode})"
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in ("trial", "status") else "right")
    styles = {"failed": "red", "running": "yellow", "incomplete": "dim"}
    for row in rows:
        style = "bold green" if row["best"] else styles.get(row["status"])
        table.add_row(*(_fmt(row.get(c)) for c in columns), style=style)
    console.print(table)
    for t in summary.trials:
        for warning in t.warnings:
            flag = " (the best trial)" if t is summary.best else ""
            console.print(f"[bold red]warning[/]: trial {t.name}{flag}: {warning}")
    if summary.best is not None:
        b = summary.best
        params = " ".join(f"{p}={b.overrides.get(p)}" for p in summary.params)
        console.print(f"best trial: {b.name} ({monitor} = {b.best_val:.5g}) {params}")
        console.print(f"  {b.path}")
    else:
        console.print("no finished trial yet")


def main(argv: list[str] | None = None, prog: str = "python -m psdlab.sweeps") -> SweepSummary:
    """Command line: print the table, write the CSV and the plot into the sweep directory."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Summarise the trials of a Hydra sweep (grid or Optuna)."
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep directory (hydra.sweep.dir)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument(
        "--stale-minutes",
        type=float,
        default=10.0,
        help="an unfinished trial whose files changed within this time counts as running",
    )
    args = parser.parse_args(argv)
    summary = summarize(args.sweep_dir, stale_after_s=60.0 * args.stale_minutes)
    print_summary(summary)
    csv_path = write_csv(summary)
    print(f"wrote {csv_path}")
    if not args.no_plot:
        png = write_plot(summary)
        if png:
            print(f"wrote {png}")
    return summary
