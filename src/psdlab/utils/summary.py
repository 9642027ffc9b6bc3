"""Console tables of metrics, printed with rich."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from rich.console import Console
from rich.table import Table


def print_metrics_table(
    metrics: Mapping[str, float], title: str = "metrics", console: Console | None = None
) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for name, value in sorted(metrics.items()):
        text = "nan" if value is None or not math.isfinite(value) else f"{value:.5g}"
        table.add_row(name, text)
    (console or Console()).print(table)


def scalar_metrics(metrics: Mapping[str, object], prefix: str) -> dict[str, float]:
    """The scalar entries of ``trainer.callback_metrics`` under ``prefix`` (e.g. ``"test/"``),
    as plain floats sorted by name, ready for metrics.json and the run record."""
    return {
        k: float(v)
        for k, v in sorted(metrics.items())
        if k.startswith(prefix) and (not torch.is_tensor(v) or v.numel() == 1)
    }
