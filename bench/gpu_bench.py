"""GPU throughput (bench/run.py runs it when ``torch.cuda.is_available()``).

The questions on a GPU: does psdlab keep the device busy, how close is it to a hand-written
loop, and how far ahead of the lecture loop? Per model (avse task, the CPU section's file):

* raw loop: the training split resident on the GPU, bf16 autocast, fused Adam, batches
  256 / 1024 / 4096;
* psdlab: its own Trainer (``precision=bf16-mixed``, batch 1024, default callbacks and
  TensorBoard logger, checkpoint writing off);
* lecture: bench/lecture.py's loop as it is written for a GPU: the per-item Dataset on the
  CPU, default collate, ``.to(device)`` per batch, float32, batch 256;
* GPU busy fraction: summed device-kernel time (``torch.profiler``) over the wall time of the
  same window of training steps (a CUDA-event interval would count idle gaps as busy).

Every rate is events over the wall time of a window of steps after a warm-up, with the device
synchronised at both ends. ``device="cpu"`` runs the same code on the CPU, without the busy
fraction, so the smoke test exercises it on machines without a GPU.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lecture import build_model, lecture_loader
from train_bench import (
    MODELS,
    compose_cfg,
    lecture_dataset,
    quiet,
    row,
    training_tensors,
)

GPU_BATCHES = (256, 1024, 4096)
PSDLAB_BATCH = 1024
WARMUP = 5


class Window:
    """Wall seconds and device-kernel seconds between ``start()`` and ``stop()``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall = self.kernel = math.nan
        self._prof: Any = None
        self._t0 = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        self._sync()
        if self.device.type == "cuda":
            activities = [torch.profiler.ProfilerActivity.CUDA]
            self._prof = torch.profiler.profile(activities=activities)
            self._prof.__enter__()
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self._sync()
        self.wall = time.perf_counter() - self._t0
        if self._prof is not None:
            self._prof.__exit__(None, None, None)
            events = self._prof.key_averages()
            self.kernel = sum(e.self_device_time_total for e in events) / 1e6

    @property
    def busy(self) -> float:
        """Fraction of the window with a kernel running (NaN where not measured)."""
        return min(1.0, self.kernel / self.wall) if self.wall > 0 else math.nan


def timed_loop(
    step: Callable[[int], int], steps: int, device: torch.device
) -> tuple[float, Window]:
    """Waveforms/s of ``step(i) -> batch size`` over ``steps`` steps after a warm-up."""
    for i in range(WARMUP):
        step(i)
    window = Window(device)
    window.start()
    n = sum(step(WARMUP + i) for i in range(steps))
    window.stop()
    return n / window.wall, window


def raw_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int
) -> tuple[float, Window]:
    """bf16-autocast training on device-resident tensors: one gather per batch."""
    dev = x.device
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    lossf = nn.BCEWithLogitsLoss()
    perm = torch.randperm(len(x), device=dev)

    def step(i: int) -> int:
        start = (i * batch) % max(1, len(x) - batch + 1)
        idx = perm[start : start + batch]
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = lossf(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return len(idx)

    return timed_loop(step, steps, dev)


def lecture_loop(
    model: nn.Module, dataset: Any, steps: int, device: torch.device
) -> tuple[float, Window]:
    """The lecture loop on a device: CPU per-item loading, a copy per batch, float32."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    batches = iter(())

    def step(i: int) -> int:
        nonlocal batches
        try:
            xb, yb = next(batches)
        except StopIteration:
            batches = iter(lecture_loader(dataset))
            xb, yb = next(batches)
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return len(xb)

    return timed_loop(step, steps, device)


class WindowCallback(Callback):
    """The same window around psdlab's training steps ``WARMUP .. WARMUP + steps``."""

    def __init__(self, device: torch.device, steps: int) -> None:
        self.window = Window(device)
        self.steps, self.samples = steps, 0

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> None:
        if trainer.global_step == WARMUP and not self.samples:
            self.window.start()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if WARMUP < trainer.global_step <= WARMUP + self.steps:
            self.samples += int(batch["waveform"].shape[0])
            if trainer.global_step == WARMUP + self.steps:
                self.window.stop()

    @property
    def rate(self) -> float:
        return self.samples / self.window.wall


def psdlab_run(cfg: Any, datamodule: Any, device: torch.device, steps: int) -> tuple[float, Window]:
    """psdlab's Trainer as configured (bf16-mixed), for ``WARMUP + steps`` steps."""
    import hydra

    from psdlab.run.build import build_task, instantiate_callbacks, instantiate_loggers

    probe = WindowCallback(device, steps)
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), probe]
    trainer: Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=instantiate_loggers(cfg.get("logger"))
    )
    trainer.fit(build_task(cfg, datamodule), datamodule=datamodule)
    return probe.rate, probe.window


def busy_note(window: Window) -> str:
    return "" if math.isnan(window.kernel) else f"GPU busy {100 * window.busy:.0f}%"


def run(mode: str, work: Path, file: Path | None, device: str = "cuda") -> list[dict]:
    """GPU rows: the device, then per model the raw loop per batch size, psdlab, the
    lecture loop, their ratios and psdlab's busy fraction."""
    from psdlab.run.build import build_datamodule

    dev = torch.device(device, 0) if device == "cuda" else torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    count = torch.cuda.device_count() if dev.type == "cuda" else 1
    rows = [row("gpu", "device", float(count), "devices", note=name)]
    if file is None:
        return rows
    steps = {"tiny": 2, "quick": 30, "full": 200}[mode]
    batch = 64 if mode == "tiny" else PSDLAB_BATCH
    for model in MODELS:
        # validation off (limit_val_batches=0): the window then holds training steps only,
        # across epoch boundaries when the file is smaller than WARMUP + steps batches
        cfg = compose_cfg(
            model,
            file,
            work / "cache",
            work / f"gpu_{model}",
            [
                f"trainer.accelerator={'gpu' if dev.type == 'cuda' else 'cpu'}",
                "trainer.precision=bf16-mixed",
                "trainer.max_epochs=-1",
                f"+trainer.max_steps={WARMUP + steps}",
                "+trainer.limit_val_batches=0",
                "callbacks.model_checkpoint=null",
                "callbacks.early_stopping=null",
                f"data.batch_size={batch}",
            ],
        )
        g = f"gpu {model}"
        with quiet():
            dm = build_datamodule(cfg.data, "fit")
            x, y = (t.to(dev) for t in training_tensors(dm))
            raw_at_batch = math.nan
            for b in sorted({*GPU_BATCHES, batch}):
                if b > len(x) // 2 and b != batch:
                    continue
                torch.manual_seed(0)
                net = build_model(model, x.shape[-1]).to(dev)
                rate, window = raw_loop(net, x, y, b, steps)
                raw_at_batch = rate if b == batch else raw_at_batch
                rows.append(
                    row(g, f"raw bf16 loop, batch {b}", rate, "waveforms/s", note=busy_note(window))
                )
            torch.manual_seed(0)
            ours, our_window = psdlab_run(cfg, dm, dev, steps)
            torch.manual_seed(0)
            net = build_model(model, x.shape[-1], stock=True).to(dev)
            lecture, _ = lecture_loop(net, lecture_dataset(file, dm), steps, dev)
        rows += [
            row(
                g,
                f"psdlab fit, bf16-mixed, batch {batch}",
                ours,
                "waveforms/s",
                note=busy_note(our_window),
            ),
            row(g, "lecture-style loop, float32, batch 256", lecture, "waveforms/s"),
            row(
                g,
                "psdlab / raw",
                ours / raw_at_batch,
                "ratio",
                ">= 0.9",
                note=f"both batch {batch}",
            ),
            row(g, "psdlab / lecture", ours / lecture, "ratio", ">= 10"),
        ]
        if not math.isnan(our_window.kernel):
            rows.append(row(g, "psdlab GPU busy", 100 * our_window.busy, "%", ">= 90"))
    return rows
