"""``Task``: the one LightningModule of psdlab, a backbone plus the parts chosen in config.

Each part (:mod:`psdlab.tasks.parts`) owns an output: head, loss, metrics, prediction columns.
The task runs the loops, logging, figures, optimiser and scheduler, and sums the parts'
losses with their weights. ``conf/task/*.yaml`` pick the parts; a new kind of output is a new
part, not a new module.

Why plain dicts: Lightning (torch >= 2.6) loads checkpoints with ``weights_only=True``, so the
saved hyperparameters must be primitives; ``Task.load_from_checkpoint(path)`` then rebuilds
backbone, parts, optimiser and scheduler from those dicts, with no Hydra config needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import hydra.utils
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics.aggregation import MeanMetric

from psdlab.tasks.backbone import build_backbone
from psdlab.tasks.collect import PredictionCollector, gather_table
from psdlab.tasks.heads import InferenceModel
from psdlab.tasks.optim import configure_optimization
from psdlab.tasks.parts.base import TaskPart
from psdlab.tasks.pretrained import EncoderFreeze
from psdlab.tasks.tensorboard import declare_hparams, task_hparams
from psdlab.utils.config import to_plain
from psdlab.utils.errors import ConfigError


def build_parts(
    specs: Mapping[str, Mapping[str, Any]],
    in_features: int,
    input_shape: Sequence[int] | None = None,
) -> nn.ModuleDict:
    """One part per entry of ``specs`` (name -> config dict with ``_target_``).

    Parts whose class sets ``needs_input_shape`` (a decoder back to the window) also get
    the backbone's input ``input_shape`` (C, L).
    """
    if not specs:
        raise ConfigError("a task needs at least one part (task.parts: {name: {_target_: ...}})")
    parts = nn.ModuleDict()
    for name, spec in specs.items():
        extra: dict[str, Any] = {}
        if getattr(hydra.utils.get_class(spec["_target_"]), "needs_input_shape", False):
            extra["input_shape"] = input_shape
        part = hydra.utils.instantiate(
            dict(spec), in_features=in_features, **extra, _convert_="all"
        )
        if not isinstance(part, TaskPart):
            raise TypeError(f"task.parts.{name}: {spec.get('_target_')} is not a TaskPart")
        parts[name] = part
    return parts


class Task(L.LightningModule):
    """Backbone + parts, with the training/validation/test/predict loops.

    Args:
        net: backbone config dict with ``_target_`` (e.g. ``psdlab.models.CNN``) and its
            arguments; ``in_channels``/``input_length`` filled in, or given via ``input_shape``.
        parts: name -> part config dict with ``_target_`` (e.g.
            ``psdlab.tasks.parts.ClassificationPart``) and its arguments but ``in_features``.
        optimizer: dict with ``_target_`` (a torch.optim class) and its arguments except
            ``params``; None: Adam(lr=1e-3).
        scheduler: dict with ``_target_`` or None (see :mod:`psdlab.tasks.optim`).
        input_shape: optional [C, L] merged into ``net``.
        compile: torch.compile the backbone (the saved state_dict keeps uncompiled names).
        monitor, monitor_mode: the metric checkpointing and early stopping watch (stored so
            the plateau scheduler and ``hp/val_best`` use the same one).
        log_figures_every_n_epochs: TensorBoard figures every n validation epochs (0: never).
        max_plot_points: cap on validation events kept for figures.
        n_example_waveforms: example inputs drawn in the waveform figure.
        finetune: fine-tuning options (:mod:`psdlab.tasks.pretrained`): ``freeze_epochs``,
            ``encoder_lr_factor``, ``train_bn``, and ``pretrained`` (the source checkpoint,
            for the record); None: train everything at the optimiser's learning rate.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        parts: Mapping[str, Mapping[str, Any]],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        input_shape: Sequence[int] | None = None,
        compile: bool = False,
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        log_figures_every_n_epochs: int = 1,
        max_plot_points: int = 20000,
        n_example_waveforms: int = 8,
        finetune: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if monitor_mode not in ("min", "max"):
            raise ConfigError(f"monitor_mode must be min or max, got '{monitor_mode}'")
        # plain values before save_hyperparameters() records them (weights_only loading)
        net, parts, optimizer, scheduler, input_shape, finetune = map(
            to_plain, (net, parts, optimizer, scheduler, input_shape, finetune)
        )
        self.save_hyperparameters()
        self.net = build_backbone(net, input_shape)
        shape = input_shape or (net["in_channels"], net["input_length"])
        self.parts = build_parts(parts, self.net.out_features, shape)
        # epoch mean of the training loss; "disable": a NaN loss shows up as NaN, and no
        # per-step isnan check forces a GPU sync
        self.train_loss = MeanMetric(nan_strategy="disable")
        # compiled wrapper kept outside the module tree: state_dict keys stay "net.*"
        self.__dict__["_net_fn"] = torch.compile(self.net) if compile else self.net
        self._best: float | None = None
        self.collector = PredictionCollector(max_plot_points, n_example_waveforms)
        self.test_table: dict[str, np.ndarray] = {}
        # experiment settings outside the task, shown in TensorBoard's HPARAMS tab, and
        # figure arguments that depend on the data (set by psdlab.run.build)
        self.run_hparams: dict[str, Any] = {}
        self.figure_settings: dict[str, Any] = {}

    # ------------------------------------------------------------------ forward / inference
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs of each part (logits, scaled energy), keyed by part name."""
        h = self._net_fn(x)
        return {name: part.head(h) for name, part in self.parts.items()}

    def outputs(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Raw outputs of each part on a prepared batch (see :meth:`_prepare`).

        Each part's head reads the backbone's features of its own input
        (``part.input_key``): the pulse for a label or energy part, the masked copy for
        reconstruction. Several inputs (a label task with an auxiliary reconstruction loss)
        go through the backbone as one concatenated batch: a batch norm then normalises them
        in training with the statistics of the same mixture its running statistics estimate
        for evaluation. Two separate passes would normalise each input by its own batch in
        training and by the mixture's running statistics in evaluation, which wrecks the
        validation scores of both parts.
        """
        keys = list(dict.fromkeys(part.input_key for part in self.parts.values()))
        if len(keys) == 1:
            features = {keys[0]: self._net_fn(batch[keys[0]])}
        else:
            inputs = [batch[key] for key in keys]
            joint = self._net_fn(torch.cat(inputs))
            features = dict(zip(keys, joint.split([len(x) for x in inputs]), strict=True))
        return {name: part.head(features[part.input_key]) for name, part in self.parts.items()}

    @property
    def exported_parts(self) -> list[TaskPart]:
        """The parts whose outputs a user of the trained network gets: the label and energy
        parts; a self-supervised part only when it is the whole task (pre-training), since
        beside a label it was a training aid whose whole-window output nobody applies."""
        parts = list(self.parts.values())
        return [p for p in parts if not p.self_supervised] or parts

    @property
    def output_names(self) -> list[str]:
        return [n for part in self.exported_parts for n in part.output_names()]

    def inference_model(self) -> InferenceModel:
        """Backbone + heads mapping waveforms to probabilities / keV (for export)."""
        return InferenceModel(self.net, [p.head for p in self.exported_parts], self.output_names)

    def figure_kwargs(self) -> dict[str, Any]:
        """Arguments of psdlab.plots.make_figures: each part's, and the data's axes."""
        kwargs: dict[str, Any] = dict(self.figure_settings)
        for part in self.parts.values():
            kwargs.update(part.figure_kwargs())
        return kwargs

    def setup(self, stage: str) -> None:
        if stage == "fit":
            datamodule = getattr(self.trainer, "datamodule", None)
            for part in self.parts.values():
                part.setup_fit(datamodule)

    # ------------------------------------------------------------------ loops
    def _prepare(self, batch: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """The batch after each part's ``prepare_batch`` (e.g. masking for pre-training)."""
        for part in self.parts.values():
            batch = part.prepare_batch(batch, self.training)
        return batch

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
        total = sum(self.parts[name].weight * value for name, value in losses.items())
        return total, losses

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        batch = self._prepare(batch)
        loss, parts = self._loss(self.outputs(batch), batch)
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
        batch = self._prepare(batch)
        raw = self.outputs(batch)
        bs = batch["waveform"].shape[0]
        loss, parts = self._loss(raw, batch)
        log = {"on_step": False, "on_epoch": True, "batch_size": bs, "sync_dist": True}
        self.log(f"{stage}/loss", loss, prog_bar=True, **log)
        if len(self.parts) > 1:
            for name, value in parts.items():
                self.log(f"{stage}/loss_{name}", value, **log)
        for name, part in self.parts.items():
            part.update(stage, raw[name], batch)
        if stage == "test" or self._figures_due():
            self.collector.add(stage, self.parts, raw, batch)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> dict:
        raw = self(batch["waveform"])
        out: dict[str, torch.Tensor] = {"id": batch["id"]} if "id" in batch else {}
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

    def on_validation_epoch_start(self) -> None:
        self.collector.clear("val")

    def on_validation_epoch_end(self) -> None:
        metrics = self._compute_and_log("val")
        if self.trainer.sanity_checking:
            self.collector.clear("val")
            return
        value = metrics.get(self.hparams.monitor)
        if value is None and self.hparams.monitor in self.trainer.callback_metrics:
            value = float(self.trainer.callback_metrics[self.hparams.monitor])  # e.g. val/loss
        if value is not None and math.isfinite(value):
            better = max if self.hparams.monitor_mode == "max" else min
            self._best = value if self._best is None else better(self._best, value)
        if self._best is not None:
            self.log("hp/val_best", self._best)
        if self._figures_due():
            self._log_figures("val")
        self.collector.clear("val")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the best monitored validation value so far: a resumed run continues hp/val_best
        # from it instead of restarting at its first epoch after the restart
        checkpoint["psdlab_val_best"] = self._best

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._best = checkpoint.get("psdlab_val_best", self._best)

    def on_test_epoch_start(self) -> None:
        self.collector.clear("test")

    def on_test_epoch_end(self) -> None:
        metrics = self._compute_and_log("test")
        for key in self.hp_metric_keys():
            source = "test/" + key.removeprefix("hp/test_")
            if key.startswith("hp/test_") and source in metrics:
                self.log(key, metrics[source])
        self.test_table = gather_table(self.collector.table("test"))
        self._log_figures("test")
        self.collector.clear("test")

    def test_predictions(self) -> dict[str, np.ndarray]:
        """The prediction table of the last test run (id, energy, score_*, label_*,
        energy_pred, example_waveform/example_row)."""
        return dict(self.test_table)

    # ------------------------------------------------------------------ TensorBoard
    def hp_metric_keys(self) -> list[str]:
        """The hp/* scalars this task logs: TensorBoard's HPARAMS tab shows them as metrics."""
        keys = ["hp/val_best"]
        for part in self.parts.values():
            keys += [f"hp/test_{m}" for m in part.test_metric_names]
        return keys

    def on_train_start(self) -> None:
        # One HPARAMS entry per run: the experiment's chosen hyperparameters from the run
        # layer (psdlab.run.hparams), or the task's own when used on its own; the hp/*
        # metrics are declared without values and logged when they exist.
        hparams = self.run_hparams or task_hparams(self.hparams)
        for logger in self._tensorboard_loggers():
            declare_hparams(logger, hparams)

    def _tensorboard_loggers(self) -> list[TensorBoardLogger]:
        return [lg for lg in self.loggers if isinstance(lg, TensorBoardLogger)]

    def _figures_due(self) -> bool:
        n = self.hparams.log_figures_every_n_epochs
        if n <= 0 or self._trainer is None or self.trainer.sanity_checking:
            return False
        if not self._tensorboard_loggers():
            return False
        return self.current_epoch % n == 0 or self.current_epoch + 1 == self.trainer.max_epochs

    def _log_figures(self, stage: str) -> None:
        loggers = self._tensorboard_loggers()
        table = self.collector.table(stage) if loggers else {}
        if not table:
            return
        import matplotlib.pyplot as plt

        from psdlab.plots import make_figures

        figures = make_figures(table, **self.figure_kwargs())
        for part in self.parts.values():
            figures.update(part.figures(stage))
        for name, fig in figures.items():
            for logger in loggers:
                logger.experiment.add_figure(
                    f"{stage}/{name}", fig, self.current_epoch, close=False
                )
            plt.close(fig)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        factor = float((hp.get("finetune") or {}).get("encoder_lr_factor", 1.0))
        return configure_optimization(
            self, hp.optimizer, hp.scheduler, hp.monitor, hp.monitor_mode, factor
        )

    def configure_callbacks(self) -> list[Callback]:
        """Freezing of the backbone for ``finetune.freeze_epochs`` epochs, if asked for."""
        finetune = self.hparams.get("finetune") or {}
        epochs = int(finetune.get("freeze_epochs", 0))
        return [EncoderFreeze(epochs, bool(finetune.get("train_bn", True)))] if epochs else []
