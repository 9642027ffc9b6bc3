"""Compare two sets of files feature by feature and write the table, JSON and figure."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from psdlab.compare.collect import SetFeatures, collect_set
from psdlab.compare.features import FEATURES
from psdlab.compare.plot import comparison_figure
from psdlab.compare.stats import feature_row
from psdlab.data.reader import resolve_files
from psdlab.utils.io import atomic_path, write_json

CSV_COLUMNS = (
    "feature",
    "unit",
    "n_a",
    "p10_a",
    "median_a",
    "p90_a",
    "n_b",
    "p10_b",
    "median_b",
    "p90_b",
    "ks",
    "ks_pvalue",
    "wasserstein_norm",
)


@dataclass
class Comparison:
    """The two sets' features, one row per feature, and where the outputs went."""

    sets: tuple[SetFeatures, SetFeatures]
    rows: list[dict]
    out_dir: Path | None


def default_label(paths: Sequence[Path]) -> str:
    """The first file's stem, with ``+N`` when the set has more files."""
    stem = paths[0].stem
    return stem if len(paths) == 1 else f"{stem}+{len(paths) - 1}"


def compare_files(
    spec_a: str | os.PathLike | Sequence[str | os.PathLike],
    spec_b: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    labels: tuple[str, str] | None = None,
    max_events: int | None = None,
    energy_range: tuple[float, float] | None = None,
    seed: int = 0,
    sampling_period_ns: float = 10.0,
) -> Comparison:
    """Features of sets A and B (globs, paths or lists), distances, and the written outputs.

    ``max_events`` caps each set separately (a seeded uniform subsample of the events that
    pass ``energy_range``). With ``out_dir``, writes ``compare.csv``, ``compare.json`` and
    ``compare.png`` there, each atomically.
    """
    files = (resolve_files(spec_a, "A"), resolve_files(spec_b, "B"))
    names = labels or (default_label(files[0]), default_label(files[1]))
    sets = tuple(
        collect_set(f, name, energy_range, max_events, seed, sampling_period_ns)
        for f, name in zip(files, names)
    )
    rows = [feature_row(ft, sets[0].values[ft.name], sets[1].values[ft.name]) for ft in FEATURES]
    result = Comparison(sets=sets, rows=rows, out_dir=None if out_dir is None else Path(out_dir))
    if result.out_dir is not None:
        write_outputs(result, energy_range, max_events, seed)
    return result


def _csv_text(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row[k]) for k in CSV_COLUMNS})
    return buf.getvalue()


def _fmt(value: object) -> object:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value


def _set_record(s: SetFeatures) -> dict:
    return {
        "label": s.label,
        "files": [str(p) for p in s.files],
        "events_in_files": s.n_available,
        "events_compared": s.n,
        "decay_constants_us": s.decay_constants,
        "aoe_median_per_us": s.aoe_median_per_us,
    }


def write_outputs(
    result: Comparison,
    energy_range: tuple[float, float] | None,
    max_events: int | None,
    seed: int,
) -> None:
    """compare.csv (the table), compare.json (table + provenance), compare.png (figure)."""
    out = result.out_dir
    assert out is not None
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "compare.csv") as tmp:
        tmp.write_text(_csv_text(result.rows))
    write_json(
        out / "compare.json",
        {
            "a": _set_record(result.sets[0]),
            "b": _set_record(result.sets[1]),
            "selection": {"energy_range_kev": energy_range, "max_events": max_events},
            "seed": seed,
            "features": {
                f.name: {"label": f.label, "unit": f.unit, "log": f.log} for f in FEATURES
            },
            "rows": result.rows,
        },
    )
    comparison_figure(result.sets, result.rows, out / "compare.png")
