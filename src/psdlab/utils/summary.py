"""Console tables of metrics, printed with rich."""

from __future__ import annotations

import math
from collections.abc import Mapping

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
