"""The task LightningModule (backbone + parts chosen in config) and model export.

``Task`` is the one LightningModule; its outputs are parts (:mod:`psdlab.tasks.parts`):
``ClassificationPart`` for any of the PSD labels, ``EnergyPart`` for the energy.
"""

from psdlab.tasks.backbone import build_backbone
from psdlab.tasks.compat import load_task, upgrade_hparams
from psdlab.tasks.export import export_onnx, export_torchscript
from psdlab.tasks.module import Task
from psdlab.tasks.parts import ClassificationPart, EnergyPart, TaskPart

__all__ = [
    "ClassificationPart",
    "EnergyPart",
    "Task",
    "TaskPart",
    "build_backbone",
    "export_onnx",
    "export_torchscript",
    "load_task",
    "upgrade_hparams",
]
