"""Command line: ``python -m psdlab.simulate --out FILE --events N --seed S`` or ``plot``.

Examples::

    python -m psdlab.simulate --out sim.hdf5 --events 65000 --seed 1 --no-truth
    python -m psdlab.simulate --plot sim.hdf5 --out overview.png
    python -m psdlab.simulate dataset --out-dir data/sim --train 4 --test 2 --events 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence

from psdlab.simulate.config import SimulatorConfig


def _config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    kw = json.loads(args.config_json) if args.config_json else {}
    kw["trace_length"] = args.trace_length
    if args.tp0_mean is not None:
        kw["tp0_mean"] = args.tp0_mean
    for item in args.set or []:
        key, _, value = item.partition("=")
        kw[key] = json.loads(value)
    return SimulatorConfig.from_dict(kw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m psdlab.simulate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", nargs="?", choices=["write", "plot", "dataset"], default="write")
    p.add_argument("--out", help="output HDF5 file (write) or PNG (plot)")
    p.add_argument("--plot", metavar="FILE", help="plot FILE into --out (same as 'plot FILE')")
    p.add_argument("--file", help="input file of the plot command")
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-truth", action="store_true", help="write only the release datasets")
    p.add_argument(
        "--unlabelled",
        action="store_true",
        help="write: no energy_label and no psd_label_* (like the release's MJD_NPML files)",
    )
    p.add_argument("--trace-length", type=int, default=3800)
    p.add_argument("--tp0-mean", type=float, default=None)
    p.add_argument("--chunk-size", type=int, default=5000)
    p.add_argument("--first-id", type=int, default=0)
    p.add_argument("--run-number", type=int, default=60000)
    p.add_argument(
        "--set",
        action="append",
        metavar="FIELD=JSON",
        help="override a SimulatorConfig field, e.g. --set frac_slow=0.1",
    )
    p.add_argument("--config-json", help="JSON object of SimulatorConfig fields")
    p.add_argument("--out-dir", help="dataset: output directory")
    p.add_argument("--train", type=int, default=4, help="dataset: train files")
    p.add_argument("--test", type=int, default=2, help="dataset: test files")
    p.add_argument("--npml", type=int, default=0, help="dataset: unlabelled (NPML-like) files")
    p.add_argument("--print-config", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.plot or args.command == "plot":
        from psdlab.simulate.plot import plot_file

        src = args.plot or args.file
        if not src or not args.out:
            print("plot needs --plot FILE (or --file FILE) and --out PNG", file=sys.stderr)
            return 2
        print(plot_file(src, args.out))
        return 0
    cfg = _config_from_args(args)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    if args.command == "dataset":
        from psdlab.simulate.writer import generate_dataset

        t = time.perf_counter()
        out = generate_dataset(
            args.out_dir or "data/simulated",
            args.train,
            args.test,
            args.events,
            seed=args.seed,
            config=cfg,
            truth=not args.no_truth,
            progress=True,
            n_npml_files=args.npml,
        )
        print(json.dumps({k: [str(p) for p in v] for k, v in out.items()}))
        print(f"dataset written in {time.perf_counter() - t:.1f} s")
        return 0
    if not args.out:
        print("--out FILE is required", file=sys.stderr)
        return 2
    from psdlab.simulate.writer import write_file

    t = time.perf_counter()
    path = write_file(
        args.out,
        args.events,
        seed=args.seed,
        config=cfg,
        truth=not args.no_truth,
        chunk_size=args.chunk_size,
        progress=True,
        first_id=args.first_id,
        run_number=args.run_number,
        labelled=not args.unlabelled,
    )
    dt = time.perf_counter() - t
    print(f"wrote {path}: {args.events} events in {dt:.1f} s ({args.events / dt:.0f} wf/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
