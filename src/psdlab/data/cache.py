"""On-disk cache of preprocessed arrays, memory-mapped on reuse.

One cache directory per (set of input files, preprocessing, schema, dtype). The key hashes
each file's path, size and mtime, so a rewritten file invalidates it without being opened,
and a second run with the same settings never touches the raw files. The cache is built in a
temporary directory and renamed into place only when complete (``meta.json`` is written
last); a crash half-way leaves a ``.tmp-*`` directory that is never read. A file lock makes
parallel sweep trials build it once: the first builds, the others wait and then read.

Layout: ``waveform.npy`` (N, C, L') float32/float16 (invalid events zero), ``valid.npy``,
``file_index.npy``, ``id.npy``, ``tp0.npy``, ``energy.npy`` (when every file has energy),
``label_<name>.npy`` (for each schema label present in every file), ``meta_<name>.npy``
(detector, run_number), ``truth_<name>.npy``, and ``meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from filelock import FileLock

from psdlab.data.errors import DataError, file_error
from psdlab.data.preprocess import Preprocessor
from psdlab.data.reader import (
    FileInfo,
    file_fingerprint,
    inspect_file,
    iter_waveform_chunks,
    read_vector,
)
from psdlab.data.schema import DataSchema

log = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass
class CachedArrays:
    """A loaded cache: memory-mapped arrays plus what the build learned about the files."""

    path: Path
    waveform: np.ndarray
    valid: np.ndarray
    file_index: np.ndarray
    ids: np.ndarray
    tp0: np.ndarray
    energy: np.ndarray | None
    labels: dict[str, np.ndarray]
    metadata: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.meta["files"]]


def cache_key(
    files: list[Path], preprocessor: Preprocessor, schema: DataSchema, dtype: str
) -> tuple[str, dict]:
    """Hash of everything that determines the cached bytes; returns (hex key, key document)."""
    doc = {
        "version": CACHE_VERSION,
        "files": [file_fingerprint(p) for p in files],
        "preprocess": preprocessor.to_dict(),
        "schema": schema.to_dict(),
        "dtype": dtype,
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20], doc


def load_or_build(
    cache_root: str | os.PathLike,
    files: list[Path],
    preprocessor: Preprocessor,
    schema: DataSchema,
    dtype: str = "float32",
    chunk_mb: float = 64.0,
) -> CachedArrays:
    """Return the cache for these files and settings, building it (once, under a lock) if needed."""
    if dtype not in ("float32", "float16"):
        raise DataError(f"cache_dtype must be float32 or float16, got '{dtype}'")
    root = Path(cache_root)
    root.mkdir(parents=True, exist_ok=True)
    key, doc = cache_key(files, preprocessor, schema, dtype)
    final = root / key
    if (final / "meta.json").is_file():
        return _load(final)
    with FileLock(str(root / f"{key}.lock")):
        if (final / "meta.json").is_file():  # another process built it while we waited
            return _load(final)
        tmp = root / f".{key}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            _build(tmp, files, preprocessor, schema, dtype, chunk_mb, doc)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _load(final)


def _common(infos: list[FileInfo], attr: str) -> list[str]:
    sets = [list(getattr(i, attr)) for i in infos]
    return [x for x in sets[0] if all(x in s for s in sets[1:])]


@dataclass
class _FileSet:
    """What the files hold in common, settled before any event is read."""

    infos: list[FileInfo]
    shape: tuple[int, int]  # (C, L') of one preprocessed event
    labels: list[str]
    metadata: list[str]
    truth: list[str]
    has_energy: bool
    has_tp0: bool

    @property
    def trace_length(self) -> int:
        return self.infos[0].trace_length

    @property
    def n_events(self) -> int:
        return sum(i.n_events for i in self.infos)


def _check_files(files: list[Path], pre: Preprocessor, schema: DataSchema) -> _FileSet:
    """Validate every file (and what the preprocessing needs from it) before writing a byte."""
    infos = [inspect_file(p, schema) for p in files]
    lengths = {i.trace_length for i in infos}
    if len(lengths) > 1:
        raise DataError(
            "files have different trace lengths: "
            + ", ".join(f"{i.path}: {i.trace_length}" for i in infos)
        )
    for i in infos:
        if pre.needs_tp0() and not i.has_tp0:
            raise file_error(i.path, schema.tp0, "tp0 dataset missing (preprocess.window.mode=tp0)")
        if pre.needs_energy() and not i.has_energy:
            raise file_error(
                i.path, schema.energy, "energy dataset missing (preprocess.normalize=energy)"
            )
    return _FileSet(
        infos=infos,
        shape=pre.output_shape(infos[0].trace_length),
        labels=_common(infos, "labels"),
        metadata=[m for m in _common(infos, "metadata") if m != "id"],
        truth=_common(infos, "truth"),
        has_energy=all(i.has_energy for i in infos),
        has_tp0=all(i.has_tp0 for i in infos),
    )


def _small_arrays(
    info: FileInfo, index: int, fs: _FileSet, schema: DataSchema
) -> dict[str, np.ndarray]:
    """The per-event vectors of one file, keyed by their cache file name (without .npy).

    ``tp0`` is -1 where a file has none, and ``energy`` is kept in float64 under
    ``_energy64`` for the preprocessing (the cache stores float32, only when all files have it).
    """
    p, n = info.path, info.n_events
    out = {
        "tp0": read_vector(p, schema.tp0, np.int64) if info.has_tp0 else np.full(n, -1),
        "id": read_vector(p, schema.metadata["id"], np.int64),
        "file_index": np.full(n, index, dtype=np.int32),
    }
    if info.has_energy:
        out["_energy64"] = read_vector(p, schema.energy, np.float64)
        if fs.has_energy:
            out["energy"] = out["_energy64"].astype(np.float32)
    for name in fs.labels:
        out[f"label_{name}"] = read_vector(p, schema.labels[name], np.bool_)
    for name in fs.metadata:
        out[f"meta_{name}"] = read_vector(p, schema.metadata[name], np.int64)
    for name in fs.truth:
        out[f"truth_{name}"] = read_vector(p, f"{schema.truth_group}/{name}")
    return out


def _write_waveforms(
    fh: BinaryIO,
    info: FileInfo,
    tp0: np.ndarray,
    energy: np.ndarray | None,
    pre: Preprocessor,
    schema: DataSchema,
    np_dtype: np.dtype,
    chunk_mb: float,
) -> tuple[np.ndarray, int, int]:
    """Preprocess one file chunk by chunk, appending to ``fh``; (valid, n_nonfinite, n_bad_tp0).

    Chunks of ``chunk_mb`` of raw samples keep peak memory independent of the file size.
    """
    itemsize = np.dtype(info.waveform_dtype).itemsize
    chunk = max(1, int(chunk_mb * 2**20) // (info.trace_length * itemsize))
    n_nonfinite = n_bad_tp0 = 0
    valid_parts = []
    for start, stop, block in iter_waveform_chunks(info, schema, chunk):
        res = pre.apply(
            block,
            tp0[start:stop],
            None if energy is None else energy[start:stop],
            schema.sampling_period_ns,
        )
        res.waveform.astype(np_dtype, copy=False).tofile(fh)
        valid_parts.append(res.valid)
        n_nonfinite += res.n_nonfinite
        n_bad_tp0 += res.n_bad_tp0
    return np.concatenate(valid_parts), n_nonfinite, n_bad_tp0


def _build(
    out: Path,
    files: list[Path],
    pre: Preprocessor,
    schema: DataSchema,
    dtype: str,
    chunk_mb: float,
    doc: dict,
) -> None:
    t0 = time.perf_counter()
    fs = _check_files(files, pre, schema)
    np_dtype = np.dtype(dtype)
    small: dict[str, list[np.ndarray]] = {}
    per_file = []
    with open(out / "waveform.npy", "wb") as fh:
        header = {
            "descr": np.lib.format.dtype_to_descr(np_dtype),
            "fortran_order": False,
            "shape": (fs.n_events, *fs.shape),
        }
        np.lib.format.write_array_header_1_0(fh, header)
        for fi, info in enumerate(fs.infos):
            arrays = _small_arrays(info, fi, fs, schema)
            energy = arrays.pop("_energy64", None)
            valid, n_nonfinite, n_bad_tp0 = _write_waveforms(
                fh, info, arrays["tp0"], energy, pre, schema, np_dtype, chunk_mb
            )
            arrays["valid"] = valid
            for name, arr in arrays.items():
                small.setdefault(name, []).append(arr)
            per_file.append(
                {
                    "path": str(info.path),
                    "n_events": info.n_events,
                    "n_nonfinite": n_nonfinite,
                    "n_bad_tp0": n_bad_tp0,
                    "labels": info.labels,
                    "has_energy": info.has_energy,
                }
            )
    for name, parts in small.items():
        np.save(out / f"{name}.npy", np.concatenate(parts))
    _write_meta(out, fs, doc, per_file, time.perf_counter() - t0)


def _write_meta(out: Path, fs: _FileSet, doc: dict, per_file: list[dict], seconds: float) -> None:
    """``meta.json`` last and synced: its presence is what marks a cache as complete."""
    n_nonfinite = sum(f["n_nonfinite"] for f in per_file)
    n_bad_tp0 = sum(f["n_bad_tp0"] for f in per_file)
    meta = {
        "key": doc,
        "files": per_file,
        "n_events": fs.n_events,
        "trace_length": fs.trace_length,
        "shape": list(fs.shape),
        "labels": fs.labels,
        "metadata": fs.metadata,
        "truth": fs.truth,
        "has_energy": fs.has_energy,
        "has_tp0": fs.has_tp0,
        "n_nonfinite": n_nonfinite,
        "n_bad_tp0": n_bad_tp0,
        "build_seconds": seconds,
    }
    with open(out / "meta.json", "w") as fh:
        json.dump(meta, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    log.info(
        "built cache %s: %d events from %d files in %.1f s (%d non-finite, %d bad tp0)",
        out.name,
        fs.n_events,
        len(per_file),
        seconds,
        n_nonfinite,
        n_bad_tp0,
    )


def _load(path: Path) -> CachedArrays:
    with open(path / "meta.json") as fh:
        meta = json.load(fh)

    def arr(name: str) -> np.ndarray:
        return np.load(path / f"{name}.npy", mmap_mode="r")

    return CachedArrays(
        path=path,
        waveform=arr("waveform"),
        valid=np.load(path / "valid.npy"),
        file_index=np.load(path / "file_index.npy"),
        ids=np.load(path / "id.npy"),
        tp0=np.load(path / "tp0.npy"),
        energy=np.load(path / "energy.npy") if meta["has_energy"] else None,
        labels={n: np.load(path / f"label_{n}.npy") for n in meta["labels"]},
        metadata={n: np.load(path / f"meta_{n}.npy") for n in meta["metadata"]},
        truth={n: np.load(path / f"truth_{n}.npy") for n in meta["truth"]},
        meta=meta,
    )
