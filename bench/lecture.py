"""The lecture-style pipeline that psdlab is measured against.

This is the workflow of the Majorana AI/ML lecture notebooks, kept deliberately plain: the
whole ``raw_waveform`` dataset is loaded with ``np.array``, windowed and min-max normalised in
numpy, wrapped in a per-item ``TensorDataset`` and served by ``DataLoader(shuffle=True)`` with
the default collate. Keeping it in one file lets the training benchmark reuse the loader and
lets ``python bench/lecture.py FILE --model mlp`` time the whole workflow end to end in a fresh
process, exactly like ``python train.py`` is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BATCH = 256


def load_file(path: str | Path, target: str = "low_avse") -> tuple[np.ndarray, np.ndarray]:
    """Whole-file load, fixed window 500:1500 and per-trace min-max, as in the lecture."""
    with h5py.File(path, "r") as f:
        x = np.array(f["raw_waveform"])
        y = np.array(f[f"psd_label_{target}"])
    x = x[:, 500:1500]
    x = (x - x.min(axis=1, keepdims=True)) / np.ptp(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.float32)


def lecture_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = BATCH) -> DataLoader:
    """Per-item dataset + default collate + shuffle: one Python call per waveform."""
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def build_model(model: str, input_length: int = 1000) -> nn.Module:
    """The same backbone + one-logit head psdlab builds from ``conf/model/<model>.yaml``."""
    from omegaconf import OmegaConf

    from psdlab.tasks.base import build_backbone

    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml"))
    net = build_backbone(cfg, (1, input_length))
    return nn.Sequential(net, nn.Linear(net.out_features, 1))


def main() -> None:
    """One epoch of the lecture workflow on FILE, then scoring the held-out 20%; prints JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    x, y = load_file(args.file)
    perm = np.random.default_rng(0).permutation(len(x))
    n_val = len(x) // 5
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    tr, va = torch.from_numpy(perm[n_val:]), torch.from_numpy(perm[:n_val])
    t_load = time.perf_counter() - t0
    model = build_model(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    loader = lecture_loader(xt[tr].unsqueeze(1), yt[tr])
    for _ in range(args.epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = lossf(model(xb).squeeze(1), yb)
            loss.backward()
            opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in DataLoader(TensorDataset(xt[va].unsqueeze(1), yt[va]), batch_size=1024):
            correct += int(((model(xb).squeeze(1) > 0).float() == yb).sum())
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "load_s": t_load,
                "val_acc": correct / max(1, n_val),
            }
        )
    )


if __name__ == "__main__":
    main()
