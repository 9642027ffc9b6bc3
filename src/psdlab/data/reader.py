"""Find, validate and stream waveform HDF5 files.

Validation happens once, before any event is processed, so a wrong file fails in seconds with
a message naming the file and the dataset. Waveforms are then read in chunks of bounded size,
so peak memory does not grow with the number or size of files. For contiguous, uncompressed
datasets (the MJD release layout) the chunk is a memory map of exactly those rows: no h5py
overhead, and only the pages the preprocessing touches (baseline and window) are read.
Chunked or compressed datasets fall back to h5py hyperslab reads.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from psdlab.data.errors import DataError, file_error
from psdlab.data.schema import DataSchema

_GLOB_CHARS = set("*?[")


def resolve_files(
    spec: str | os.PathLike | Sequence[str | os.PathLike] | None, role: str
) -> list[Path]:
    """Turn one path, a glob or a list of either into a sorted, de-duplicated list of paths.

    Raises ``DataError`` when a named file does not exist or a pattern matches nothing, so
    a typo in ``data.train_files`` is reported before anything else happens.
    """
    if spec is None:
        return []
    items = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    out: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise DataError(f"{role} files: pattern '{text}' matches no file")
            out.extend(Path(m) for m in matches)
        else:
            p = Path(text)
            if not p.is_file():
                raise file_error(p, None, f"{role} file not found")
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


def file_fingerprint(path: Path) -> dict:
    """Path, size and mtime: enough to notice a replaced or rewritten file without opening it."""
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass
class FileInfo:
    """What a validated file holds, in logical names."""

    path: Path
    n_events: int
    trace_length: int
    waveform_dtype: str
    labels: list[str] = field(default_factory=list)
    has_energy: bool = False
    has_tp0: bool = False
    metadata: list[str] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)
    contiguous_offset: int | None = None


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise file_error(path, None, "file not found")
    try:
        ok = h5py.is_hdf5(path)
    except OSError as e:
        raise file_error(path, None, f"cannot read file ({e})") from e
    if not ok:
        raise file_error(path, None, "not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise file_error(path, None, f"cannot open as HDF5, the file may be truncated ({e})") from e


def _check_vector(path: Path, f: h5py.File, name: str, n: int, kinds: str, what: str) -> None:
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise file_error(path, name, f"expected a dataset, found a group ({what})")
    if ds.shape != (n,):
        raise file_error(path, name, f"expected shape ({n},) ({what}), found {ds.shape}")
    if ds.dtype.kind not in kinds:
        raise file_error(path, name, f"expected dtype kind in '{kinds}' ({what}), found {ds.dtype}")


def inspect_file(path: Path, schema: DataSchema) -> FileInfo:
    """Open a file, check every dataset the schema names that it holds, and describe it.

    Only ``schema.waveform`` and the ``id`` metadata are mandatory here; labels, energy and
    tp0 are optional (an NPML file has no labels) and the caller decides what a split needs.
    """
    path = Path(path)
    with _open(path) as f:
        info = _inspect_waveform(path, f, schema)
        _inspect_vectors(path, f, schema, info)
    return info


def _inspect_waveform(path: Path, f: h5py.File, schema: DataSchema) -> FileInfo:
    """Check the (events, samples) waveform dataset and find where its bytes lie."""
    wname = schema.waveform
    if wname not in f:
        raise file_error(path, wname, f"waveform dataset missing; file has {sorted(f.keys())}")
    ds = f[wname]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2:
        shape = getattr(ds, "shape", "a group")
        raise file_error(path, wname, f"expected a 2-D (events, samples) dataset, found {shape}")
    n, length = ds.shape
    if ds.dtype.kind not in "fiu":
        raise file_error(path, wname, f"expected a real numeric dtype, found {ds.dtype}")
    if schema.trace_length and length != schema.trace_length:
        raise file_error(
            path, wname, f"expected trace length {schema.trace_length} samples, found {length}"
        )
    if n == 0:
        raise file_error(path, wname, "file holds no events")
    info = FileInfo(path=path, n_events=n, trace_length=length, waveform_dtype=str(ds.dtype))
    info.contiguous_offset = _contiguous_offset(path, ds, wname)
    return info


def _contiguous_offset(path: Path, ds: h5py.Dataset, name: str) -> int | None:
    """Byte offset of an uncompressed, contiguous dataset (memory-mappable), else None.

    Checking that the data ends inside the file catches a truncated copy here, before the
    memory map would fail half-way through a cache build.
    """
    if ds.chunks is not None or ds.compression is not None:
        return None
    try:
        offset = ds.id.get_offset()
    except Exception:
        return None
    if offset is None:
        return None
    n, length = ds.shape
    need = offset + n * length * ds.dtype.itemsize
    if need > path.stat().st_size:
        raise file_error(
            path,
            name,
            f"file is truncated: data ends at byte {need}, file has {path.stat().st_size}",
        )
    return offset if ds.dtype.byteorder in "=|<>" else None


def _inspect_vectors(path: Path, f: h5py.File, schema: DataSchema, info: FileInfo) -> None:
    """Check the per-event vectors the schema names and record which ones ``f`` holds."""
    n = info.n_events
    for logical, name in schema.labels.items():
        if name in f:
            _check_vector(path, f, name, n, "biu", f"label '{logical}', bool or 0/1")
            info.labels.append(logical)
    if schema.energy in f:
        _check_vector(path, f, schema.energy, n, "fiu", "energy in keV")
        info.has_energy = True
    if schema.tp0 in f:
        _check_vector(path, f, schema.tp0, n, "fiu", "rising-edge sample index")
        info.has_tp0 = True
    for logical, name in schema.metadata.items():
        if name in f:
            _check_vector(path, f, name, n, "iu", f"integer '{logical}'")
            info.metadata.append(logical)
    if "id" not in info.metadata:
        raise file_error(path, schema.metadata.get("id", "id"), "event id dataset missing")
    grp = f.get(schema.truth_group)
    if isinstance(grp, h5py.Group):
        for name, d in grp.items():
            if isinstance(d, h5py.Dataset) and d.shape == (n,):
                info.truth.append(name)


def read_vector(path: Path, name: str, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Read a whole (N,) dataset, with read failures reported against file and dataset."""
    with _open(path) as f:
        try:
            arr = f[name][()]
        except (OSError, KeyError) as e:
            raise file_error(path, name, f"read failed, the file may be truncated ({e})") from e
    return arr if dtype is None else arr.astype(dtype, copy=False)


def _map_rows(
    path: Path, offset: int, dtype: str, length: int, start: int, stop: int
) -> np.ndarray:
    """Memory map rows [start, stop) of a contiguous (N, length) dataset."""
    itemsize = np.dtype(dtype).itemsize
    return np.memmap(
        path,
        dtype=dtype,
        mode="r",
        offset=offset + start * length * itemsize,
        shape=(stop - start, length),
    )


def iter_waveform_chunks(
    info: FileInfo, schema: DataSchema, chunk_events: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, block)`` with ``block`` the raw (stop-start, L) waveforms.

    The block is only valid until the next iteration (it is a memory map that is closed, or
    a reused buffer), which is what keeps peak memory at one chunk.
    """
    n, length, path = info.n_events, info.trace_length, info.path
    if info.contiguous_offset is not None:
        for start in range(0, n, chunk_events):
            stop = min(n, start + chunk_events)
            try:
                block = _map_rows(
                    path, info.contiguous_offset, info.waveform_dtype, length, start, stop
                )
            except (OSError, ValueError) as e:
                raise file_error(
                    path, schema.waveform, f"read of rows {start}:{stop} failed ({e})"
                ) from e
            yield start, stop, block
            del block
        return
    with _open(path) as f:
        ds = f[schema.waveform]
        buf = np.empty((min(chunk_events, n), length), dtype=ds.dtype)
        for start in range(0, n, chunk_events):
            stop = min(n, start + chunk_events)
            out = buf[: stop - start]
            try:
                ds.read_direct(out, np.s_[start:stop], np.s_[0 : stop - start])
            except (OSError, ValueError) as e:
                raise file_error(
                    path, schema.waveform, f"read of rows {start}:{stop} failed, truncated? ({e})"
                ) from e
            yield start, stop, out
