"""``labels=cut``: the files' ``psd_label_*`` datasets, i.e. the classical cuts (the default).

This is psdlab's behaviour before label sources existed, kept bit for bit: a network trained
on it learns to reproduce the cut, which is what one wants when the question is "can a network
emulate my cut", not "can it beat it".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psdlab.data.cache import CachedArrays
from psdlab.data.labels.base import Assignment, LabelSource, stack_columns
from psdlab.data.schema import DataSchema
from psdlab.data.selection import check_labelled


class CutLabels(LabelSource):
    """Labels = the files' label datasets named by the data schema."""

    name = "cut"

    def check(
        self, cache: CachedArrays, role: str, targets: Sequence[str], schema: DataSchema
    ) -> None:
        check_labelled(cache, role, targets, schema)

    def assign(self, cache: CachedArrays, rows: np.ndarray, targets: Sequence[str]) -> Assignment:
        cols = {t: cache.labels[t][rows] for t in targets}
        return Assignment(stack_columns(cols, targets), None, {"source": self.name})
