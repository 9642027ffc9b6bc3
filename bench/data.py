"""Data-path benchmark: preprocessing vs a plain h5py read, peak memory, loader throughput.

Run ``python bench/data.py`` (full: four 65,000 x 3800 float64 files, ~2 GB each, in
``$PSDLAB_BENCH_DIR`` or the system temp dir) or ``python bench/data.py --quick``.
Every throughput is reported next to a reference measured in the same run on the same files,
so the ratios mean something on any machine:

* preprocess/read ratio: cache build (read + default preprocessing + write) vs a plain
  sequential h5py read of the same ``raw_waveform`` (target >= 0.8);
* peak RSS of a fresh process that builds the cache of four files (target < 3 GB);
* loader throughput on the cached arrays (in memory and memory-mapped);
* the lecture pipeline (bench/lecture.py: whole-file ``np.array`` load, a per-item Dataset
  preprocessing each pulse, default collate): time to first batch and steady batches/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from psdlab.data import WaveformDataModule  # noqa: E402
from psdlab.data.cache import load_or_build  # noqa: E402
from psdlab.data.preprocess import Preprocessor  # noqa: E402
from psdlab.data.schema import MJD_SCHEMA  # noqa: E402

LENGTH = 3800
DEFAULT_PRE = {
    "baseline": {"enabled": True, "start": 0, "stop": 500},
    "window": {"mode": "tp0", "offset": -200, "length": 1000},
    "normalize": "minmax",
}


def write_bench_file(path: Path, n: int, seed: int, chunk: int = 4096) -> None:
    """MJD-layout file with random-walk noise on a baseline plus a smoothed step at tp0."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH, dtype=np.float32)
    tp0 = rng.integers(950, 1050, size=n)
    energy = rng.exponential(600.0, size=n) + 50.0
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("raw_waveform", shape=(n, LENGTH), dtype="f8")
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            m = b - a
            noise = rng.standard_normal((m, LENGTH), dtype=np.float32).cumsum(axis=1) * 0.05
            x = np.clip((t[None] - tp0[a:b, None]) / 20.0, -30, 30)
            step = (2.5 * energy[a:b, None]).astype(np.float32) / (1 + np.exp(-x))
            ds[a:b] = 1000.0 + noise + step
        f["energy_label"] = energy
        f["tp0"] = tp0.astype(np.int64)
        f["id"] = np.arange(seed * n, (seed + 1) * n, dtype=np.int64)
        f["detector"] = rng.integers(0, 58, n)
        f["run_number"] = rng.integers(0, 100, n)
        for name in ("low_avse", "high_avse", "dcr", "lq"):
            f[f"psd_label_{name}"] = rng.random(n) < 0.5


def plain_read_seconds(path: Path, chunk: int) -> float:
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        ds = f["raw_waveform"]
        for a in range(0, ds.shape[0], chunk):
            ds[a : a + chunk]
    return time.perf_counter() - t0


_PEAK_CODE = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from psdlab.data.cache import load_or_build
from psdlab.data.preprocess import Preprocessor
from psdlab.data.schema import MJD_SCHEMA
t0 = time.perf_counter()
c = load_or_build({cache!r}, [Path(p) for p in {files!r}], Preprocessor.from_config({pre!r}),
                  MJD_SCHEMA)
dt = time.perf_counter() - t0
# VmHWM is the peak of this program's own address space; ru_maxrss is not: Linux carries it
# over from the parent through fork and exec, so it would report the benchmark's own RSS
try:
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": dt, "n": int(c.waveform.shape[0]), "peak_rss_mb": hwm / 1024}}))
"""


def _loader_rate(dl, max_batches: int) -> tuple[float, float, float]:
    """(time to first batch, steady batches/s, waveforms/s) over up to max_batches."""
    t0 = time.perf_counter()
    it = iter(dl)
    first = next(it)
    t_first = time.perf_counter() - t0
    size = len(first["waveform"] if isinstance(first, dict) else first[0])
    n, t1 = 0, time.perf_counter()
    for _ in it:
        n += 1
        if n >= max_batches:
            break
    dt = time.perf_counter() - t1
    return t_first, n / dt, n * size / dt


def _single_file_module(
    path: Path, cache: Path, in_memory: bool | str = "auto"
) -> WaveformDataModule:
    """The loader benchmarks' data module: one file, all of it for training, shared cache."""
    return WaveformDataModule(
        str(path),
        str(path),
        targets=["low_avse"],
        preprocess=DEFAULT_PRE,
        cache_dir=cache / "single0",
        batch_size=256,
        in_memory=in_memory,
        val_fraction=0.0,
    )


def run(quick: bool, n_events: int | None = None) -> list[dict]:
    """Run the benchmark; one dict per measured quantity (name, value, unit, target, note).

    ``n_events`` overrides the per-file size (bench/run.py's ``--tiny`` smoke mode uses a few
    hundred events so CI exercises this code path in seconds).
    """
    from lecture import LectureDataset, lecture_loader, load_file

    n = n_events or (4000 if quick else 65000)
    base = Path(os.environ.get("PSDLAB_BENCH_DIR", tempfile.gettempdir())) / (
        "psdlab_bench_quick" if quick else "psdlab_bench"
    )
    base.mkdir(parents=True, exist_ok=True)
    files = [base / f"MJD_Train_{i}.hdf5" for i in range(4)]
    for i, p in enumerate(files):
        if not p.is_file() or p.stat().st_size < n * LENGTH * 8:
            write_bench_file(p, n, seed=i)
    rows: list[dict] = []
    pre = Preprocessor.from_config(DEFAULT_PRE)
    chunk = (64 * 2**20) // (LENGTH * 8)

    # 1. preprocessing + caching vs plain h5py read, same file, same run (best of 2)
    cache = base / "cache"
    ratios = []
    for rep in range(2):
        t_read = plain_read_seconds(files[0], chunk)
        sub = cache / f"single{rep}"
        if sub.exists():
            import shutil

            shutil.rmtree(sub)
        t0 = time.perf_counter()
        load_or_build(sub, [files[0]], pre, MJD_SCHEMA)
        t_pre = time.perf_counter() - t0
        ratios.append((t_read / t_pre, n / t_read, n / t_pre))
    best = max(ratios)
    rows += [
        {
            "name": "plain h5py read",
            "value": best[1],
            "unit": "events/s",
            "target": "",
            "note": "1 file",
        },
        {
            "name": "read+preprocess+cache",
            "value": best[2],
            "unit": "events/s",
            "target": "",
            "note": "default preset",
        },
        {
            "name": "preprocess / plain read",
            "value": best[0],
            "unit": "ratio",
            "target": ">= 0.8",
            "note": "throughput ratio",
        },
    ]

    # 2. peak memory of a fresh process building the cache of four files
    cache4 = cache / "four"
    if cache4.exists():
        import shutil

        shutil.rmtree(cache4)
    code = _PEAK_CODE.format(
        src=str(ROOT / "src"), cache=str(cache4), files=[str(p) for p in files], pre=DEFAULT_PRE
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak = json.loads(out.stdout.strip().splitlines()[-1])
    rows += [
        {
            "name": "peak RSS, cache build of 4 files",
            "value": peak["peak_rss_mb"],
            "unit": "MB",
            "target": "< 3000",
            "note": f"{4 * n} events, {4 * n * LENGTH * 8 / 1e9:.1f} GB raw",
        },
        {
            "name": "4-file cache build",
            "value": peak["n"] / peak["seconds"],
            "unit": "events/s",
            "target": "",
            "note": f"{peak['seconds']:.1f} s",
        },
    ]

    # 3. loader throughput on the cached arrays (cache reused: raw files not read)
    max_batches = min(50 if quick else 400, max(2, n // 256 - 1))
    for in_mem in (True, False):
        dm = _single_file_module(files[0], cache, in_memory=in_mem)
        dm.setup("fit")
        _, bps, wps = _loader_rate(dm.train_dataloader(), max_batches)
        label = "in memory" if in_mem else "memory-mapped"
        rows += [
            {
                "name": f"loader ({label})",
                "value": bps,
                "unit": "batches/s",
                "target": "",
                "note": f"{wps:,.0f} waveforms/s, batch 256",
            }
        ]

    # 4. lecture pipeline vs ours on one file: time to first batch, steady batches/s
    t0 = time.perf_counter()
    data = load_file(files[0])
    ds = LectureDataset(data["waveform"], data["tp0"], data["label"])
    lec_first_prep = time.perf_counter() - t0
    lec_first, lec_bps, _ = _loader_rate(lecture_loader(ds), max_batches)
    lec_first += lec_first_prep
    del ds, data
    t0 = time.perf_counter()
    dm = _single_file_module(files[0], cache)
    dm.setup("fit")
    setup_s = time.perf_counter() - t0
    our_first, our_bps, _ = _loader_rate(dm.train_dataloader(), max_batches)
    our_first += setup_s
    rows += [
        {
            "name": "lecture: time to first batch",
            "value": lec_first,
            "unit": "s",
            "target": "",
            "note": "np.array load + per-item Dataset",
        },
        {
            "name": "ours (warm cache): time to first batch",
            "value": our_first,
            "unit": "s",
            "target": "",
            "note": f"lecture/ours = {lec_first / our_first:.1f}x",
        },
        {
            "name": "lecture: steady batches/s",
            "value": lec_bps,
            "unit": "batches/s",
            "target": "",
            "note": "per-item preprocessing + default collate",
        },
        {
            "name": "ours: steady batches/s",
            "value": our_bps,
            "unit": "batches/s",
            "target": "",
            "note": f"ours/lecture = {our_bps / lec_bps:.1f}x",
        },
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small files (4,000 events each)")
    args = ap.parse_args()
    rows = run(args.quick)
    print(f"{'measure':42s} {'value':>12s} {'unit':10s} {'target':8s} note")
    for r in rows:
        print(f"{r['name']:42s} {r['value']:12.3f} {r['unit']:10s} {r['target']:8s} {r['note']}")


if __name__ == "__main__":
    main()
