"""Seeded train/validation split of the training events.

Validation comes from the training files only (test files never feed training or model
selection). The split is stratified by the task's labels, so a rare class keeps its fraction
on both sides, and can be grouped (by run or detector) so that no group straddles the split:
events from one run share conditions, and letting them leak into validation flatters it.
"""

from __future__ import annotations

import numpy as np

from psdlab.data.errors import DataError


def split_indices(
    n: int,
    val_fraction: float,
    seed: int,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``0..n-1`` split into (train, val), both sorted.

    Args:
        n: number of events.
        val_fraction: wanted share of validation events, in [0, 1).
        seed: same seed, same split.
        strata: (n,) integer class code; each stratum contributes ``round(frac * size)``.
        groups: (n,) group id; whole groups go to validation (in seeded random order) until
            the fraction is reached, then strata are ignored (a group cannot be divided).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    is_val = np.zeros(n, dtype=bool)
    if val_fraction == 0 or n == 0:
        pass
    elif groups is not None:
        uniq, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        if len(uniq) < 2:
            raise DataError(f"grouped split needs at least 2 groups, found {len(uniq)}")
        order = rng.permutation(len(uniq))
        target = val_fraction * n
        chosen = np.zeros(len(uniq), dtype=bool)
        total = 0
        for g in order:  # loop over groups (runs), not events
            if total >= target:
                break
            if total + counts[g] - target > target - total and total > 0:
                continue  # this group overshoots more than it helps; try a smaller one
            chosen[g] = True
            total += counts[g]
        if chosen.all():
            chosen[order[-1]] = False
        is_val = chosen[inverse]
    else:
        codes = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
        for c in np.unique(codes):
            members = np.flatnonzero(codes == c)
            k = round(val_fraction * len(members))
            is_val[rng.choice(members, size=k, replace=False)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def strata_codes(labels: np.ndarray | None) -> np.ndarray | None:
    """(n, K) boolean labels -> one integer class code per event (joint stratification)."""
    if labels is None or labels.ndim != 2 or labels.shape[1] == 0:
        return None
    weights = 1 << np.arange(labels.shape[1], dtype=np.int64)
    return (labels.astype(np.int64) * weights).sum(axis=1)


def stratified_subset(
    positions: np.ndarray, n: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """A seeded subset of ``n`` of ``positions`` (sorted), stratified by ``strata``.

    Why: a label-efficiency study trains on 300, 1,000, ... labelled events; the subset must
    keep the class fractions of the full split (a rare class must not vanish by chance) and
    be the same for the same seed, so that scratch and pre-trained models see the same
    events. Each stratum gets ``floor(n * share)`` events, the remainder goes to the strata
    with the largest fractional parts. ``n >= len(positions)`` keeps every position.

    Args:
        positions: candidate positions (e.g. the training split).
        n: number of events wanted.
        seed: same seed, same subset.
        strata: (len(positions),) integer class code per candidate; None: one stratum.
    """
    positions = np.asarray(positions)
    if n <= 0:
        raise DataError(f"max_train_events must be positive, got {n}")
    if n >= len(positions):
        return np.sort(positions)
    codes = np.zeros(len(positions), np.int64) if strata is None else np.asarray(strata)
    uniq, counts = np.unique(codes, return_counts=True)
    exact = n * counts / len(positions)
    take = np.floor(exact).astype(np.int64)
    remainder = n - int(take.sum())
    take[np.argsort(-(exact - take), kind="stable")[:remainder]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(positions[codes == c], size=int(k), replace=False) for c, k in zip(uniq, take)
    ]
    return np.sort(np.concatenate(chosen))
