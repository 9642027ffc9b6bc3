"""A dataset whose items are whole batches.

Indexed by an int array of split positions (what :class:`psdlab.data.sampler.IndexBatchSampler`
yields), it returns one batch dict from a single fancy-indexing read of the in-memory or
memory-mapped waveforms, instead of B ``__getitem__`` calls and a collate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from psdlab.data.scaler import StandardScaler
from psdlab.data.selection import Source


class BatchDataset(Dataset):
    """Indexed by an int array of split positions; returns one whole batch as a dict."""

    def __init__(
        self,
        waveform: np.ndarray,
        rows: np.ndarray,
        ids: np.ndarray,
        labels: np.ndarray | None,
        energy: np.ndarray | None,
        scaler: StandardScaler | None,
    ) -> None:
        self.waveform, self.rows, self.ids = waveform, rows, ids
        self.labels, self.energy, self.scaler = labels, energy, scaler

    @classmethod
    def from_source(
        cls, src: Source, positions: np.ndarray, scaler: StandardScaler | None
    ) -> BatchDataset:
        """The events at ``positions`` of a selection (ids, labels, energy made compact)."""
        return cls(
            src.waveform,
            src.rows[positions],
            np.ascontiguousarray(src.cache.ids[src.cache_rows[positions]]),
            None if src.labels is None else np.ascontiguousarray(src.labels[positions]),
            None if src.energy is None else np.ascontiguousarray(src.energy[positions]),
            scaler,
        )

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, pos: np.ndarray | int) -> dict[str, torch.Tensor]:
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        pos = np.sort(pos)  # order inside a batch is irrelevant; sorted rows read faster
        wf = self.waveform[self.rows[pos]]
        x = torch.from_numpy(np.ascontiguousarray(wf, dtype=np.float32))
        if self.scaler is not None and self.scaler.fitted:
            x = self.scaler.transform(x)
        batch = {"waveform": x, "id": torch.from_numpy(self.ids[pos])}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[pos])
        if self.energy is not None:
            batch["energy"] = torch.from_numpy(self.energy[pos])
        return batch
