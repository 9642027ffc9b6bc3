"""Classical MJD-style DSP: pole-zero, trapezoidal energy, A/E, DCR, LQ, drift time, cuts.

The simulator labels its events with these functions and the physics report reuses them to
compare networks with classical cuts, so both see exactly the same definitions.
"""

from psdlab.dsp.calibration import (
    TH228_CAL_LINES,
    BandCorrection,
    EnergyCalibration,
    dep_cut_threshold,
    sideband_survival,
)
from psdlab.dsp.drift_correction import DriftTimeCorrection
from psdlab.dsp.peaks import PeakFit, peak_fit
from psdlab.dsp.processors import PARAMETER_NAMES, DSPConfig, compute_parameters

__all__ = [
    "PARAMETER_NAMES",
    "TH228_CAL_LINES",
    "BandCorrection",
    "DSPConfig",
    "DriftTimeCorrection",
    "EnergyCalibration",
    "PeakFit",
    "compute_parameters",
    "dep_cut_threshold",
    "peak_fit",
    "sideband_survival",
]
