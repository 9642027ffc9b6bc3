"""What a label source is: where the training labels of a split come from.

The files' ``psd_label_*`` are the classical cuts, so a network trained on them can at best
reproduce the cut. A label source decouples *what the network learns* from *what the files
call a label*: the cut (today's behaviour), the simulator's truth, or calibration-line
populations from the energy alone. Every source answers the same two questions for a split of
one cache: can it label these files (``check``, with the file in the error) and which label
does each selected event get (``assign``). A source may leave events unlabelled (``used``):
they are not trained on, but the test split still scores them (the report needs every event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psdlab.data.cache import CachedArrays
from psdlab.data.errors import DataError
from psdlab.data.preprocess import Preprocessor
from psdlab.data.schema import DataSchema

log = logging.getLogger(__name__)

# (waveforms (B, C, L) float32, energies (B,) keV, split positions (B,)) -> waveforms
Augment = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Assignment:
    """Labels of selected events, in the order of the rows they were assigned for.

    Attributes:
        labels: (n, K) float32, columns in the task's targets order (1 = signal-like).
        used: (n,) bool, the events that carry a label; None when every event does.
        summary: counts for the log and the run record (JSON-ready).
    """

    labels: np.ndarray
    used: np.ndarray | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def subset(self, keep: np.ndarray) -> Assignment:
        """Only the events where ``keep`` is True (all of them labelled)."""
        return Assignment(self.labels[keep], None, self.summary)

    @property
    def weight(self) -> np.ndarray | None:
        """Per-event weight of the loss and metrics: 1 labelled, 0 not (None: all 1)."""
        return None if self.used is None else self.used.astype(np.float32)


class LabelSource:
    """Base class: the files' labels of ``targets`` for every selected event.

    Subclasses override :meth:`check` and :meth:`assign`; :meth:`augmentation` returns the
    training-time transform a source needs (the energy-leakage protection of ``lines``).
    """

    name = "base"

    def check_targets(self, targets: Sequence[str]) -> None:
        """Reject, at construction, targets this source cannot label."""

    def check(
        self, cache: CachedArrays, role: str, targets: Sequence[str], schema: DataSchema
    ) -> None:
        """Raise a DataError naming the file when ``cache`` cannot be labelled for ``role``."""
        raise NotImplementedError

    def assign(self, cache: CachedArrays, rows: np.ndarray, targets: Sequence[str]) -> Assignment:
        """Labels of the cache ``rows`` (selected events) for ``targets``."""
        raise NotImplementedError

    def augmentation(
        self, preprocessor: Preprocessor, seed: int, deterministic: bool
    ) -> Augment | None:
        """A transform of training (and validation) batches; None: none."""
        return None

    def describe(self) -> dict[str, Any]:
        """The source's name and settings, for logs and the run record."""
        return {"name": self.name}


def stack_columns(columns: Mapping[str, np.ndarray], targets: Sequence[str]) -> np.ndarray:
    """(n, K) float32 label matrix from per-target boolean columns, in targets order."""
    return np.stack([np.asarray(columns[t]) for t in targets], axis=1).astype(np.float32)


def label_rows(
    source: LabelSource, cache: CachedArrays, rows: np.ndarray, role: str, targets: Sequence[str]
) -> tuple[np.ndarray, Assignment]:
    """Assign labels to the selected ``rows`` of a labelled role; (rows kept, assignment).

    Training keeps only the labelled events; the test split keeps every event (the report and
    ``predictions.h5`` need them all) and marks the unlabelled ones with weight 0.
    """
    a = source.assign(cache, rows, targets)
    if a.used is None:
        return rows, a
    log.info("labels=%s, %s split: %s", source.name, role, a.summary)
    if role != "train":
        return rows, a
    if not a.used.any():
        raise DataError(
            f"labels={source.name}: none of the {len(rows)} training events of "
            f"{cache.files} is labelled (no event in any window?)"
        )
    return rows[a.used], a.subset(a.used)
