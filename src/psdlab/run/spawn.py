"""DDP in spawned processes (``trainer=ddp_sim``) that brings the test table home.

With ``start_method: spawn`` Lightning runs ``trainer.test`` in child processes and sends
back only the weights and ``callback_metrics``; the task's prediction table (which the run
layer writes to ``predictions.h5`` and hands to the physics report) stayed in the children,
and the run exported nothing. Lightning's multiprocessing launcher has a hook pair for extra
state (``get_extra_results`` / ``update_main_process_results``); this strategy uses it to
carry the table, gathered over the ranks by the task, from rank 0 to the main process.
``trainer=ddp`` (re-executed scripts, every rank runs the whole entry point) needs none of it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

TABLE_KEY = "psdlab_test_table"


class _TableLauncher(_MultiProcessingLauncher):
    """The multiprocessing launcher, plus the task's ``test_table`` in the extra results."""

    def get_extra_results(self, trainer: L.Trainer) -> dict[str, Any]:
        extra = super().get_extra_results(trainer)
        table = getattr(trainer.lightning_module, "test_table", None)
        if table:
            extra[TABLE_KEY] = table
        return extra

    def update_main_process_results(self, trainer: L.Trainer, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        if TABLE_KEY in extra:
            trainer.lightning_module.test_table = extra[TABLE_KEY]


class SpawnDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose spawn launcher returns the test prediction table."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if self._start_method != "popen":
            self._launcher = _TableLauncher(self, start_method=self._start_method)
