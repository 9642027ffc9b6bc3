"""Tiny synthetic files in the MJD release layout, for the data tests (no simulator needed)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

LABELS = ("low_avse", "high_avse", "dcr", "lq")
# the data config of the files make_arrays writes: 600-sample traces, rise near sample 200
SCHEMA = {"trace_length": 600}
PRE = {
    "baseline": {"enabled": True, "start": 0, "stop": 150},
    "window": {"mode": "tp0", "offset": -100, "length": 300},
    "normalize": "minmax",
}


def quiet_trainer(**kwargs):
    """A CPU Lightning Trainer that writes nothing and prints no bars or summaries."""
    import lightning as L

    args = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
    }
    return L.Trainer(**{**args, **kwargs})


def make_arrays(n: int = 300, length: int = 600, seed: int = 0, id_offset: int = 0) -> dict:
    """Step-like pulses with noise; tp0 near 200, labels correlated with energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    tp0 = rng.integers(180, 230, size=n)
    energy = rng.uniform(100.0, 3000.0, size=n)
    amp = 2.5 * energy
    rise = rng.uniform(5, 30, size=n)
    x = (t[None, :] - tp0[:, None]) / rise[:, None]
    pulse = amp[:, None] / (1 + np.exp(-np.clip(x, -50, 50)))
    decay = np.exp(-np.clip(t[None, :] - tp0[:, None], 0, None) / 7200.0)
    wf = 1000.0 + rng.normal(0, 2.0, (n, length)).cumsum(axis=1) * 0.1 + pulse * decay
    d = {
        "raw_waveform": wf.astype(np.float64),
        "energy_label": energy,
        "tp0": tp0.astype(np.int64),
        "detector": rng.integers(0, 5, size=n).astype(np.int64),
        "run_number": rng.integers(100, 110, size=n).astype(np.int64),
        "id": np.arange(id_offset, id_offset + n, dtype=np.int64),
    }
    d["psd_label_low_avse"] = rng.random(n) < np.where(energy > 1500, 0.7, 0.3)
    d["psd_label_high_avse"] = rng.random(n) < 0.9
    d["psd_label_dcr"] = rng.random(n) < 0.8
    d["psd_label_lq"] = rng.random(n) < 0.6
    return d


def write_file(
    path: str | Path,
    n: int = 300,
    length: int = 600,
    seed: int = 0,
    id_offset: int = 0,
    labelled: bool = True,
    truth: bool = False,
    drop: tuple[str, ...] = (),
    override: dict | None = None,
    chunks: bool = False,
) -> Path:
    """Write one file; ``labelled=False`` gives the NPML layout, ``drop`` removes datasets."""
    d = make_arrays(n, length, seed, id_offset)
    if not labelled:
        d = {
            k: v
            for k, v in d.items()
            if k in ("raw_waveform", "detector", "run_number", "tp0", "id")
        }
    d.update(override or {})
    path = Path(path)
    with h5py.File(path, "w") as f:
        for k, v in d.items():
            if k in drop:
                continue
            if k == "raw_waveform" and chunks:
                f.create_dataset(k, data=v, chunks=(64, v.shape[1]), compression="gzip")
            else:
                f.create_dataset(k, data=v)
        if truth:
            rng = np.random.default_rng(seed + 1)
            f.create_dataset("truth/n_sites", data=rng.integers(1, 4, size=n))
            f.create_dataset("truth/true_energy", data=d["energy_label"])
    return path
