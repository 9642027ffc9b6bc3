"""LightningModules of the learning tasks and their export helpers."""

from psdlab.tasks.base import BaseTask, build_backbone
from psdlab.tasks.classification import PSDClassifier
from psdlab.tasks.export import (
    export_onnx,
    export_torchscript,
    save_predictions_h5,
    write_figures,
)
from psdlab.tasks.multitask import MultiTaskModule
from psdlab.tasks.regression import EnergyRegressor
from psdlab.utils.config import to_plain

__all__ = [
    "BaseTask",
    "EnergyRegressor",
    "MultiTaskModule",
    "PSDClassifier",
    "build_backbone",
    "export_onnx",
    "export_torchscript",
    "save_predictions_h5",
    "to_plain",
    "write_figures",
]
