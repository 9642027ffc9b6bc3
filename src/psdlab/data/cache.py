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
from typing import Any

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
        "preprocess": preprocessor.cache_config(),
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
    trace_length = infos[0].trace_length
    n_total = sum(i.n_events for i in infos)
    c, length = pre.output_shape(trace_length)
    labels = _common(infos, "labels")
    metadata = [m for m in _common(infos, "metadata") if m != "id"]
    truth = _common(infos, "truth")
    has_energy = all(i.has_energy for i in infos)
    has_tp0 = all(i.has_tp0 for i in infos)

    np_dtype = np.dtype(dtype)
    small: dict[str, list[np.ndarray]] = {"valid": [], "file_index": [], "id": [], "tp0": []}
    if has_energy:
        small["energy"] = []
    for name in labels:
        small[f"label_{name}"] = []
    for name in metadata:
        small[f"meta_{name}"] = []
    for name in truth:
        small[f"truth_{name}"] = []
    n_nonfinite = n_bad_tp0 = 0
    per_file = []

    wpath = out / "waveform.npy"
    with open(wpath, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh,
            {
                "descr": np.lib.format.dtype_to_descr(np_dtype),
                "fortran_order": False,
                "shape": (n_total, c, length),
            },
        )
        for fi, info in enumerate(infos):
            p = info.path
            tp0 = (
                read_vector(p, schema.tp0, np.int64) if info.has_tp0 else np.full(info.n_events, -1)
            )
            energy = read_vector(p, schema.energy, np.float64) if info.has_energy else None
            small["tp0"].append(tp0)
            small["id"].append(read_vector(p, schema.metadata["id"], np.int64))
            small["file_index"].append(np.full(info.n_events, fi, dtype=np.int32))
            if has_energy:
                small["energy"].append(energy.astype(np.float32))
            for name in labels:
                small[f"label_{name}"].append(read_vector(p, schema.labels[name], np.bool_))
            for name in metadata:
                small[f"meta_{name}"].append(read_vector(p, schema.metadata[name], np.int64))
            for name in truth:
                small[f"truth_{name}"].append(read_vector(p, f"{schema.truth_group}/{name}"))
            chunk = max(
                1, int(chunk_mb * 2**20) // (trace_length * np.dtype(info.waveform_dtype).itemsize)
            )
            f_nonfinite = f_bad_tp0 = 0
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
                f_nonfinite += res.n_nonfinite
                f_bad_tp0 += res.n_bad_tp0
            small["valid"].append(np.concatenate(valid_parts))
            n_nonfinite += f_nonfinite
            n_bad_tp0 += f_bad_tp0
            per_file.append(
                {
                    "path": str(p),
                    "n_events": info.n_events,
                    "n_nonfinite": f_nonfinite,
                    "n_bad_tp0": f_bad_tp0,
                    "labels": info.labels,
                    "has_energy": info.has_energy,
                }
            )
    for name, parts in small.items():
        np.save(out / f"{name}.npy", np.concatenate(parts))
    meta = {
        "key": doc,
        "files": per_file,
        "n_events": n_total,
        "trace_length": trace_length,
        "shape": [c, length],
        "labels": labels,
        "metadata": metadata,
        "truth": truth,
        "has_energy": has_energy,
        "has_tp0": has_tp0,
        "n_nonfinite": n_nonfinite,
        "n_bad_tp0": n_bad_tp0,
        "build_seconds": time.perf_counter() - t0,
    }
    with open(out / "meta.json", "w") as fh:
        json.dump(meta, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    log.info(
        "built cache %s: %d events from %d files in %.1f s (%d non-finite, %d bad tp0)",
        out.name,
        n_total,
        len(files),
        meta["build_seconds"],
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
