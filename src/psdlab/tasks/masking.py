"""Masks for masked-reconstruction pre-training: which samples of a window are hidden.

Two shapes of mask, both with an exact masked fraction per event (so a test can check it and
every event is equally hard):

- ``patches``: the window is cut into consecutive patches of ``size`` samples (the
  Transformer's tokens at ``size = patch_size``) and ``round(ratio * n_patches)`` random
  patches per event are hidden, as in the masked autoencoder of He et al. (2021);
- ``spans``: ``round(ratio * L / size)`` non-overlapping spans of ``size`` samples at random
  positions (not tied to a grid), as in wav2vec-style span masking.
"""

from __future__ import annotations

import math

import torch

from psdlab.utils.errors import ConfigError

MASK_MODES = ("patches", "spans")


def patch_mask(
    batch: int, length: int, size: int, ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(batch, length) bool: ``round(ratio * n_patches)`` random patches of ``size`` per row.

    The last patch is shorter when ``size`` does not divide ``length``.
    """
    n_patches = math.ceil(length / size)
    k = round(ratio * n_patches)
    order = torch.rand(batch, n_patches, generator=generator).argsort(dim=1)
    chosen = torch.zeros(batch, n_patches, dtype=torch.bool)
    chosen.scatter_(1, order[:, :k], True)
    return chosen.repeat_interleave(size, dim=1)[:, :length]


def span_mask(
    batch: int, length: int, size: int, ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(batch, length) bool: ``round(ratio * length / size)`` non-overlapping spans per row.

    Uniform placement of k spans: k sorted offsets in ``[0, length - k*size]`` plus
    ``i * size`` for the i-th span never overlap and cover exactly ``k * size`` samples.
    """
    k = min(round(ratio * length / size), length // size)
    free = length - k * size
    offsets = (torch.rand(batch, k, generator=generator) * (free + 1)).floor().long()
    starts = offsets.sort(dim=1).values + torch.arange(k) * size
    edges = torch.zeros(batch, length + 1, dtype=torch.long)
    edges.scatter_add_(1, starts, torch.ones_like(starts))
    edges.scatter_add_(1, starts + size, -torch.ones_like(starts))
    return edges.cumsum(dim=1)[:, :length] > 0


def make_mask(
    mode: str,
    batch: int,
    length: int,
    size: int,
    ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ``mode`` mask (``patches`` | ``spans``), on the CPU, (batch, length) bool."""
    if mode == "patches":
        return patch_mask(batch, length, size, ratio, generator)
    if mode == "spans":
        return span_mask(batch, length, size, ratio, generator)
    raise ConfigError(f"mask mode must be one of {MASK_MODES}, got '{mode}'")


def check_mask_config(mode: str, ratio: float, size: int, length: int) -> None:
    """Reject a mask that hides nothing or everything before any training starts."""
    if mode not in MASK_MODES:
        raise ConfigError(f"mask mode must be one of {MASK_MODES}, got '{mode}'")
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"mask ratio must be in (0, 1), got {ratio}")
    if not 0 < size <= length // 2:
        raise ConfigError(f"mask size must be in [1, {length // 2}] samples, got {size}")
