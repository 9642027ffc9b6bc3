"""Command line: ``python -m psdlab.compare A B [--out DIR] [--labels NAME_A NAME_B] ...``.

Examples::

    python -m psdlab.compare 'data/sim/*.hdf5' ../shared/realdata/legend_real.hdf5 --out cmp
    python -m psdlab.compare sim.hdf5 real.hdf5 --energy-range 500 2700 --max-events 5000

A and B are a file, a glob (quote it) or a comma-separated list. A problem with an input file
prints one line naming the file and dataset and exits with status 2; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from psdlab.compare.tool import Comparison, compare_files
from psdlab.data.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m psdlab.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", help="set A: file, glob or comma-separated list")
    p.add_argument("b", help="set B: file, glob or comma-separated list")
    p.add_argument("--out", default="compare_out", help="output directory (default %(default)s)")
    p.add_argument("--labels", nargs=2, metavar=("NAME_A", "NAME_B"), help="names of the sets")
    p.add_argument("--max-events", type=int, help="seeded subsample of at most N events per set")
    p.add_argument(
        "--energy-range", nargs=2, type=float, metavar=("LO", "HI"), help="keep LO <= E < HI keV"
    )
    p.add_argument("--seed", type=int, default=0, help="subsample seed (default %(default)s)")
    p.add_argument("--sampling-ns", type=float, default=10.0, help="sample period of both sets")
    p.add_argument("--debug", action="store_true", help="full traceback on input errors")
    return p


def _split(spec: str) -> list[str]:
    return [s for s in spec.split(",") if s]


def print_table(result: Comparison) -> None:
    """The comparison as a rich table: medians (10-90 %) per set and the two distances."""
    from rich.console import Console
    from rich.table import Table

    a, b = result.sets
    table = Table(title=f"{a.label} (n={a.n}) vs {b.label} (n={b.n})")
    for col in ("feature", "unit", f"{a.label} median [10-90 %]", f"{b.label} median [10-90 %]"):
        table.add_column(col)
    table.add_column("KS", justify="right")
    table.add_column("W / spread", justify="right")

    def cell(row: dict, side: str) -> str:
        med = row[f"median_{side}"]
        if not math.isfinite(med):
            return "-"
        return f"{med:.4g} [{row[f'p10_{side}']:.3g}, {row[f'p90_{side}']:.3g}]"

    def dist(x: float) -> str:
        return f"{x:.2f}" if math.isfinite(x) else "-"

    for row in result.rows:
        table.add_row(
            row["feature"],
            row["unit"],
            cell(row, "a"),
            cell(row, "b"),
            dist(row["ks"]),
            dist(row["wasserstein_norm"]),
        )
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_events is not None and args.max_events < 1:
        parser.error("--max-events must be at least 1")
    if args.energy_range and not args.energy_range[0] < args.energy_range[1]:
        parser.error("--energy-range LO HI needs LO < HI")
    try:
        result = compare_files(
            _split(args.a),
            _split(args.b),
            out_dir=args.out,
            labels=tuple(args.labels) if args.labels else None,
            max_events=args.max_events,
            energy_range=tuple(args.energy_range) if args.energy_range else None,
            seed=args.seed,
            sampling_period_ns=args.sampling_ns,
        )
    except DataError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_table(result)
    print(f"wrote {args.out}/compare.csv, compare.json, compare.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
