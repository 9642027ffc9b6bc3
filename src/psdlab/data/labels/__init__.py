"""Label sources: where a split's training labels come from (``conf/labels/``).

``cut`` (the files' ``psd_label_*``, the default), ``truth`` (the simulator's truth) and
``lines`` (calibration-line populations from the energy alone); docs/labels.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psdlab.data.errors import DataError
from psdlab.data.labels.base import Assignment, Augment, LabelSource, label_rows
from psdlab.data.labels.cut import CutLabels
from psdlab.data.labels.leakage import NoiseMatch, energy_leakage, score_energy_correlation
from psdlab.data.labels.lines import LineLabels
from psdlab.data.labels.truth import TruthLabels, truth_label
from psdlab.utils.config import to_plain

SOURCES: dict[str, type[LabelSource]] = {
    "cut": CutLabels,
    "truth": TruthLabels,
    "lines": LineLabels,
}


def make_label_source(cfg: Mapping[str, Any] | LabelSource | str | None) -> LabelSource:
    """A source from its config (``{name: lines, ...}``), its name, or None (``cut``)."""
    if isinstance(cfg, LabelSource):
        return cfg
    cfg = to_plain(cfg)
    if cfg is None:
        return CutLabels()
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    cfg = dict(cfg)
    name = cfg.pop("name", "cut")
    if name not in SOURCES:
        raise DataError(f"labels.name must be one of {sorted(SOURCES)}, got '{name}'")
    try:
        return SOURCES[name](**cfg)
    except TypeError as err:
        raise DataError(f"labels={name}: {err}") from None


__all__ = [
    "SOURCES",
    "Assignment",
    "Augment",
    "CutLabels",
    "LabelSource",
    "LineLabels",
    "NoiseMatch",
    "TruthLabels",
    "energy_leakage",
    "label_rows",
    "make_label_source",
    "score_energy_correlation",
    "truth_label",
]
