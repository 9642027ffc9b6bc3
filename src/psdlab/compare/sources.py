"""Which events of a set of files are compared, and reading them in bounded memory.

A set is a list of MJD-layout files. Only the small (N,) datasets are read whole (energy,
detector, tp0, ...); waveforms are read one chunk at a time through
:func:`psdlab.data.reader.iter_waveform_chunks`, taking only the selected rows of each chunk,
so a 65,000-event, 2 GB file costs one chunk of memory. Selection (energy range) happens
before the seeded subsample, so ``--max-events`` counts events that are actually compared.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from psdlab.data.errors import file_error
from psdlab.data.reader import FileInfo, inspect_file, iter_waveform_chunks, read_vector
from psdlab.data.schema import MJD_SCHEMA, DataSchema

# any trace length: the compared sets need not have the release's 3800 samples
ANY_LENGTH_SCHEMA = dataclasses.replace(MJD_SCHEMA, trace_length=0)


@dataclass
class FileSelection:
    """The selected events of one file, with their per-event metadata (sorted rows)."""

    info: FileInfo
    rows: np.ndarray
    detector: np.ndarray
    run_number: np.ndarray
    tp0: np.ndarray | None
    energy: np.ndarray | None

    @property
    def n(self) -> int:
        return int(self.rows.size)


def _vector_or_none(info: FileInfo, name: str, present: bool) -> np.ndarray | None:
    return read_vector(info.path, name).astype(np.float64) if present else None


def _read_metadata(info: FileInfo, schema: DataSchema) -> dict[str, np.ndarray | None]:
    """Per-event vectors of a file; a file without detector/run ids counts as one detector."""
    n = info.n_events
    out: dict[str, np.ndarray | None] = {}
    for key in ("detector", "run_number"):
        name = schema.metadata.get(key, key)
        present = key in info.metadata
        out[key] = read_vector(info.path, name, np.int64) if present else np.zeros(n, np.int64)
    out["tp0"] = _vector_or_none(info, schema.tp0, info.has_tp0)
    out["energy"] = _vector_or_none(info, schema.energy, info.has_energy)
    return out


def select_events(
    paths: Sequence[str | os.PathLike],
    energy_range: tuple[float, float] | None = None,
    max_events: int | None = None,
    seed: int = 0,
    schema: DataSchema = ANY_LENGTH_SCHEMA,
) -> list[FileSelection]:
    """Validate every file, apply the energy range, then draw a seeded subsample.

    Raises ``DataError`` naming the file and dataset when a file is missing, invalid, or
    lacks ``energy_label`` while an energy range was asked for (comparing a selected set
    with an unselected one would be a silent mismatch).
    """
    infos = [inspect_file(Path(p), schema) for p in paths]
    metas = [_read_metadata(info, schema) for info in infos]
    masks = []
    for info, meta in zip(infos, metas):
        mask = np.ones(info.n_events, dtype=bool)
        if energy_range is not None:
            if meta["energy"] is None:
                raise file_error(info.path, schema.energy, "missing, but --energy-range needs it")
            lo, hi = energy_range
            mask &= (meta["energy"] >= lo) & (meta["energy"] < hi)
        masks.append(mask)
    total = sum(int(m.sum()) for m in masks)
    if max_events is not None and total > max_events:
        rng = np.random.default_rng(seed)
        keep = np.zeros(total, dtype=bool)
        keep[rng.choice(total, size=max_events, replace=False)] = True
        offsets = np.cumsum([0] + [int(m.sum()) for m in masks])
        for i, m in enumerate(masks):
            sub = keep[offsets[i] : offsets[i + 1]]
            m[np.flatnonzero(m)[~sub]] = False
    out = []
    for info, meta, mask in zip(infos, metas, masks):
        rows = np.flatnonzero(mask)
        out.append(
            FileSelection(
                info=info,
                rows=rows,
                detector=meta["detector"][rows],
                run_number=meta["run_number"][rows],
                tp0=None if meta["tp0"] is None else meta["tp0"][rows],
                energy=None if meta["energy"] is None else meta["energy"][rows],
            )
        )
    return out


def iter_selected(
    sel: FileSelection, chunk_events: int = 1000, schema: DataSchema = ANY_LENGTH_SCHEMA
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(where, block)``: float64 traces of the selected rows, ``where`` indexes ``sel``.

    Chunks without a selected row are skipped without reading (memory maps touch only the
    pages of the rows taken).
    """
    done = 0
    for start, stop, block in iter_waveform_chunks(sel.info, schema, chunk_events):
        lo, hi = np.searchsorted(sel.rows, [start, stop])
        if hi > lo:
            wf = np.asarray(block[sel.rows[lo:hi] - start], dtype=np.float64)
            yield slice(done, done + (hi - lo)), wf
            done += hi - lo
