"""Physics report: a trained network beside the classical A/E, DCR, LQ and trap-filter energy
analysis on the same events (``python eval.py ckpt_path=PATH report=true``, docs/report.md)."""

from psdlab.report.classical import ClassicalResult, classical_parameters
from psdlab.report.core import (
    PhysicsReport,
    build_report,
    compute_report,
    log_report_to_tensorboard,
    report_scalars,
    write_report,
)

__all__ = [
    "ClassicalResult",
    "PhysicsReport",
    "build_report",
    "classical_parameters",
    "compute_report",
    "log_report_to_tensorboard",
    "report_scalars",
    "write_report",
]
