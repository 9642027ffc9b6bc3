"""Labelling with classical cuts (A/E, DCR, LQ), calibrated on calibration data via psdlab.dsp.

Kept apart from the simulator, which makes pulses and truth only: the simulator's file writer
composes the two (``psdlab.simulate.labels``), and nothing here imports the simulator.
"""

from psdlab.labelling.cuts import (
    CALIBRATION_VERSION,
    CutCalibration,
    CutSettings,
    apply_cuts,
    fit_cuts,
    uncalibrated_kev,
)

__all__ = [
    "CALIBRATION_VERSION",
    "CutCalibration",
    "CutSettings",
    "apply_cuts",
    "fit_cuts",
    "uncalibrated_kev",
]
