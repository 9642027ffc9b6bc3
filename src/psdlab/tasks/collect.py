"""Per-event prediction tables gathered during validation and test.

The test table is what the run layer writes to ``predictions.h5`` and hands to the physics
report, so it holds every test event; validation keeps at most ``max_points`` events, enough
for the TensorBoard figures of an epoch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from psdlab.tasks.parts.base import STAGES, TaskPart


class PredictionCollector:
    """Chunks of per-event columns and a few example inputs, per stage."""

    def __init__(self, max_points: int, n_examples: int) -> None:
        self.max_points, self.n_examples = int(max_points), int(n_examples)
        self.clear_all()

    def clear_all(self) -> None:
        self._chunks: dict[str, list[dict[str, torch.Tensor]]] = {s: [] for s in STAGES}
        self._rows: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._examples: dict[str, torch.Tensor | None] = dict.fromkeys(STAGES)

    def clear(self, stage: str) -> None:
        self._chunks[stage], self._rows[stage], self._examples[stage] = [], 0, None

    def add(
        self,
        stage: str,
        parts: Mapping[str, TaskPart],
        raw: Mapping[str, torch.Tensor],
        batch: Mapping[str, torch.Tensor],
    ) -> None:
        """Append the batch's columns (ids, energies, each part's columns) to ``stage``."""
        n = batch["waveform"].shape[0]
        if stage != "test":
            n = min(n, self.max_points - self._rows[stage])
            if n <= 0:
                return
        cols: dict[str, torch.Tensor] = {k: batch[k] for k in ("id", "energy") if k in batch}
        for name, part in parts.items():
            cols.update(part.columns(raw[name], batch))
        self._chunks[stage].append({k: v[:n].detach().cpu() for k, v in cols.items()})
        self._rows[stage] += n
        if self._examples[stage] is None and self.n_examples > 0:
            self._examples[stage] = batch["waveform"][: self.n_examples].detach().float().cpu()

    def table(self, stage: str) -> dict[str, np.ndarray]:
        """The stage's columns concatenated, plus ``example_waveform``/``example_row``."""
        chunks = self._chunks[stage]
        if not chunks:
            return {}
        table = {k: torch.cat([c[k] for c in chunks]).numpy() for k in chunks[0]}
        examples = self._examples[stage]
        if examples is not None:
            table["example_waveform"] = examples.numpy()
            table["example_row"] = np.arange(len(examples))
        return table


def gather_table(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every rank's test table, concatenated in rank order; the input when not distributed.

    Under DDP each rank tests one contiguous shard of the test events (``IndexBatchSampler``
    covers every event once, in order, outside training), so rank 0 alone would write a
    prediction table, and a report, of its shard only; the concatenation is the table a
    single process writes. The example waveforms are rank 0's: they are the first rows.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return table
    world = torch.distributed.get_world_size()
    if world == 1:
        return table
    tables: list[dict[str, np.ndarray] | None] = [None] * world
    torch.distributed.all_gather_object(tables, table)
    full = [t for t in tables if t]
    if not full:
        return {}
    columns = [k for k in full[0] if not k.startswith("example_")]
    merged = {k: np.concatenate([t[k] for t in full]) for k in columns}
    merged |= {k: v for k, v in full[0].items() if k.startswith("example_")}
    return merged
