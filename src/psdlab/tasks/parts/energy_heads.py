"""Energy heads beyond the plain linear one (:class:`psdlab.tasks.heads.EnergyHead`).

``RelativeEnergyHead`` reads a classical energy estimate from the last backbone feature
(:class:`psdlab.models.energy.TrapRelativeNet` puts the trapezoidal energy there) and predicts
``E = gain * E_trap * (1 + delta(features))``. Why: an absolute keV output over 0-3 MeV needs
1e-3 relative precision from a regression on O(1) numbers, which a short training does not
reach (the plain head's lines were 45-60x wider than the filter's); a multiplicative
correction, zero at initialisation, starts at the filter's resolution and only has to learn
per-mille effects (charge trapping, ballistic deficit).

Both heads share ``to_kev``/``to_scaled``/``infer`` so the part and the export treat them alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RelativeEnergyHead(nn.Module):
    """``E = gain * E_trap * (1 + w . h + b)``; ``E_trap`` is the last column of ``h``.

    Args:
        in_features: backbone features, the last one the classical energy (input units).
        target_scale, target_offset: ``forward`` returns ``(E - offset) / scale`` like
            :class:`~psdlab.tasks.heads.EnergyHead`.
        gain_init: keV per input unit at the start (learned; MJD high-gain channels: ~0.4
            keV/ADC).
        max_delta: bound of the relative correction (``tanh``-limited), so a badly trained
            correction cannot move an event by more than this fraction.
    """

    def __init__(
        self,
        in_features: int,
        target_scale: float,
        target_offset: float,
        gain_init: float = 0.4,
        max_delta: float = 0.05,
    ) -> None:
        super().__init__()
        if in_features < 2:
            raise ValueError("RelativeEnergyHead needs features plus the classical energy")
        self.linear = nn.Linear(in_features - 1, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.log_gain = nn.Parameter(torch.tensor(math.log(gain_init)))
        self.max_delta = float(max_delta)
        self.target_scale = float(target_scale)
        self.target_offset = float(target_offset)

    def kev(self, h: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B,) energy in keV."""
        delta = self.max_delta * torch.tanh(self.linear(h[:, :-1]).squeeze(-1) / self.max_delta)
        return self.log_gain.exp() * h[:, -1] * (1.0 + delta)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_scaled(self.kev(h))

    def to_kev(self, scaled: torch.Tensor) -> torch.Tensor:
        return scaled * self.target_scale + self.target_offset

    def to_scaled(self, kev: torch.Tensor) -> torch.Tensor:
        return (kev - self.target_offset) / self.target_scale

    def infer(self, h: torch.Tensor) -> torch.Tensor:
        return self.kev(h).unsqueeze(-1)


class ChannelGains(nn.Module):
    """One learned gain per channel, looked up by ``batch["detector"]`` or by event id.

    The id lookup (ids and channels of the training and validation splits, registered from
    the data module's metadata before fitting) stands in for a ``detector`` batch key; events
    it does not know get gain 1. The table (channel ids and log-gains) is saved with the
    model, so the gains learned on the training split are the channels' relative scales.
    """

    def __init__(self, max_channels: int = 64) -> None:
        super().__init__()
        self.log_gain = nn.Parameter(torch.zeros(max_channels + 1))  # last slot: unknown
        self.register_buffer("channel_ids", torch.full((max_channels,), -1, dtype=torch.long))
        self._ids = torch.zeros(0, dtype=torch.long)
        self._slots = torch.zeros(0, dtype=torch.long)

    def register(self, datamodule: object) -> None:
        """Channels of the training and validation events (``split_metadata``)."""
        import numpy as np

        metas = [datamodule.split_metadata(s) for s in ("train", "val")]
        ids = np.concatenate([m["id"] for m in metas]).astype(np.int64)
        det = np.concatenate([m["detector"] for m in metas]).astype(np.int64)
        known = sorted(int(d) for d in np.unique(det))
        if len(known) > self.channel_ids.numel():
            raise ValueError(f"{len(known)} channels, more than max_channels")
        self.channel_ids[: len(known)] = torch.tensor(known, dtype=torch.long)
        order = np.argsort(ids)
        self._ids = torch.from_numpy(ids[order])
        self._slots = torch.from_numpy(np.searchsorted(known, det[order]).astype(np.int64))

    def forward(self, batch: dict) -> torch.Tensor:
        """(B,) gain factors of the batch's events."""
        unknown = self.log_gain.numel() - 1
        if "detector" in batch:
            det = batch["detector"].long()
            match = det[:, None] == self.channel_ids[None, :]
            slot = torch.where(match.any(1), match.long().argmax(1), unknown)
        else:
            ids = batch["id"].long().cpu()
            pos = torch.searchsorted(self._ids, ids).clamp_max(max(len(self._ids) - 1, 0))
            hit = (self._ids[pos] == ids) if len(self._ids) else torch.zeros_like(ids, dtype=bool)
            slot = torch.where(hit, self._slots[pos] if len(self._ids) else ids, unknown)
            slot = slot.to(self.log_gain.device)
        return self.log_gain[slot].exp()
