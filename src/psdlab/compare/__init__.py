"""Data-vs-training check: do the pulses of set B look like the pulses a network learned on?

``python -m psdlab.compare A B`` tabulates and plots, side by side, the distributions of the
pulse features a network implicitly relies on (rise time, decay constant, noise, A/E band,
tail slope, tp0, amplitude, energy) with a distance per feature. Run it before trusting a
network trained on A (e.g. simulation) with data B (e.g. real pulses). See docs/compare.md.
"""

from psdlab.compare.collect import SetFeatures, collect_set, file_decay_constants
from psdlab.compare.features import FEATURES, Feature, pulse_features
from psdlab.compare.sources import FileSelection, iter_selected, select_events
from psdlab.compare.stats import distances, feature_row
from psdlab.compare.tool import Comparison, compare_files

__all__ = [
    "FEATURES",
    "Comparison",
    "Feature",
    "FileSelection",
    "SetFeatures",
    "collect_set",
    "compare_files",
    "distances",
    "feature_row",
    "file_decay_constants",
    "iter_selected",
    "pulse_features",
    "select_events",
]
