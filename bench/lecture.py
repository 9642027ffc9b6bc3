"""The lecture-style pipeline that psdlab is measured against.

This is how the Majorana AI/ML lecture notebooks and the collaboration's tutorial code train on
the release, kept deliberately plain:

* the whole file is loaded with ``np.array`` (``raw_waveform`` stays float64 in memory);
* a per-item ``Dataset`` preprocesses one pulse per ``__getitem__`` call, every epoch:
  baseline subtraction, a window on the rising edge from ``tp0``, min-max normalisation, a
  ``torch.tensor`` conversion;
* ``DataLoader(shuffle=True)`` with the default collate stacks 256 items per batch;
* the network is written with the stock 1-D layers (``Conv1d``/``BatchNorm1d``/``MaxPool1d``)
  and trained with ``Adam(params, lr=1e-3)``.

The per-item transform is psdlab's default preprocessing (``conf/preprocess/default.yaml``),
and the stock network is psdlab's with its weights copied, so both pipelines compute the same
numbers (``tests/test_bench.py`` checks it); only the machinery differs. Keeping it in one
file lets the training benchmark reuse the pieces and lets
``python bench/lecture.py FILE --model mlp`` time the whole workflow end to end in a fresh
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
from torch.utils.data import DataLoader, Dataset, Subset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BATCH = 256
BASELINE = (0, 500)  # pre-trigger samples whose mean is subtracted
OFFSET, LENGTH = -200, 1000  # window tp0-200 .. tp0+800


def load_file(path: str | Path, target: str = "low_avse") -> dict[str, np.ndarray]:
    """Whole-file load: waveforms, tp0, the label and the event ids as numpy arrays."""
    with h5py.File(path, "r") as f:
        return {
            "waveform": np.array(f["raw_waveform"]),
            "tp0": np.array(f["tp0"]),
            "label": np.array(f[f"psd_label_{target}"]).astype(np.float32),
            "id": np.array(f["id"]),
        }


class LectureDataset(Dataset):
    """One pulse per item, preprocessed on every access (nothing is cached between epochs)."""

    def __init__(self, waveform: np.ndarray, tp0: np.ndarray, label: np.ndarray) -> None:
        self.waveform, self.tp0, self.label = waveform, tp0, label

    def __len__(self) -> int:
        return len(self.waveform)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        wf = self.waveform[i]
        wf = wf - wf[BASELINE[0] : BASELINE[1]].mean()
        start = int(min(max(self.tp0[i] + OFFSET, 0), len(wf) - LENGTH))
        wf = wf[start : start + LENGTH]
        lo, hi = wf.min(), wf.max()
        wf = (wf - lo) / (hi - lo)
        x = torch.tensor(wf[None], dtype=torch.float32)
        return x, torch.tensor([self.label[i]], dtype=torch.float32)


def lecture_loader(dataset: Dataset, batch_size: int = BATCH) -> DataLoader:
    """Per-item dataset + default collate + shuffle: one Python call per waveform."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=True)


def stock_layers(net: nn.Module) -> nn.Module:
    """psdlab's network rewritten the way the lectures write it, with the same weights.

    psdlab's CNN runs ``Conv2d``/``BatchNorm2d``/pooling with ``(1, k)`` kernels over a
    channels-last ``(B, C, 1, L)`` view (psdlab.models.cnn explains why); the lectures use
    the 1-D layers on ``(B, C, L)`` (:mod:`psdlab.models.stock`). Other backbones are already
    stock layers.
    """
    from psdlab.models import CNN
    from psdlab.models.stock import Stock1D

    return Stock1D(net) if isinstance(net, CNN) else net


def build_model(model: str, input_length: int = LENGTH, stock: bool = False) -> nn.Module:
    """The backbone + one-logit head psdlab builds from ``conf/model/<model>.yaml``;
    ``stock=True`` writes the same network (same weights) with the lecture's stock layers."""
    from omegaconf import OmegaConf

    from psdlab.tasks import build_backbone

    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml"))
    net = build_backbone(cfg, (1, input_length))
    head = nn.Linear(net.out_features, 1)  # before stock_layers, whose layers draw random inits
    return nn.Sequential(stock_layers(net) if stock else net, head)


def main() -> None:
    """One epoch of the lecture workflow on FILE, then scoring the held-out 20%; prints JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    data = load_file(args.file)
    dataset = LectureDataset(data["waveform"], data["tp0"], data["label"])
    perm = np.random.default_rng(0).permutation(len(dataset))
    n_val = len(perm) // 5
    train_set, val_set = Subset(dataset, perm[n_val:]), Subset(dataset, perm[:n_val])
    t_load = time.perf_counter() - t0
    model = build_model(args.model, stock=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    loader = lecture_loader(train_set)
    for _ in range(args.epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in DataLoader(val_set, batch_size=1024):
            correct += int(((model(xb) > 0).float() == yb).sum())
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
