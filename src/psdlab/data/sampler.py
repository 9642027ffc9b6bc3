"""Batch samplers that yield whole index arrays, one per batch.

With ``DataLoader(batch_size=None, sampler=...)`` each batch is one fancy-indexing operation
on in-memory or memory-mapped arrays, instead of B calls to ``__getitem__`` and a collate.

The sampler subclasses ``DistributedSampler`` on purpose: it shards itself (each rank gets a
disjoint share of every epoch's indices), and Lightning leaves a ``DistributedSampler`` in
place instead of wrapping it in another one, which would shard twice.

Modes (``sampling``):
* ``random``: a seeded permutation each epoch (``seed + epoch``);
* ``balanced``: equal counts of each class of ``labels`` per epoch, drawn with replacement
  for the minority class (epoch length unchanged);
* ``energy_matched``: in each energy bin (25 keV by default), as many events of each class as
  the rarer class has there (undersampling, no replacement), redrawn each epoch, so the
  network cannot use energy as a proxy for the label.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import DistributedSampler

from psdlab.data.errors import DataError


def energy_matched_indices(
    labels: np.ndarray, energy: np.ndarray, bin_width: float, rng: np.random.Generator
) -> np.ndarray:
    """Positions with equal numbers of each class in every energy bin (vectorised)."""
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError("energy_matched sampling needs both classes in the training split")
    bins = np.floor(np.asarray(energy, dtype=np.float64) / bin_width).astype(np.int64)
    # random tie-breaking: rank of each event inside its (bin, class) cell in random order
    perm = rng.permutation(len(labels))
    cell = bins[perm] * len(classes) + np.searchsorted(classes, labels[perm])
    order = np.argsort(cell, kind="stable")
    cell_sorted = cell[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cell_sorted)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ubins, binv = np.unique(bins, return_inverse=True)
    counts = np.zeros((len(ubins), len(classes)), dtype=np.int64)
    np.add.at(counts, (binv, np.searchsorted(classes, labels)), 1)
    keep_per_bin = counts.min(axis=1)
    sorted_bin = np.searchsorted(ubins, cell_sorted // len(classes))
    keep = rank < keep_per_bin[sorted_bin]
    return np.sort(perm[order[keep]])


def balanced_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions with (up to rounding) equal counts of every class."""
    classes = np.unique(labels)
    per = n // len(classes)
    parts = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        parts.append(rng.choice(members, size=per, replace=per > len(members)))
    return np.concatenate(parts)


class IndexBatchSampler(DistributedSampler):
    """Yields int64 arrays of positions ``0..n-1``, one array per batch, for one rank."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        sampling: str = "random",
        labels: np.ndarray | None = None,
        energy: np.ndarray | None = None,
        bin_width: float = 25.0,
    ) -> None:
        # no super().__init__: it wants a dataset and an initialised process group
        if sampling not in ("random", "balanced", "energy_matched"):
            raise DataError(f"sampling must be random|balanced|energy_matched, got '{sampling}'")
        if sampling != "random" and labels is None:
            raise DataError(f"sampling={sampling} needs a label (the task has no targets)")
        if sampling == "energy_matched" and energy is None:
            raise DataError("sampling=energy_matched needs the energy dataset")
        if not 0 <= rank < world_size:
            raise DataError(f"rank {rank} outside world size {world_size}")
        self.n, self.batch_size, self.shuffle, self.seed = n, int(batch_size), shuffle, seed
        self.drop_last, self.rank, self.num_replicas = drop_last, rank, world_size
        self.sampling, self.labels, self.energy, self.bin_width = (
            sampling,
            labels,
            energy,
            bin_width,
        )
        self.epoch = 0
        self._memo: tuple[int, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """This rank's positions for the current epoch, in iteration order."""
        if self._memo is not None and self._memo[0] == self.epoch:
            return self._memo[1]
        idx = self._compute()
        self._memo = (self.epoch, idx)
        return idx

    def _compute(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.sampling == "balanced":
            idx = balanced_indices(self.labels, self.n, rng)
        elif self.sampling == "energy_matched":
            idx = energy_matched_indices(self.labels, self.energy, self.bin_width, rng)
        else:
            idx = np.arange(self.n)
        if self.shuffle:
            idx = rng.permutation(idx)
        w = self.num_replicas
        if w == 1:
            return idx
        if self.shuffle:  # training: equal share per rank (DDP steps must match), drop < w
            per = len(idx) // w
            return idx[self.rank * per : (self.rank + 1) * per]
        bounds = np.linspace(0, len(idx), w + 1).astype(np.int64)  # eval: cover every event
        return idx[bounds[self.rank] : bounds[self.rank + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        idx = self.epoch_indices()
        b = self.batch_size
        stop = len(idx) - len(idx) % b if self.drop_last else len(idx)
        for i in range(0, stop, b):
            yield idx[i : i + b]

    def __len__(self) -> int:
        if self.sampling == "energy_matched":
            m = len(self.epoch_indices())
        else:
            m = self.n if self.num_replicas == 1 else len(self.epoch_indices())
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)
