"""Common machinery of the task LightningModules.

A task = one backbone (built from a plain config dict) + one or more *parts* (a PSD
classification part, an energy regression part), each owning its head, loss, epoch-level
metrics and prediction columns. ``BaseTask`` runs the loops, logging, figures, optimiser and
scheduler, so PSDClassifier, EnergyRegressor and MultiTaskModule differ only in their parts.

Why plain dicts: Lightning (torch >= 2.6) loads checkpoints with ``weights_only=True``, so the
saved hyperparameters must be primitives; ``Task.load_from_checkpoint(path)`` then rebuilds
the backbone, optimiser and scheduler from those dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import hydra.utils
import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics.aggregation import MeanMetric

from psdlab.tasks.heads import InferenceModel
from psdlab.utils.config import to_plain

STAGES = ("val", "test")


def build_backbone(net: Mapping[str, Any], input_shape: Sequence[int] | None = None) -> nn.Module:
    """Instantiate a backbone config dict; ``input_shape`` (C, L) fills in_channels/input_length."""
    cfg = dict(to_plain(net))
    if input_shape is not None:
        cfg["in_channels"], cfg["input_length"] = int(input_shape[0]), int(input_shape[-1])
    missing = [k for k in ("_target_", "in_channels", "input_length") if cfg.get(k) is None]
    if missing:
        raise ValueError(
            f"backbone config lacks {missing}: pass net with in_channels/input_length filled "
            "in (train.py does this from datamodule.input_shape) or give input_shape=[C, L]"
        )
    model = hydra.utils.instantiate(cfg, _convert_="all")
    if not hasattr(model, "out_features"):
        raise TypeError(f"backbone {cfg['_target_']} has no attribute out_features")
    return model


def reset_metric(metric: nn.Module) -> None:
    """Reset a torchmetrics Metric/MetricCollection outside inference mode.

    ``trainer.validate``/``test`` run under ``torch.inference_mode``; a reset there would
    recreate the states as inference tensors, which the validation loop inside ``fit``
    (plain ``no_grad``) then cannot update in place.
    """
    with torch.inference_mode(False):
        metric.reset()


class TaskPart(nn.Module):
    """Interface of one output of a task (see ClassificationPart, RegressionPart)."""

    name: str = "part"
    head: nn.Module
    test_metric_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        # epoch mean of this part's training loss (logged by multi-part tasks)
        self.train_loss = MeanMetric(nan_strategy="disable")

    def loss(self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def has_targets(self, batch: Mapping[str, torch.Tensor]) -> bool:
        raise NotImplementedError

    def update(self, stage: str, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def compute(self, stage: str) -> dict[str, torch.Tensor]:
        """Epoch metrics (un-prefixed names) of a stage, then reset."""
        raise NotImplementedError

    def columns(
        self, raw: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per-event prediction-table columns (see psdlab.plots.summary)."""
        raise NotImplementedError

    def predict(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def output_names(self) -> list[str]:
        raise NotImplementedError


class BaseTask(L.LightningModule):
    """Backbone + parts, with the training/validation/test/predict loops.

    Args (common to every task):
        net: backbone config dict with ``_target_`` (e.g. ``psdlab.models.CNN``) and its
            arguments; ``in_channels``/``input_length`` filled in, or given via ``input_shape``.
        optimizer: dict with ``_target_`` (a torch.optim class) and its arguments except
            ``params`` (``_partial_: true`` accepted); None: Adam(lr=1e-3).
        scheduler: dict with ``_target_`` or None/``{_target_: null}``; extra keys
            ``interval`` (step|epoch), ``frequency``, ``monitor``; null ``T_max``,
            ``total_steps``, ``max_lr``, ``mode`` are filled from the trainer/optimiser/task.
        input_shape: optional [C, L] merged into ``net``.
        compile: torch.compile the backbone (the saved state_dict keeps uncompiled names).
        monitor, monitor_mode: the metric ModelCheckpoint/EarlyStopping watch (stored so the
            plateau scheduler and ``hp/val_best`` use the same one).
        log_figures_every_n_epochs: TensorBoard figures every n validation epochs (0: never).
        max_plot_points: cap on validation events kept for figures.
        n_example_waveforms: example inputs drawn in the waveform figure.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None,
        scheduler: Mapping[str, Any] | None,
        input_shape: Sequence[int] | None,
        compile: bool,
        monitor: str,
        monitor_mode: str,
        log_figures_every_n_epochs: int,
        max_plot_points: int,
        n_example_waveforms: int,
        extra_hparams: Mapping[str, Any],
    ) -> None:
        super().__init__()
        hp = {
            "net": to_plain(net),
            "optimizer": to_plain(optimizer),
            "scheduler": to_plain(scheduler),
            "input_shape": to_plain(input_shape),
            "compile": bool(compile),
            "monitor": monitor,
            "monitor_mode": monitor_mode,
            "log_figures_every_n_epochs": int(log_figures_every_n_epochs),
            "max_plot_points": int(max_plot_points),
            "n_example_waveforms": int(n_example_waveforms),
        }
        hp.update(to_plain(dict(extra_hparams)))
        self.save_hyperparameters(hp)
        if monitor_mode not in ("min", "max"):
            raise ValueError(f"monitor_mode must be min or max, got '{monitor_mode}'")
        self.net = build_backbone(hp["net"], hp["input_shape"])
        self.parts = nn.ModuleDict()
        # epoch mean of the training loss; "disable": a NaN loss shows up as NaN, and no
        # per-step isnan check forces a GPU sync
        self.train_loss = MeanMetric(nan_strategy="disable")
        # compiled wrapper kept outside the module tree: state_dict keys stay "net.*"
        self.__dict__["_net_fn"] = torch.compile(self.net) if compile else self.net
        self._best: float | None = None
        self._pred_chunks: dict[str, list[dict[str, torch.Tensor]]] = {s: [] for s in STAGES}
        self._pred_rows: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._examples: dict[str, torch.Tensor | None] = dict.fromkeys(STAGES)
        self.test_table: dict[str, np.ndarray] = {}
        # experiment settings outside the task, shown in TensorBoard's HPARAMS tab
        self.run_hparams: dict[str, Any] = {}

    # ------------------------------------------------------------------ forward / inference
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs of each part (logits, scaled energy), keyed by part name."""
        h = self._net_fn(x)
        return {name: part.head(h) for name, part in self.parts.items()}

    def inference_model(self) -> InferenceModel:
        """Backbone + heads mapping waveforms to probabilities / keV (for export)."""
        names = [n for part in self.parts.values() for n in part.output_names()]
        return InferenceModel(self.net, [p.head for p in self.parts.values()], names)

    @property
    def output_names(self) -> list[str]:
        return [n for part in self.parts.values() for n in part.output_names()]

    # ------------------------------------------------------------------ loops
    def _loss(
        self, raw: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        losses = {
            name: part.loss(raw[name], batch)
            for name, part in self.parts.items()
            if part.has_targets(batch)
        }
        if not losses:
            raise KeyError("batch has no targets for any part of this task (labels/energy)")
        weights = self.loss_weights()
        total = sum(weights.get(n, 1.0) * v for n, v in losses.items())
        return total, losses

    def loss_weights(self) -> dict[str, float]:
        return {}

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        raw = self(batch["waveform"])
        loss, parts = self._loss(raw, batch)
        bs = batch["waveform"].shape[0]
        # Epoch means accumulate in torchmetrics (~50 us a step), one value per event (an
        # expand view) so that each batch counts by its size: MeanMetric ignores its own
        # ``weight`` under nan_strategy="disable" (torchmetrics 1.9). ``self.log`` runs only
        # on the steps Lightning writes to the loggers: its bookkeeping costs ~1 ms a call,
        # a tenth of a small model's CPU step (docs/benchmarks.md).
        self.train_loss.update(loss.detach().expand(bs))
        if len(self.parts) > 1:
            for name, value in parts.items():
                self.parts[name].train_loss.update(value.detach().expand(bs))
        if self._step_log_due():
            self.log("train/loss_step", loss, prog_bar=True, batch_size=bs)
        return loss

    def _step_log_due(self) -> bool:
        """True on the steps where Lightning writes step metrics (``log_every_n_steps``)."""
        connector = getattr(self.trainer, "_logger_connector", None)
        return connector is None or bool(connector.should_update_logs)

    def on_train_epoch_end(self) -> None:
        means = {"train/loss_epoch": self.train_loss}
        if len(self.parts) > 1:
            means.update({f"train/loss_{n}": p.train_loss for n, p in self.parts.items()})
        for key, metric in means.items():
            if metric.update_called:  # compute() syncs the sums across DDP ranks
                self.log(key, metric.compute(), prog_bar=key == "train/loss_epoch")
            metric.reset()

    def _eval_step(self, stage: str, batch: Mapping[str, torch.Tensor]) -> None:
        raw = self(batch["waveform"])
        bs = batch["waveform"].shape[0]
        loss, parts = self._loss(raw, batch)
        self.log(
            f"{stage}/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=bs,
            sync_dist=True,
        )
        if len(self.parts) > 1:
            for name, value in parts.items():
                self.log(
                    f"{stage}/loss_{name}", value, on_epoch=True, batch_size=bs, sync_dist=True
                )
        for name, part in self.parts.items():
            part.update(stage, raw[name], batch)
        if stage == "test" or self._figures_due():
            self._collect(stage, raw, batch)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> dict:
        raw = self(batch["waveform"])
        out: dict[str, torch.Tensor] = {}
        if "id" in batch:
            out["id"] = batch["id"]
        for name, part in self.parts.items():
            out.update(part.predict(raw[name]))
        return out

    # ------------------------------------------------------------------ epoch ends
    def _compute_and_log(self, stage: str) -> dict[str, float]:
        metrics: dict[str, torch.Tensor] = {}
        for part in self.parts.values():
            metrics.update({f"{stage}/{k}": v for k, v in part.compute(stage).items()})
        if metrics:
            self.log_dict({k: v.float() for k, v in metrics.items()}, on_epoch=True)
        return {k: float(v) for k, v in metrics.items()}

    def on_validation_epoch_end(self) -> None:
        metrics = self._compute_and_log("val")
        if self.trainer.sanity_checking:
            self._clear("val")
            return
        value = metrics.get(self.hparams.monitor)
        if value is not None and math.isfinite(value):
            better = max if self.hparams.monitor_mode == "max" else min
            self._best = value if self._best is None else better(self._best, value)
        if self._best is not None:
            self.log("hp/val_best", self._best)
        if self._figures_due():
            self._log_figures("val")
        self._clear("val")

    def on_test_epoch_end(self) -> None:
        metrics = self._compute_and_log("test")
        for key in self.hp_metric_keys():
            if key.startswith("hp/test_"):
                src = "test/" + key[len("hp/test_") :]
                if src in metrics:
                    self.log(key, metrics[src])
        self.test_table = self._table("test")
        self._log_figures("test")
        self._clear("test")

    def on_test_epoch_start(self) -> None:
        self._clear("test")

    def on_validation_epoch_start(self) -> None:
        self._clear("val")

    # ------------------------------------------------------------------ hparams tab
    def hp_metric_keys(self) -> list[str]:
        """Keys registered in TensorBoard's HPARAMS tab (logged later with those names)."""
        keys = ["hp/val_best"]
        for part in self.parts.values():
            keys += [f"hp/test_{m}" for m in part.test_metric_names]
        return keys

    def on_train_start(self) -> None:
        # One HPARAMS entry per run: the task's own hyperparameters plus whatever the caller
        # put in ``run_hparams`` (train.py: data, preprocessing, trainer, seed), so every swept
        # axis can be compared in TensorBoard, not only those the module knows about.
        hparams = {**dict(self.hparams), **self.run_hparams}
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(hparams, dict.fromkeys(self.hp_metric_keys(), 0.0))

    # ------------------------------------------------------------------ tables and figures
    def _figures_due(self) -> bool:
        n = self.hparams.log_figures_every_n_epochs
        if n <= 0 or self._trainer is None or self.trainer.sanity_checking:
            return False
        if not any(isinstance(lg, TensorBoardLogger) for lg in self.loggers):
            return False
        return self.current_epoch % n == 0 or self.current_epoch + 1 == self.trainer.max_epochs

    def _collect(
        self, stage: str, raw: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> None:
        cap = None if stage == "test" else self.hparams.max_plot_points
        n = batch["waveform"].shape[0]
        if cap is not None:
            n = min(n, cap - self._pred_rows[stage])
            if n <= 0:
                return
        cols: dict[str, torch.Tensor] = {}
        if "id" in batch:
            cols["id"] = batch["id"]
        if "energy" in batch:
            cols["energy"] = batch["energy"]
        for name, part in self.parts.items():
            cols.update(part.columns(raw[name], batch))
        self._pred_chunks[stage].append({k: v[:n].detach().cpu() for k, v in cols.items()})
        self._pred_rows[stage] += n
        if self._examples[stage] is None and self.hparams.n_example_waveforms > 0:
            self._examples[stage] = (
                batch["waveform"][: self.hparams.n_example_waveforms].detach().float().cpu()
            )

    def _table(self, stage: str) -> dict[str, np.ndarray]:
        chunks = self._pred_chunks[stage]
        if not chunks:
            return {}
        table = {k: torch.cat([c[k] for c in chunks]).numpy() for k in chunks[0]}
        ex = self._examples[stage]
        if ex is not None:
            table["example_waveform"] = ex.numpy()
            table["example_row"] = np.arange(len(ex))
        return table

    def _clear(self, stage: str) -> None:
        self._pred_chunks[stage] = []
        self._pred_rows[stage] = 0
        self._examples[stage] = None

    def figure_kwargs(self) -> dict[str, float]:
        return {}

    def _log_figures(self, stage: str) -> None:
        loggers = [lg for lg in self.loggers if isinstance(lg, TensorBoardLogger)]
        if not loggers:
            return
        table = self._table(stage)
        if not table:
            return
        from psdlab.plots import make_figures

        figs = make_figures(table, **self.figure_kwargs())
        for name, fig in figs.items():
            for logger in loggers:
                logger.experiment.add_figure(
                    f"{stage}/{name}", fig, self.current_epoch, close=False
                )
        import matplotlib.pyplot as plt

        for fig in figs.values():
            plt.close(fig)

    def test_predictions(self) -> dict[str, np.ndarray]:
        """The prediction table of the last test run (id, energy, score_*, label_*, energy_pred,
        example_waveform/example_row), ready for ``save_predictions_h5``/``write_figures``."""
        return dict(self.test_table)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        opt_cfg = dict(self.hparams.optimizer or {"_target_": "torch.optim.Adam", "lr": 1e-3})
        opt = hydra.utils.instantiate(opt_cfg, params=self.parameters(), _convert_="all")
        if callable(opt) and not isinstance(opt, torch.optim.Optimizer):  # _partial_: true
            opt = opt(self.parameters())
        sched_cfg = dict(self.hparams.scheduler or {})
        if not sched_cfg.get("_target_"):
            return opt
        interval = sched_cfg.pop("interval", None)
        frequency = sched_cfg.pop("frequency", 1)
        monitor = sched_cfg.pop("monitor", None) or self.hparams.monitor
        sched_cfg.pop("_partial_", None)
        target = str(sched_cfg["_target_"])
        if target.endswith("OneCycleLR"):
            interval = "step"
            if sched_cfg.get("max_lr") is None:
                sched_cfg["max_lr"] = opt.param_groups[0]["lr"]
            if sched_cfg.get("total_steps") is None:
                sched_cfg["total_steps"] = int(self.trainer.estimated_stepping_batches)
        elif target.endswith("CosineAnnealingLR"):
            interval = interval or "step"
            if sched_cfg.get("T_max") is None:
                sched_cfg["T_max"] = (
                    int(self.trainer.estimated_stepping_batches)
                    if interval == "step"
                    else int(self.trainer.max_epochs)
                )
        elif target.endswith("ReduceLROnPlateau"):
            interval = "epoch"
            if sched_cfg.get("mode") is None:
                sched_cfg["mode"] = self.hparams.monitor_mode
        sched = hydra.utils.instantiate(sched_cfg, optimizer=opt, _convert_="all")
        config = {"scheduler": sched, "interval": interval or "epoch", "frequency": frequency}
        if target.endswith("ReduceLROnPlateau"):
            config["monitor"] = monitor
        return {"optimizer": opt, "lr_scheduler": config}
