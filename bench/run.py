"""psdlab benchmark suite: ``python bench/run.py [--quick|--tiny] [data] [simulate] [train]``.

One run measures, on one machine and interleaved so ratios are meaningful on a shared box:

* ``simulate``: the simulator's waveforms/s (``psdlab.simulate.write_file``, 3800 samples);
  the file it writes is the training benchmark's input;
* ``train``: training throughput of psdlab vs a raw PyTorch loop vs the lecture-style loop
  (mlp and cnn, avse task, batch 256), the fraction of the measured matmul rate, inference
  throughput and the end-to-end wall time of ``python train.py`` vs the lecture script;
* ``data``: bench/data.py (preprocessing vs plain read, peak memory, loaders);
* ``gpu``: run automatically when CUDA is available (bench/gpu_bench.py).

It prints a rich table and rewrites the generated sections of docs/benchmarks.md (between
``<!-- bench:NAME:start/end -->`` markers; hand-written text is kept) atomically. ``--tiny``
is the CI smoke mode (tests/test_bench.py); ``--no-docs`` leaves the docs alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(BENCH))

from psdlab.utils.io import atomic_path  # noqa: E402  (after the path set-up above)

SECTIONS = ("simulate", "train", "data")
SIM_EVENTS = {"tiny": 600, "quick": 6000, "full": 65000}
DATA_EVENTS = {"tiny": 300, "quick": None, "full": None}
DOCS = ROOT / "docs" / "benchmarks.md"


def machine() -> dict[str, str]:
    """Where the numbers come from: CPU model and cores, torch version, load at start."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_1min": f"{load:.1f}",
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def simulate_rows(mode: str, work: Path) -> tuple[list[dict], Path]:
    """Simulator throughput; returns the rows and the written file (the training input)."""
    from psdlab.simulate import get_calibration, write_file
    from psdlab.simulate.config import SimulatorConfig

    n = SIM_EVENTS[mode]
    path = work / f"sim_{n}.hdf5"
    get_calibration(SimulatorConfig())  # cached on disk; keep a first-time calibration out
    t0 = time.perf_counter()
    write_file(path, n, seed=7)
    dt = time.perf_counter() - t0
    size_gb = path.stat().st_size / 1e9
    rows = [
        {
            "group": "simulate",
            "name": "write_file (3800 samples, with truth)",
            "value": n / dt,
            "unit": "waveforms/s",
            "target": "",
            "note": f"{n} events in {dt:.1f} s, {size_gb:.2f} GB",
        }
    ]
    return rows, path


def data_rows(mode: str, work: Path) -> list[dict]:
    """bench/data.py's rows (its files live under ``work``), tagged with a group."""
    import data as data_bench

    old = os.environ.get("PSDLAB_BENCH_DIR")
    os.environ["PSDLAB_BENCH_DIR"] = str(work / "data")
    try:
        rows = data_bench.run(mode != "full", DATA_EVENTS[mode])
    finally:
        if old is None:
            os.environ.pop("PSDLAB_BENCH_DIR", None)
        else:
            os.environ["PSDLAB_BENCH_DIR"] = old
    return [{"group": "data", **r} for r in rows]


def render(rows: list[dict], title: str) -> None:
    """Print the rows as one rich table, a rule between groups."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col, just in (("group", "left"), ("measure", "left"), ("value", "right")):
        table.add_column(col, justify=just)
    for col in ("unit", "target", "note"):
        table.add_column(col)
    prev = None
    for r in rows:
        table.add_row(
            r["group"] if r["group"] != prev else "",
            r["name"],
            fmt(r["value"]),
            r["unit"],
            r["target"],
            r["note"],
            end_section=False,
        )
        prev = r["group"]
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


def fmt(v: float) -> str:
    """Three significant digits for small numbers, thousands separators for large ones."""
    if v != v:  # NaN
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) >= 0.01 else f"{v:.2e}"


def markdown(rows: list[dict]) -> str:
    """A markdown table of rows."""
    lines = ["| group | measure | value | unit | target | note |", "|---|---|--:|---|---|---|"]
    prev = None
    for r in rows:
        g = r["group"] if r["group"] != prev else ""
        lines.append(
            f"| {g} | {r['name']} | {fmt(r['value'])} | {r['unit']} | {r['target']} | {r['note']} |"
        )
        prev = r["group"]
    return "\n".join(lines)


DOC_TEMPLATE = """# Benchmarks

Generated sections below are rewritten by `python bench/run.py`; text outside the
`<!-- bench:... -->` markers is hand-written and kept.

<!-- bench:meta:start -->
<!-- bench:meta:end -->

<!-- bench:simulate:start -->
<!-- bench:simulate:end -->

<!-- bench:train:start -->
<!-- bench:train:end -->

<!-- bench:data:start -->
<!-- bench:data:end -->

<!-- bench:gpu:start -->
<!-- bench:gpu:end -->
"""


def replace_section(text: str, name: str, body: str) -> str:
    """Swap the text between a section's markers (appending the markers if absent)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        a = text.index(start)
        b = text.index(end) + len(end)
        return text[:a] + block + text[b:]
    return text.rstrip() + "\n\n" + block + "\n"


def write_docs(path: Path, sections: dict[str, str]) -> None:
    """Rewrite the generated sections of ``path`` atomically (temp file + os.replace)."""
    text = path.read_text() if path.exists() else DOC_TEMPLATE
    for name, body in sections.items():
        text = replace_section(text, name, body)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def log_time(section: str, t0: float) -> None:
    """Progress on stderr, so a long full run shows where it is."""
    print(f"[bench] {section}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def run_all(mode: str, selected: list[str], work: Path) -> tuple[list[dict], dict[str, str]]:
    """Run the selected sections; returns all rows and the markdown of each section."""
    import torch

    rows_by: dict[str, list[dict]] = {}
    sim_file: Path | None = None
    if "simulate" in selected or "train" in selected:
        t0 = time.perf_counter()
        sim, sim_file = simulate_rows(mode, work)
        rows_by["simulate"] = sim
        log_time("simulate", t0)
    if "train" in selected:
        import train_bench

        assert sim_file is not None
        t0 = time.perf_counter()
        rows_by["train"] = train_bench.run(mode, sim_file, work)
        log_time("train", t0)
    if "data" in selected:
        t0 = time.perf_counter()
        rows_by["data"] = data_rows(mode, work)
        log_time("data", t0)
    if torch.cuda.is_available() and mode != "tiny":
        import gpu_bench

        assert sim_file is not None or "train" not in selected
        rows_by["gpu"] = gpu_bench.run(mode, work, sim_file)
    return [r for v in rows_by.values() for r in v], {k: markdown(v) for k, v in rows_by.items()}


def main(argv: list[str] | None = None) -> list[dict]:
    """CLI entry point; returns the rows (tests call it with ``--tiny --no-docs``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="CI-sized (< 3 min on 2 cores)")
    g.add_argument("--tiny", action="store_true", help="smoke test sizes (seconds)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temp dir, removed")
    args = ap.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    selected = list(args.sections) or list(SECTIONS)
    unknown = sorted(set(selected) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    info = machine()
    t0 = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="psdlab_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows, sections = run_all(mode, selected, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    cmd = "python bench/run.py" + (f" --{mode}" if mode != "full" else "")
    cmd += "".join(f" {s}" for s in args.sections)
    render(rows, f"psdlab benchmarks ({mode}, {wall:.0f} s)")
    if not args.no_docs:
        import torch

        meta = [
            f"- date: {info['date']}; mode: `{mode}`; wall time of the run: {wall:.0f} s",
            f"- machine: {info['cpu']}, {info['cores']} cores "
            f"({info['torch_threads']} torch threads), load average at start "
            f"{info['load_1min']}; torch {info['torch']}, Python {info['python']}",
            f"- reproduce: `{cmd}`",
        ]
        if not torch.cuda.is_available():
            meta.append("- GPU: none on this machine; the GPU section was not measured.")
        else:
            meta.append(f"- GPU: {info['gpu']}")
        stamp = f"*Measured {info['date']} with `{cmd}` (load {info['load_1min']}).*\n\n"
        sections = {k: stamp + v for k, v in sections.items()}
        write_docs(args.docs, {"meta": "\n".join(meta), **sections})
    return rows


if __name__ == "__main__":
    main()
