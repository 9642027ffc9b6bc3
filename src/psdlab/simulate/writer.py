"""Write simulated events to HDF5 files of the MJD release layout.

Datasets are created contiguous and uncompressed at the file root, exactly as in the real
release, and filled chunk by chunk so memory stays bounded. A file is written under a
temporary name in the target directory and renamed into place only when complete, so a
crash never leaves a file that looks finished; ``generate_dataset`` relies on that to skip
files already present.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import h5py
import numpy as np

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.labels import get_calibration, label_range
from psdlab.simulate.simulator import BLOCK, PulseSimulator
from psdlab.utils.io import atomic_path

ROOT_DTYPES: dict[str, type] = {
    "raw_waveform": np.float64,
    "energy_label": np.float64,
    "psd_label_low_avse": np.bool_,
    "psd_label_high_avse": np.bool_,
    "psd_label_dcr": np.bool_,
    "psd_label_lq": np.bool_,
    "tp0": np.int64,
    "detector": np.int64,
    "run_number": np.int64,
    "id": np.int64,
}
COMPLETE_ATTR = "psdlab_complete"
# what an unlabelled ("NPML") file of the release lacks: the energy and the four cut labels
LABEL_DATASETS = (
    "energy_label",
    "psd_label_low_avse",
    "psd_label_high_avse",
    "psd_label_dcr",
    "psd_label_lq",
)


def write_file(
    path: str | os.PathLike[str],
    n_events: int,
    seed: int = 0,
    config: SimulatorConfig | None = None,
    truth: bool = True,
    chunk_size: int = 5000,
    progress: bool = False,
    first_id: int = 0,
    run_number: int = 60000,
    labelled: bool = True,
) -> Path:
    """Simulate ``n_events`` and write them to ``path`` atomically; returns the path.

    ``labelled=False`` writes an unlabelled file like the release's ``MJD_NPML_*.hdf5``: no
    ``energy_label`` and no ``psd_label_*`` (the truth group, if asked for, is still written).

    Without ``truth`` the file holds only the release datasets (its size then matches a real
    file of the same N to within HDF5 metadata). Without truth no attributes are written
    either; with truth the root carries the configuration and calibration as JSON.
    """
    cfg = config or SimulatorConfig()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sim = PulseSimulator(cfg, seed)
    cal = get_calibration(cfg, progress=progress)
    chunk = max(BLOCK, (int(chunk_size) // BLOCK) * BLOCK)
    t_start = time.perf_counter()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        dsets: dict[str, h5py.Dataset] = {}
        root_dtypes = {k: v for k, v in ROOT_DTYPES.items() if labelled or k not in LABEL_DATASETS}
        for name, dt in root_dtypes.items():
            shape = (n_events, cfg.trace_length) if name == "raw_waveform" else (n_events,)
            dsets[name] = f.create_dataset(name, shape=shape, dtype=dt)
        tgroup = f.create_group("truth") if truth else None
        for s in range(0, n_events, chunk):
            e = min(n_events, s + chunk)
            root, tr = label_range(sim, s, e, first_id=first_id, run_number=run_number)
            for name in root_dtypes:
                dsets[name][s:e] = root[name]
            if tgroup is not None:
                for name, v in tr.items():
                    if name not in tgroup:
                        tgroup.create_dataset(name, shape=(n_events,), dtype=v.dtype)
                    tgroup[name][s:e] = v
            if progress:
                rate = e / (time.perf_counter() - t_start)
                print(f"{path.name}: {e}/{n_events} events ({rate:.0f} wf/s)", flush=True)
        if truth:
            f.attrs["simulator_config"] = json.dumps(cfg.to_dict())
            f.attrs["calibration"] = cal.to_json()
            f.attrs["seed"] = seed
            f.attrs[COMPLETE_ATTR] = True
    return path


def _is_complete(path: Path, n_events: int, trace_length: int) -> bool:
    """A file made by write_file is complete iff it exists with the right shape (atomic)."""
    try:
        with h5py.File(path, "r") as f:
            wf = f["raw_waveform"]
            return wf.shape == (n_events, trace_length) and "id" in f
    except (OSError, KeyError):
        return False


def generate_dataset(
    out_dir: str | os.PathLike[str],
    n_train_files: int,
    n_test_files: int,
    events_per_file: int,
    seed: int = 0,
    config: SimulatorConfig | None = None,
    truth: bool = True,
    progress: bool = True,
    train_pattern: str = "MJD_Train_{i}.hdf5",
    test_pattern: str = "MJD_Test_{i}.hdf5",
    n_npml_files: int = 0,
    npml_pattern: str = "MJD_NPML_{i}.hdf5",
    first_id: int = 0,
) -> dict[str, list[Path]]:
    """Write train, test and unlabelled (NPML-like) files with disjoint event ids; existing
    complete files are kept.

    File k (train files first, then test files, then unlabelled ones) uses seed
    ``seed * 1000 + k`` and ids ``first_id + k * events_per_file ...``, so regenerating one
    file reproduces it exactly and adding unlabelled files changes no labelled one. Datasets
    meant to be used beside each other (the default data and the pre-training set) take
    different ``first_id`` so that an id names one event across them.
    """
    cfg = config or SimulatorConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, list[Path]] = {"train": [], "test": [], "npml": []}
    k = 0
    for split, count, pattern in (
        ("train", n_train_files, train_pattern),
        ("test", n_test_files, test_pattern),
        ("npml", n_npml_files, npml_pattern),
    ):
        for i in range(count):
            path = out / pattern.format(i=i)
            if not _is_complete(path, events_per_file, cfg.trace_length):
                write_file(
                    path,
                    events_per_file,
                    seed=seed * 1000 + k,
                    config=cfg,
                    truth=truth,
                    progress=progress,
                    first_id=first_id + k * events_per_file,
                    run_number=60000 + k,
                    labelled=split != "npml",
                )
            elif progress:
                print(f"{path.name}: exists, skipped", flush=True)
            result[split].append(path)
            k += 1
    return result
