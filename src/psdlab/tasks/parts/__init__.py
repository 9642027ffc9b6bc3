"""Outputs of a task, each chosen in config (``task.parts.<name>._target_``)."""

from psdlab.tasks.parts.base import STAGES, TaskPart, reset_metric
from psdlab.tasks.parts.classification import ClassificationPart
from psdlab.tasks.parts.dsp_targets import DSPTargetPart
from psdlab.tasks.parts.energy import EnergyPart
from psdlab.tasks.parts.reconstruction import ReconstructionPart

__all__ = [
    "STAGES",
    "ClassificationPart",
    "DSPTargetPart",
    "EnergyPart",
    "ReconstructionPart",
    "TaskPart",
    "reset_metric",
]
