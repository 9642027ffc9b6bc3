"""Training-step time of backbones side by side: ``python bench/backbone_step.py [MODEL ...]``.

One step = forward + backward + fused-Adam update of ``conf/model/<MODEL>.yaml`` plus a
one-logit head on random waveforms (default batch 256 x 1 x 1000, 2 torch threads), no data
loading or Lightning. Steps are taken round-robin (one step of each model per round), so a
burst of load from another process hits every model alike; the table gives each model's
median and minimum wall time and the median over rounds of its step time divided by the
first model's in the same round. ``--stock`` adds each model rewritten with the stock 1-D
layers (Conv1d/BatchNorm1d/MaxPool1d on (B, C, L), same weights) to measure what the
channels-last 2-D layout gains. A model may carry overrides: ``resnet:norm=batch,depth=4``.

On a shared 2-core machine, run with ``OMP_WAIT_POLICY=PASSIVE``: with OpenMP's default
spinning, a thread waiting for a core held by another process burns its own, and steps were
up to ~20x slower while another job used both cores (docs/results.md, issue 17 section).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from psdlab.models.stock import Stock1D  # noqa: E402  (after the path set-up above)
from psdlab.tasks import build_backbone  # noqa: E402


def build(spec: str, shape: tuple[int, int], stock: bool) -> tuple[nn.Module, int]:
    """``name[:key=value,...]`` -> (backbone + Linear head, backbone parameter count)."""
    from omegaconf import OmegaConf

    name, _, sets = spec.partition(":")
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml"))
    for item in filter(None, sets.split(",")):
        key, _, value = item.partition("=")
        cfg[key] = OmegaConf.create({"v": value})["v"]  # YAML typing of the value
    net = build_backbone(cfg, shape)
    n_params = sum(p.numel() for p in net.parameters())
    out = net.out_features
    return nn.Sequential(Stock1D(net) if stock else net, nn.Linear(out, 1)), n_params


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", default=["cnn", "resnet", "inception"])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stock", action="store_true", help="add the stock 1-D version of each")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.length)
    y = (torch.rand(args.batch, 1) > 0.5).float()
    runs = []
    for spec in args.models:
        for stock in (False, True) if args.stock else (False,):
            model, n = build(spec, (1, args.length), stock)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
            runs.append({"name": spec + (" (stock 1-D)" if stock else ""), "params": n,
                         "model": model, "opt": opt, "ms": []})  # fmt: skip
    for r in range(args.rounds + 2):  # two warm-up rounds
        for run in runs if r % 2 else runs[::-1]:
            t = time.perf_counter()
            run["opt"].zero_grad(set_to_none=True)
            nn.functional.binary_cross_entropy_with_logits(run["model"](x), y).backward()
            run["opt"].step()
            if r >= 2:
                run["ms"].append(1e3 * (time.perf_counter() - t))
    rows = []
    for run in runs:
        ratio = statistics.median(a / b for a, b in zip(run["ms"], runs[0]["ms"], strict=True))
        rows.append({"name": run["name"], "params": run["params"], "ratio": ratio,
                     "median_ms": statistics.median(run["ms"]), "min_ms": min(run["ms"])})  # fmt: skip
        print(f"{run['name']:28s} {run['params']:>8d} params  median {rows[-1]['median_ms']:7.1f} ms"
              f"  min {rows[-1]['min_ms']:7.1f} ms  x{ratio:.2f} of {runs[0]['name']}")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
