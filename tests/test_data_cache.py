"""Cache reuse without touching raw files, invalidation, interrupted builds, parallel builds."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from psdlab.data import Preprocessor, reader
from psdlab.data import cache as cache_mod
from psdlab.data.scaler import split_standardize
from psdlab.data.schema import DataSchema

try:
    from _synthetic import write_file
except ImportError:  # tests/ imported as a package
    from tests._synthetic import write_file

SCHEMA = DataSchema(trace_length=600)
PRE = Preprocessor.from_config({"window": {"mode": "tp0", "offset": -100, "length": 300}})


def _forbid_raw(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("raw file touched")

    monkeypatch.setattr(reader.h5py, "File", boom)
    monkeypatch.setattr(reader, "_map_rows", boom)


def test_reuse_does_not_touch_raw(tmp_path, monkeypatch):
    f = write_file(tmp_path / "MJD_Train_0.hdf5", n=200)
    c1 = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA, chunk_mb=0.2)
    assert c1.waveform.shape == (200, 1, 300)
    _forbid_raw(monkeypatch)
    c2 = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA)
    assert c2.path == c1.path
    assert isinstance(c2.waveform, np.memmap)
    np.testing.assert_array_equal(np.asarray(c2.waveform), np.asarray(c1.waveform))


def test_chunking_does_not_change_result(tmp_path):
    f = write_file(tmp_path / "a.hdf5", n=200)
    g = write_file(tmp_path / "b.hdf5", n=200, chunks=True)  # h5py fallback path
    a = cache_mod.load_or_build(tmp_path / "c1", [f], PRE, SCHEMA, chunk_mb=0.1)
    b = cache_mod.load_or_build(tmp_path / "c2", [g], PRE, SCHEMA, chunk_mb=10)
    direct = PRE.apply(*[reader.read_vector(f, k) for k in ("raw_waveform", "tp0")]).waveform
    np.testing.assert_array_equal(np.asarray(a.waveform), direct)
    np.testing.assert_array_equal(np.asarray(b.waveform), direct)


def test_invalidation(tmp_path):
    f = write_file(tmp_path / "MJD_Train_0.hdf5", n=100)
    c1 = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA)
    other = Preprocessor.from_config({"window": {"mode": "tp0", "offset": -100, "length": 200}})
    c2 = cache_mod.load_or_build(tmp_path / "c", [f], other, SCHEMA)
    assert c2.path != c1.path and c2.waveform.shape[-1] == 200
    c3 = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA, dtype="float16")
    assert c3.path != c1.path and c3.waveform.dtype == np.float16
    # standardize is applied at batch time: same cache
    rest, _ = split_standardize(
        {"window": {"mode": "tp0", "offset": -100, "length": 300}, "standardize": True}
    )
    std = Preprocessor.from_config(rest)
    assert cache_mod.load_or_build(tmp_path / "c", [f], std, SCHEMA).path == c1.path
    write_file(f, n=120, seed=5)  # rewritten file: new size/mtime
    os.utime(f, ns=(1, 10**18))
    c4 = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA)
    assert c4.path != c1.path and c4.waveform.shape[0] == 120


def test_interrupted_build_never_used(tmp_path, monkeypatch):
    f = write_file(tmp_path / "MJD_Train_0.hdf5", n=200)
    real = Preprocessor.apply
    calls = {"n": 0}

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-build")
        return real(self, *a, **k)

    monkeypatch.setattr(Preprocessor, "apply", flaky)
    with pytest.raises(RuntimeError, match="mid-build"):
        cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA, chunk_mb=0.2)
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.endswith(".lock")] == []
    # a leftover temporary dir (hard kill) is ignored as well
    key, _ = cache_mod.cache_key([f], PRE, SCHEMA, "float32")
    (tmp_path / "c" / f".{key}.tmp-dead").mkdir()
    monkeypatch.setattr(Preprocessor, "apply", real)
    c = cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA)
    assert c.path.name == key and c.waveform.shape[0] == 200


def test_parallel_builders_build_once(tmp_path, monkeypatch):
    f = write_file(tmp_path / "MJD_Train_0.hdf5", n=200)
    builds = []
    real = cache_mod._build
    monkeypatch.setattr(cache_mod, "_build", lambda *a: (builds.append(1), real(*a)))
    out = []
    threads = [
        threading.Thread(
            target=lambda: out.append(cache_mod.load_or_build(tmp_path / "c", [f], PRE, SCHEMA))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({c.path for c in out}) == 1
