"""Training and inference throughput: psdlab (Lightning) vs a raw loop vs the lecture loop.

Every variant trains the same network (same function, same initial weights) + one-logit head
with Adam(lr=1e-3), batch 256, on the same events of the training split with the same input
numbers, so only the machinery around the step differs:

* ``psdlab``: psdlab's data module, task, default callbacks and TensorBoard logger;
* ``raw``: a hand-written loop slicing psdlab's preprocessed split held as in-memory tensors,
  psdlab's network, ``Adam(params, lr=1e-3)`` as people write it (``raw_fused``: with
  psdlab's default fused Adam, isolating psdlab's own overhead);
* ``lecture``: bench/lecture.py, a per-item Dataset that preprocesses each pulse in
  ``__getitem__``, the default collate and the network in stock 1-D layers;
* ``lecture_tensors``: the lecture loop with its preprocessing hoisted out of the loop
  (``TensorDataset`` over psdlab's preprocessed tensors), the fastest form of that code.

Each measurement times the interval between the
ends of consecutive training steps inside an epoch (the first ``skip`` steps of each epoch and
everything at epoch boundaries, e.g. validation and its figures, are excluded), and the three
variants are interleaved ``reps`` times and the best repetition kept: the machine is shared,
so only same-run ratios of best-of-N numbers are meaningful.

The hardware limit is the model's training FLOPs per waveform (3x the forward FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode``) times the throughput, over the float32
``torch.mm`` rate measured in the same run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lecture import (  # noqa: E402
    BATCH,
    LectureDataset,
    build_model,
    lecture_loader,
    load_file,
)

MODELS = ("mlp", "cnn")


@dataclass
class TrainSizes:
    """How much to run; ``steps`` per model is per epoch, capped by the training split."""

    n_events: int
    reps: int
    epochs: dict[str, int]
    steps: dict[str, int]
    skip: int
    infer_batches: int
    e2e_models: tuple[str, ...]


SIZES = {
    "tiny": TrainSizes(600, 1, {"mlp": 1, "cnn": 1}, {"mlp": 3, "cnn": 2}, 1, 1, ()),
    "quick": TrainSizes(6000, 3, {"mlp": 1, "cnn": 2}, {"mlp": 18, "cnn": 18}, 2, 4, ("mlp",)),
    "full": TrainSizes(
        65000, 3, {"mlp": 1, "cnn": 1}, {"mlp": 203, "cnn": 100}, 3, 13, ("mlp", "cnn")
    ),
}


def row(group: str, name: str, value: float, unit: str, target: str = "", note: str = "") -> dict:
    """One table row, in the same shape as bench/data.py's rows plus a group."""
    return {
        "group": group,
        "name": name,
        "value": float(value),
        "unit": unit,
        "target": target,
        "note": note,
    }


@contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's info lines and known warnings so the benchmark output stays a table."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric", "psdlab")
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for n, lvl in old.items():
                logging.getLogger(n).setLevel(lvl)


# ---------------------------------------------------------------------------------- config
def compose_cfg(model: str, file: Path, cache: Path, out: Path, overrides: list[str]) -> Any:
    """conf/train.yaml as ``python train.py`` composes it, pointed at one benchmark file."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"model={model}",
                "task=avse",
                f"data.train_files=[{file}]",
                f"data.test_files=[{file}]",
                "data.generate=null",
                f"data.cache_dir={cache}",
                "trainer.accelerator=cpu",
                *overrides,
            ],
            return_hydra_config=True,
        )
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        del cfg.hydra
    GlobalHydra.instance().clear()
    return cfg


# ---------------------------------------------------------------------------------- timing
class StepTimer(Callback):
    """Seconds and samples between consecutive training-step ends, within each epoch."""

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.steps: list[tuple[float, int]] = []
        self._last: float | None = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._last = None

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._last = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        now = time.perf_counter()
        if self._last is not None and idx >= self.skip:
            self.steps.append((now - self._last, int(batch["waveform"].shape[0])))
        self._last = now

    @property
    def rate(self) -> float:
        return median_rate(self.steps)


def median_rate(steps: list[tuple[float, int]]) -> float:
    """Waveforms/s from the median step time: robust to other processes stealing a core."""
    if not steps:
        return float("nan")
    full = [dt for dt, n in steps if n == BATCH] or [dt for dt, _ in steps]
    size = BATCH if any(n == BATCH for _, n in steps) else steps[0][1]
    return size / statistics.median(full)


def psdlab_fit(cfg: Any, datamodule: Any, sizes: TrainSizes, model: str) -> float:
    """Waveforms/s of psdlab's own Trainer/task/callbacks/logger (checkpoint writing off)."""
    import hydra
    import lightning as L

    from psdlab.run.build import build_task, instantiate_callbacks, instantiate_loggers

    L.seed_everything(0, verbose=False)
    task = build_task(cfg, datamodule)
    timer = StepTimer(sizes.skip)
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), timer]
    trainer: Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=instantiate_loggers(cfg.get("logger"))
    )
    trainer.fit(task, datamodule=datamodule)
    return timer.rate


def training_tensors(datamodule: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """psdlab's preprocessed training split as in-memory tensors, so the hand-written loops
    train on exactly the events psdlab trains on."""
    import numpy as np

    ds = datamodule._dataset("train")
    x = torch.from_numpy(np.ascontiguousarray(ds.waveform[ds.rows], dtype=np.float32))
    return x, torch.from_numpy(ds.labels)


def loop_rate(
    model: nn.Module,
    batches: Any,
    steps: int,
    epochs: int,
    skip: int,
    fused: bool = False,
) -> float:
    """Waveforms/s of a hand-written training loop; ``batches()`` yields one epoch.

    By default the optimiser is written as people write it, ``Adam(params, lr=1e-3)``;
    ``fused`` gives it psdlab's default fused kernel, isolating psdlab's own overhead.
    """
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
    lossf = nn.BCEWithLogitsLoss()
    model.train()
    steps_taken: list[tuple[float, int]] = []
    for _ in range(epochs):
        last = None
        for k, (xb, yb) in enumerate(batches()):
            if k >= steps:
                break
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
            now = time.perf_counter()
            if last is not None and k >= skip:
                steps_taken.append((now - last, len(xb)))
            last = now
    return median_rate(steps_taken)


def raw_batches(x: torch.Tensor, y: torch.Tensor) -> Any:
    """Shuffled slices of in-memory tensors: one gather per batch, no Dataset/DataLoader."""

    def epoch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            yield x[idx], y[idx]

    return epoch


def training_flops_per_waveform(model: nn.Module, shape: tuple[int, ...]) -> float:
    """3 x forward FLOPs per waveform (backward ~ 2x forward), counted on a batch of 256."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    x = torch.zeros((BATCH, *shape))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return 3.0 * counter.get_total_flops() / BATCH


def matmul_rate(n: int = 2048, reps: int = 10) -> float:
    """Best-of-N float32 ``torch.mm`` FLOP/s at n x n: this machine's practical limit."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.mm(a, b)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def infer_rate_raw(model: nn.Module, x: torch.Tensor, batch: int, max_batches: int) -> float:
    """Waveforms/s of eval-mode forward passes under inference_mode, batch ``batch``."""
    model.eval()
    with torch.inference_mode():
        model(x[:batch])
        t0 = time.perf_counter()
        n = 0
        for i in range(0, min(len(x), batch * max_batches), batch):
            model(x[i : i + batch])
            n += len(x[i : i + batch])
    return n / (time.perf_counter() - t0)


class PredictTimer(Callback):
    """Seconds between consecutive predict-batch ends (first batch excluded when possible)."""

    def __init__(self) -> None:
        self.seconds, self.samples = 0.0, 0
        self._start = self._last = 0.0
        self._first = 0

    def on_predict_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start, self._last, self._first = time.perf_counter(), 0.0, 0

    def on_predict_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        now, n = time.perf_counter(), int(batch["waveform"].shape[0])
        if self._last:
            self.seconds += now - self._last
            self.samples += n
        else:  # a single-batch split still gets a number (first batch, start included)
            self._first, self._first_s = n, now - self._start
        self._last = now

    @property
    def rate(self) -> float:
        if self.seconds > 0:
            return self.samples / self.seconds
        return self._first / self._first_s if self._first else float("nan")


def infer_rate_psdlab(cfg: Any, datamodule: Any, max_batches: int) -> float:
    """Waveforms/s of ``trainer.predict`` with psdlab's data module (eval batch size)."""
    from psdlab.run.build import build_task

    task = build_task(cfg, datamodule)
    timer = PredictTimer()
    trainer = Trainer(
        accelerator="cpu",
        logger=False,
        callbacks=[timer],
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_predict_batches=max_batches,
    )
    datamodule.setup("predict")
    trainer.predict(task, datamodule=datamodule, return_predictions=False)
    return timer.rate


def lecture_dataset(file: Path, datamodule: Any) -> Dataset:
    """The lecture's per-item dataset over the whole file, restricted to psdlab's train split."""
    import numpy as np

    data = load_file(file)
    rows = np.flatnonzero(np.isin(data["id"], datamodule._dataset("train").ids))
    return Subset(LectureDataset(data["waveform"], data["tp0"], data["label"]), rows)


VARIANTS = {
    "psdlab": "psdlab (Lightning, defaults)",
    "raw": "raw PyTorch loop",
    "lecture": "lecture-style loop",
    "raw_fused": "raw loop with psdlab's fused Adam",
    "lecture_tensors": "lecture loop, preprocessing hoisted",
}


def measure(
    name: str,
    model: str,
    cfg: Any,
    datamodule: Any,
    tensors: tuple[torch.Tensor, torch.Tensor],
    lecture_set: Dataset,
    sizes: TrainSizes,
) -> float:
    """One repetition of one variant (see the module docstring) on the same events."""
    steps, epochs = sizes.steps[model], sizes.epochs[model]
    if name == "psdlab":
        return psdlab_fit(cfg, datamodule, sizes, model)
    x, y = tensors
    net = build_model(model, x.shape[-1], stock=name.startswith("lecture"))
    if name in ("raw", "raw_fused"):
        fused = name == "raw_fused"
        return loop_rate(net, raw_batches(x, y), steps, epochs, sizes.skip, fused=fused)
    data = lecture_set if name == "lecture" else TensorDataset(x, y)
    return loop_rate(net, lambda: iter(lecture_loader(data)), steps, epochs, sizes.skip)


# ---------------------------------------------------------------------------------- e2e
def e2e_seconds(model: str, file: Path, work: Path) -> tuple[float, float]:
    """Wall seconds of ``python train.py`` (cold cache, 1 epoch, no test) and of the lecture
    script on the same file, each in a fresh process (imports included)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"e2e_{model}_"))
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        f"model={model}",
        "task=avse",
        f"data.train_files=[{file}]",
        "data.test_files=null",
        "data.generate=null",
        f"data.cache_dir={run_dir / 'cache'}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "test=false",
        "callbacks.progress_bar=null",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=run_dir)
    t_ours = time.perf_counter() - t0
    cmd = [sys.executable, str(ROOT / "bench" / "lecture.py"), str(file), "--model", model]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    t_lec = time.perf_counter() - t0
    json.loads(out.stdout.strip().splitlines()[-1])
    return t_ours, t_lec


# ---------------------------------------------------------------------------------- main
def run(mode: str, file: Path, work: Path) -> list[dict]:
    """All training/inference/hardware rows for ``mode`` (tiny|quick|full) on ``file``."""

    from psdlab.run.build import build_datamodule

    sizes = SIZES[mode]
    rows: list[dict] = []
    peak = matmul_rate(1024 if mode == "tiny" else 2048)
    rows.append(row("hardware", "torch.mm float32 rate", peak / 1e9, "GFLOP/s", note="best of 10"))
    cache = work / "cache"
    for model in MODELS:
        n_train_steps = sizes.steps[model]
        cfg = compose_cfg(
            model,
            file,
            cache,
            work / f"run_{model}",
            [
                f"trainer.max_epochs={sizes.epochs[model]}",
                f"+trainer.limit_train_batches={n_train_steps}",
                "callbacks.model_checkpoint=null",
                "callbacks.early_stopping=null",
            ],
        )
        with quiet():
            dm = build_datamodule(cfg.data, "fit")
            x, y = training_tensors(dm)
            lecture_set = lecture_dataset(file, dm)
            shape = tuple(x.shape[1:])
            order = list(VARIANTS)
            best = dict.fromkeys(order, 0.0)
            for rep in range(sizes.reps):  # interleaved, order rotated, best of reps
                k = rep % len(order)
                for name in order[k:] + order[:k]:
                    torch.manual_seed(0)
                    rate = measure(name, model, cfg, dm, (x, y), lecture_set, sizes)
                    best[name] = max(best[name], rate)
            flops = training_flops_per_waveform(build_model(model, shape[-1]), shape)
            inf_raw = infer_rate_raw(build_model(model, shape[-1]), x, 1024, sizes.infer_batches)
            inf_ours = infer_rate_psdlab(cfg, dm, sizes.infer_batches)
            del lecture_set
        g = f"train {model}"
        for name, label in VARIANTS.items():
            note = f"{100 * flops * best[name] / peak:.1f}% of mm peak"
            rows.append(row(g, label, best[name], "waveforms/s", note=note))
        ratio = {name: best["psdlab"] / best[name] for name in VARIANTS}
        rows += [
            row(g, "psdlab / raw", ratio["raw"], "ratio", ">= 0.9"),
            row(g, "psdlab / lecture", ratio["lecture"], "ratio", ">= 1.1"),
            row(
                g,
                "psdlab / raw with fused Adam",
                ratio["raw_fused"],
                "ratio",
                note="psdlab's own overhead",
            ),
            row(
                g,
                "psdlab / lecture, hoisted",
                ratio["lecture_tensors"],
                "ratio",
                note="data path and network only",
            ),
            row(g, "training FLOPs per waveform", flops / 1e6, "MFLOP", note="3 x forward"),
            row(
                g,
                "psdlab fraction of mm peak",
                100 * flops * best["psdlab"] / peak,
                "%",
                note=f"{flops * best['psdlab'] / 1e9:.1f} GFLOP/s achieved",
            ),
            row(
                f"predict {model}",
                "psdlab trainer.predict",
                inf_ours,
                "waveforms/s",
                note="eval batch 1024",
            ),
            row(f"predict {model}", "raw inference_mode loop", inf_raw, "waveforms/s"),
            row(f"predict {model}", "psdlab / raw", inf_ours / inf_raw, "ratio"),
        ]
    for model in sizes.e2e_models:
        t_ours, t_lec = e2e_seconds(model, file, work)
        g = f"end-to-end {model}"
        note = "cold cache, 1 epoch + validation, test=false"
        rows += [
            row(g, "python train.py", t_ours, "s", note=note),
            row(g, "lecture script", t_lec, "s", note="np.array load, 1 epoch, val accuracy"),
            row(g, "lecture / psdlab wall time", t_lec / t_ours, "ratio"),
        ]
    return rows
