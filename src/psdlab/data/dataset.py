"""A dataset whose items are whole batches.

Indexed by an int array of split positions (what :class:`psdlab.data.sampler.IndexBatchSampler`
yields), it returns one batch dict from a single fancy-indexing read of the in-memory or
memory-mapped waveforms, instead of B ``__getitem__`` calls and a collate. A label source
may add per-event weights (``batch["weight"]``: 0 for events scored but not labelled) and a
transform of training batches (the energy-leakage protection of ``labels=lines``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from psdlab.data.labels import Augment
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
        weight: np.ndarray | None = None,
        augment: Augment | None = None,
        detector: np.ndarray | None = None,
        dsp: np.ndarray | None = None,
    ) -> None:
        self.waveform, self.rows, self.ids = waveform, rows, ids
        self.labels, self.energy, self.scaler = labels, energy, scaler
        self.weight, self.augment = weight, augment
        # the channel of each event: an energy part applies its per-channel gain with it
        self.detector = detector
        # standardised DSP parameters of each event: the targets of a DSP pre-training part
        self.dsp = dsp

    @classmethod
    def from_source(
        cls,
        src: Source,
        positions: np.ndarray,
        scaler: StandardScaler | None,
        augment: Augment | None = None,
    ) -> BatchDataset:
        """The events at ``positions`` of a selection (ids, labels, energy made compact)."""

        def compact(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a[positions])

        detector = src.cache.metadata.get("detector")
        if detector is not None:
            detector = np.ascontiguousarray(detector[src.cache_rows[positions]], dtype=np.int64)
        return cls(
            src.waveform,
            src.rows[positions],
            np.ascontiguousarray(src.cache.ids[src.cache_rows[positions]]),
            compact(src.labels),
            compact(src.energy),
            scaler,
            compact(src.weight),
            augment,
            detector,
            compact(src.dsp),
        )

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, pos: np.ndarray | int) -> dict[str, torch.Tensor]:
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        pos = np.sort(pos)  # order inside a batch is irrelevant; sorted rows read faster
        wf = np.ascontiguousarray(self.waveform[self.rows[pos]], dtype=np.float32)
        if self.augment is not None:
            wf = self.augment(wf, self.energy[pos], pos)
        x = torch.from_numpy(wf)
        if self.scaler is not None and self.scaler.fitted:
            x = self.scaler.transform(x)
        batch = {"waveform": x, "id": torch.from_numpy(self.ids[pos])}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[pos])
        if self.energy is not None:
            batch["energy"] = torch.from_numpy(self.energy[pos])
        if self.weight is not None:
            batch["weight"] = torch.from_numpy(self.weight[pos])
        if self.detector is not None:
            batch["detector"] = torch.from_numpy(self.detector[pos])
        if self.dsp is not None:
            batch["dsp_targets"] = torch.from_numpy(self.dsp[pos])
        return batch
