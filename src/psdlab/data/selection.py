"""Which cached events a split may use, and where its waveforms are read from.

A role's file set (train, test or predict) is one cache. Selecting from it means: report or
reject the events the preprocessing flagged as bad, check that the labels and energy a
labelled split needs are present (with the file and dataset in the message), keep the valid
events inside the energy window, and decide whether the selected waveforms are copied into
RAM or served from the memory map.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psutil

from psdlab.data.cache import CachedArrays
from psdlab.data.errors import DataError
from psdlab.data.preprocess import WindowConfig
from psdlab.data.schema import DataSchema
from psdlab.utils.config import to_plain

log = logging.getLogger(__name__)


@dataclass
class Source:
    """Selected events of one file set; per-event arrays are compact (position-indexed)."""

    cache: CachedArrays
    waveform: np.ndarray  # backing array (in RAM: compact; memory map: full cache)
    rows: np.ndarray  # position -> row of ``waveform``
    cache_rows: np.ndarray  # position -> row of the cache
    labels: np.ndarray | None  # (n, K) float32 in targets order
    energy: np.ndarray | None
    weight: np.ndarray | None = None  # (n,) float32: 0 = scored but not labelled (lines)
    dsp: np.ndarray | None = None  # (n, K) float32 standardised DSP targets (data.dsp_targets)

    def metadata_column(self, name: str, schema: DataSchema) -> np.ndarray:
        """Per-position values of a metadata field (``run_number``, ``detector``)."""
        if name not in self.cache.metadata:
            raise DataError(
                f"split_group={name}: dataset '{schema.metadata.get(name, name)}' missing "
                f"in {self.cache.files}"
            )
        return self.cache.metadata[name][self.cache_rows]

    def metadata(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """Id, tp0, energy, metadata, labels (logical names) and truth fields (their names
        in the truth group) of ``positions``, in that order of events."""
        rows = self.cache_rows[positions]
        c = self.cache
        out: dict[str, np.ndarray] = {"id": c.ids[rows], "tp0": c.tp0[rows]}
        if c.energy is not None:
            out["energy"] = np.asarray(c.energy[rows])
        for group in (c.metadata, c.labels, c.truth):
            for name, arr in group.items():
                out[name] = arr[rows]
        return out


def check_bad_events(
    cache: CachedArrays, schema: DataSchema, window: WindowConfig, on_bad_event: str
) -> None:
    """Warn about (``drop``) or reject (``raise``) the events the preprocessing flagged."""
    bad = cache.meta["n_nonfinite"] + cache.meta["n_bad_tp0"]
    if not bad:
        return
    parts = []
    for f in cache.meta["files"]:
        if f["n_nonfinite"]:
            parts.append(
                f"{f['path']} [dataset '{schema.waveform}']: {f['n_nonfinite']} events "
                "with NaN/Inf in the used samples (or non-positive energy, or zero height)"
            )
        if f["n_bad_tp0"]:
            rise = window.mode == "rise"
            parts.append(
                f"{f['path']} [dataset '{schema.waveform if rise else schema.tp0}']: "
                f"{f['n_bad_tp0']} events "
                + ("without a rise point or whose rise point" if rise else "whose tp0")
                + f" puts the window (offset {window.offset}, length {window.length}) "
                "outside the trace"
            )
    if on_bad_event == "raise":
        bad_ids = cache.ids[~cache.valid][:5].tolist()
        raise DataError("; ".join(parts) + f" (first bad ids {bad_ids}; on_bad_event=raise)")
    log.warning("dropping %d bad events: %s", bad, "; ".join(parts))


def check_labelled(
    cache: CachedArrays, role: str, targets: Sequence[str], schema: DataSchema
) -> None:
    """A split that trains or scores needs every target label and the energy in every file."""
    files = cache.meta["files"]
    for t in targets:
        if t not in cache.labels:
            lacking = [f["path"] for f in files if t not in f["labels"]]
            raise DataError(
                f"{lacking[0]} [dataset '{schema.label_dataset(t)}']: label "
                f"'{t}' needed for {role} but missing (also in {len(lacking) - 1} "
                "other file(s)); unlabelled files can only be used for prediction"
            )
    check_energy(cache, role, schema)


def check_energy(cache: CachedArrays, role: str, schema: DataSchema) -> None:
    """A split that trains or scores needs the energy in every file."""
    if cache.energy is None:
        lacking = [f["path"] for f in cache.meta["files"] if not f["has_energy"]]
        raise DataError(
            f"{lacking[0]} [dataset '{schema.energy}']: energy needed for {role} "
            "but missing; unlabelled files can only be used for prediction"
        )


def parse_energy_range(
    er: Sequence[float | None] | None,
) -> tuple[float | None, float | None] | None:
    """``[lo, hi]`` keV (either may be null: open) as a tuple; null keeps every energy."""
    er = to_plain(er)
    if er is not None and len(er) != 2:
        raise DataError(f"energy_range must be [lo, hi] keV (null = open), got {er}")
    return None if er is None else (er[0], er[1])


def select_rows(
    cache: CachedArrays,
    role: str,
    energy_range: tuple[float | None, float | None] | None,
    schema: DataSchema,
) -> np.ndarray:
    """Cache rows of the valid events inside ``[lo, hi)`` keV (either end may be open)."""
    sel = cache.valid.copy()
    if energy_range is not None:
        if cache.energy is None:
            log.warning("energy_range ignored for %s: files have no energy dataset", role)
        else:
            lo, hi = energy_range
            if lo is not None:
                sel &= cache.energy >= lo
            if hi is not None:
                sel &= cache.energy < hi
    rows = np.flatnonzero(sel)
    if len(rows) == 0:
        raise DataError(
            f"empty selection for {role}: files {cache.files}; {int(cache.valid.sum())} of "
            f"{len(cache.valid)} events valid, energy_range={energy_range} "
            f"[dataset '{schema.energy}']"
        )
    return rows


def file_labels(cache: CachedArrays, rows: np.ndarray, targets: Sequence[str]) -> np.ndarray | None:
    """(n, K) float32 of the files' labels of ``targets``; None unless all are present."""
    if not targets or not all(t in cache.labels for t in targets):
        return None
    return np.stack([cache.labels[t][rows] for t in targets], axis=1).astype(np.float32)


def make_source(
    cache: CachedArrays,
    rows: np.ndarray,
    labels: np.ndarray | None,
    in_memory: bool | str,
    weight: np.ndarray | None = None,
) -> Source:
    """The selected rows with their labels (and weights); waveforms copied to RAM if wanted."""
    energy = None if cache.energy is None else np.asarray(cache.energy[rows], np.float32)
    if load_in_memory(len(rows), cache, in_memory):
        wave, wrows = np.ascontiguousarray(cache.waveform[rows]), np.arange(len(rows))
    else:
        wave, wrows = cache.waveform, rows
    return Source(cache, wave, wrows, rows, labels, energy, weight)


def load_in_memory(n: int, cache: CachedArrays, in_memory: bool | str) -> bool:
    """``auto``: copy ``n`` waveforms to RAM when they take under half the available memory."""
    mode = str(in_memory).lower()
    if mode in ("true", "false"):
        return mode == "true"
    need = n * int(np.prod(cache.waveform.shape[1:])) * cache.waveform.dtype.itemsize
    return need < 0.5 * psutil.virtual_memory().available


def check_choices(on_bad_event: str, split_group: str | None, in_memory: bool | str) -> None:
    """Reject a mistyped option at construction, not after the cache is built."""
    if on_bad_event not in ("drop", "raise"):
        raise DataError(f"on_bad_event must be drop|raise, got '{on_bad_event}'")
    if split_group not in (None, "run_number", "detector"):
        raise DataError(f"split_group must be null|run_number|detector, got '{split_group}'")
    if str(in_memory) not in ("auto", "True", "False", "true", "false"):
        raise DataError(f"in_memory must be auto|true|false, got '{in_memory}'")
