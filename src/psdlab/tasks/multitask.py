"""PSD labels and energy from one backbone (task ``multitask``).

Sharing the backbone lets the energy head and the PSD heads regularise each other; the
total loss is ``psd_weight * psd_loss + energy_weight * energy_loss`` (plain keys, so a sweep
can trade them off). Metrics of both parts are logged with their usual names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psdlab.metrics.regression import DEFAULT_ENERGY_BINS
from psdlab.tasks.base import BaseTask
from psdlab.tasks.classification import (
    ClassificationMixin,
    ClassificationPart,
    parse_pos_weight,
)
from psdlab.tasks.regression import RegressionPart


class MultiTaskModule(ClassificationMixin, BaseTask):
    """Multi-label PSD classification + energy regression; arguments as in
    :class:`PSDClassifier` (``loss`` is the binary loss) and :class:`EnergyRegressor`
    (``energy_loss``), plus ``psd_weight`` and ``energy_weight``."""

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        targets: Sequence[str] = ("low_avse", "high_avse", "dcr", "lq"),
        loss: str = "bce_logits",
        pos_weight: Any = None,
        threshold: float = 0.5,
        sig_eff: float = 0.9,
        energy_loss: str = "mse",
        target_scale: float = 1000.0,
        target_offset: float = 0.0,
        smooth_l1_beta: float = 0.01,
        energy_bins: Sequence[float] = DEFAULT_ENERGY_BINS,
        peak_window: float = 50.0,
        psd_weight: float = 1.0,
        energy_weight: float = 1.0,
        monitor: str = "val/auroc",
        monitor_mode: str = "max",
        compile: bool = False,
        input_shape: Sequence[int] | None = None,
        log_figures_every_n_epochs: int = 1,
        max_plot_points: int = 20000,
        n_example_waveforms: int = 8,
    ) -> None:
        targets = list(targets)
        pw = parse_pos_weight(pos_weight, len(targets))
        super().__init__(
            net,
            optimizer,
            scheduler,
            input_shape,
            compile,
            monitor,
            monitor_mode,
            log_figures_every_n_epochs,
            max_plot_points,
            n_example_waveforms,
            extra_hparams={
                "targets": targets,
                "loss": loss,
                "pos_weight": pw,
                "threshold": float(threshold),
                "sig_eff": float(sig_eff),
                "energy_loss": energy_loss,
                "target_scale": float(target_scale),
                "target_offset": float(target_offset),
                "smooth_l1_beta": float(smooth_l1_beta),
                "energy_bins": [float(b) for b in energy_bins],
                "peak_window": float(peak_window),
                "psd_weight": float(psd_weight),
                "energy_weight": float(energy_weight),
            },
        )
        self.parts["psd"] = ClassificationPart(
            self.net.out_features, targets, loss, pw, threshold, sig_eff
        )
        self.parts["energy"] = RegressionPart(
            self.net.out_features,
            energy_loss,
            target_scale,
            target_offset,
            smooth_l1_beta,
            energy_bins,
            peak_window,
        )

    def loss_weights(self) -> dict[str, float]:
        return {"psd": self.hparams.psd_weight, "energy": self.hparams.energy_weight}

    def figure_kwargs(self) -> dict[str, float]:
        return {"threshold": self.hparams.threshold, "sig_eff": self.hparams.sig_eff}
