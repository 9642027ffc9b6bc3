"""Simulator of MJD PPC HPGe calibration pulses in the AI/ML release layout.

Public API: :class:`SimulatorConfig`, :class:`PulseSimulator` (traces and truth),
:func:`label_range` (adds the classical-cut labels of :mod:`psdlab.labelling`),
:class:`EventClass`, :func:`write_file`, :func:`generate_dataset`;
``python -m psdlab.simulate --help``.
"""

from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.labels import CutCalibration, get_calibration, label_range
from psdlab.simulate.simulator import DetectorTable, PulseSimulator
from psdlab.simulate.spectrum import EventClass, Population
from psdlab.simulate.writer import generate_dataset, write_file

__all__ = [
    "CutCalibration",
    "DetectorTable",
    "EventClass",
    "Population",
    "PulseSimulator",
    "SimulatorConfig",
    "generate_dataset",
    "get_calibration",
    "label_range",
    "write_file",
]
