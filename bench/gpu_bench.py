"""GPU throughput (run by bench/run.py only when ``torch.cuda.is_available()``).

On a GPU the questions differ from the CPU ones: is the device kept busy? So the data are
made resident on the GPU (no host->device copy per step), the step runs under bf16 autocast,
batches grow (256, 1024, 4096), and the busy fraction is the summed CUDA-event time of the
steps over the wall time of the loop. psdlab's own Trainer (bf16-mixed, eval batch 1024) is
measured on the same file for comparison. The device name goes into the table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lecture import build_model
from train_bench import MODELS, StepTimer, compose_cfg, quiet, row, training_tensors

GPU_BATCHES = (256, 1024, 4096)


def gpu_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int) -> tuple:
    """(waveforms/s, busy fraction) of a bf16-autocast loop on GPU-resident tensors."""
    dev = x.device
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    events = []
    perm = torch.randperm(len(x), device=dev)

    def step(i: int) -> None:
        idx = perm[(i * batch) % max(1, len(x) - batch) :][:batch]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = lossf(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(5):  # warm-up: cuDNN autotuning, allocator
        step(i)
    torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for i in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step(i)
        end.record()
        events.append((start, end))
    torch.cuda.synchronize(dev)
    wall = time.perf_counter() - t0
    busy = sum(s.elapsed_time(e) for s, e in events) / 1e3
    return steps * batch / wall, min(1.0, busy / wall)


def run(mode: str, work: Path, file: Path | None) -> list[dict]:
    """GPU rows: device name, raw bf16 loop per batch size with busy fraction, psdlab fit."""
    import hydra

    from psdlab.utils.instantiate import build_datamodule, build_task, instantiate_loggers

    dev = torch.device("cuda", 0)
    name = torch.cuda.get_device_name(dev)
    rows = [row("gpu", "device", float(torch.cuda.device_count()), "devices", note=name)]
    if file is None:
        return rows
    steps = 20 if mode == "quick" else 200
    for model in MODELS:
        cfg = compose_cfg(
            model,
            file,
            work / "cache",
            work / f"gpu_{model}",
            [
                "trainer.accelerator=gpu",
                "trainer.precision=bf16-mixed",
                "trainer.max_epochs=1",
                "callbacks.model_checkpoint=null",
                "callbacks.early_stopping=null",
                "data.batch_size=1024",
            ],
        )
        with quiet():
            dm = build_datamodule(cfg.data)
            x, y = (t.to(dev) for t in training_tensors(dm))
            for b in GPU_BATCHES:
                if b > len(x):
                    continue
                rate, busy = gpu_loop(build_model(model, x.shape[-1]).to(dev), x, y, b, steps)
                rows.append(
                    row(
                        f"gpu {model}",
                        f"raw bf16 loop, batch {b}",
                        rate,
                        "waveforms/s",
                        note=f"GPU busy {100 * busy:.0f}%",
                    )
                )
            timer = StepTimer(skip=3)
            trainer = hydra.utils.instantiate(
                cfg.trainer, callbacks=[timer], logger=instantiate_loggers(cfg.get("logger"))
            )
            trainer.fit(build_task(cfg, dm), datamodule=dm)
        rows.append(
            row(
                f"gpu {model}",
                "psdlab fit, bf16-mixed, batch 1024",
                timer.rate,
                "waveforms/s",
                note=name,
            )
        )
    return rows
