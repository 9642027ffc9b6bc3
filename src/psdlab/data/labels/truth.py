"""``labels=truth``: the simulator's truth of each target, so a network can beat the cut.

Each PSD cut is a proxy for a physical property; simulated files record that property in
their truth group. Trained on it, a network learns what the cut is *meant* to find (single-
site events, bulk events), not the cut's own mistakes. Real files have no truth: asking for
it fails at once with the file named, instead of training on something else silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from psdlab.data.cache import CachedArrays
from psdlab.data.errors import DataError
from psdlab.data.labels.base import Assignment, LabelSource, stack_columns
from psdlab.data.reader import inspect_file
from psdlab.data.schema import DataSchema
from psdlab.data.selection import check_energy

# target -> truth datasets it needs (names inside the truth group)
TRUTH_NEEDS: dict[str, tuple[str, ...]] = {
    "low_avse": ("single_site",),
    "high_avse": ("event_class",),
    "dcr": ("surface_alpha",),
    "lq": ("event_class",),
}
# target -> what "signal-like" (True) means in the truth
TRUTH_DEFINITIONS: dict[str, str] = {
    "low_avse": "single_site",
    "high_avse": "event_class != POINT_CONTACT",
    "dcr": "not surface_alpha",
    "lq": "event_class != SLOW_LQ",
}


def truth_label(target: str, truth: Mapping[str, np.ndarray]) -> np.ndarray:
    """Signal-like (True) per event for ``target`` from the truth fields (the same definition
    as the physics report's truth section)."""
    # the simulator's event classes, imported only when truth is actually used
    from psdlab.simulate.spectrum import EventClass

    if target == "low_avse":
        return np.asarray(truth["single_site"], bool)
    if target == "high_avse":
        return np.asarray(truth["event_class"]) != EventClass.POINT_CONTACT
    if target == "dcr":
        return ~np.asarray(truth["surface_alpha"], bool)
    if target == "lq":
        return np.asarray(truth["event_class"]) != EventClass.SLOW_LQ
    raise KeyError(f"labels=truth: no truth definition for target '{target}'")


def _file_without(files: Sequence[str], schema: DataSchema, needed: Sequence[str]) -> str:
    """The first file lacking a needed truth dataset (all files when none can be opened)."""
    for f in files:
        if not Path(f).is_file():
            continue
        have = inspect_file(Path(f), schema).truth
        if any(n not in have for n in needed):
            return f
    return ", ".join(files)


class TruthLabels(LabelSource):
    """Labels from the truth group: single_site (low_avse), not point-contact (high_avse),
    not surface alpha (dcr), not slow (lq)."""

    name = "truth"

    def check_targets(self, targets: Sequence[str]) -> None:
        unknown = [t for t in targets if t not in TRUTH_NEEDS]
        if unknown:
            raise DataError(
                f"labels=truth: no truth definition for {unknown}; known: {sorted(TRUTH_NEEDS)}"
            )

    def check(
        self, cache: CachedArrays, role: str, targets: Sequence[str], schema: DataSchema
    ) -> None:
        needed = [n for t in targets for n in TRUTH_NEEDS[t]]
        missing = [n for n in needed if n not in cache.truth]
        if missing:
            where = _file_without(cache.files, schema, missing)
            raise DataError(
                f"{where} [group '{schema.truth_group}']: labels=truth needs "
                f"'{schema.truth_group}/{missing[0]}' for {role}, but the file has no "
                "simulated truth (real data?); use labels=cut or labels=lines"
            )
        check_energy(cache, role, schema)

    def assign(self, cache: CachedArrays, rows: np.ndarray, targets: Sequence[str]) -> Assignment:
        truth = {n: cache.truth[n][rows] for t in targets for n in TRUTH_NEEDS[t]}
        cols = {t: truth_label(t, truth) for t in targets}
        summary = {
            "source": self.name,
            "definitions": {t: TRUTH_DEFINITIONS[t] for t in targets},
            "positive_fraction": {
                t: float(np.mean(cols[t])) if len(rows) else 0.0 for t in targets
            },
        }
        return Assignment(stack_columns(cols, targets), None, summary)
