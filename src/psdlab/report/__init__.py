"""Physics report: a trained network beside the classical A/E, DCR, LQ and trap-filter energy
analysis on the same events (``python eval.py ckpt_path=PATH report=true``, docs/report.md).

Modules, one job each: ``classical`` (classical parameters from the raw waveforms),
``truth`` (what each cut is meant to find, from simulated truth), ``psd`` (ROC/AUC and
90 %-DEP cuts per target), ``lines`` (fit of a calibration line), ``energy`` (line widths
and bias/resolution), ``assemble`` (the numbers and figures of aligned arrays), ``build``
(reading a test run or a prediction table), ``constants`` (per-detector decay constants,
which stored calibration a file has), ``io`` (JSON/HTML writing, TensorBoard), ``figures``
and ``html``.
"""

from psdlab.report.assemble import PhysicsReport, compute_report
from psdlab.report.build import build_prediction_report, build_report
from psdlab.report.classical import ClassicalResult, classical_parameters
from psdlab.report.io import log_report_to_tensorboard, report_scalars, write_report

__all__ = [
    "ClassicalResult",
    "PhysicsReport",
    "build_prediction_report",
    "build_report",
    "classical_parameters",
    "compute_report",
    "log_report_to_tensorboard",
    "report_scalars",
    "write_report",
]
