"""Every bad-input case stops with a message naming the file, the dataset and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from psdlab.data import DataError, WaveformDataModule

try:
    from _synthetic import make_arrays, write_file
except ImportError:  # tests/ imported as a package
    from tests._synthetic import make_arrays, write_file

PRE = {"window": {"mode": "tp0", "offset": -100, "length": 300}, "baseline": {"stop": 150}}


def dm_for(path, tmp_path, **kw):
    args = {
        "schema": {"trace_length": 600},
        "targets": ["low_avse"],
        "preprocess": PRE,
        "cache_dir": tmp_path / "cache",
        "batch_size": 32,
    }
    args.update(kw)
    return WaveformDataModule(str(path), str(path), **args)


def check(path, tmp_path, pattern, **kw):
    with pytest.raises(DataError, match=pattern) as e:
        dm_for(path, tmp_path, **kw).setup("fit")
    assert str(path.name) in str(e.value)
    return str(e.value)


def test_missing_file_and_empty_glob(tmp_path):
    check(tmp_path / "MJD_Train_9.hdf5", tmp_path, "not found")
    with pytest.raises(DataError, match="matches no file"):
        dm_for(tmp_path / "MJD_Train_*.hdf5", tmp_path).setup("fit")


def test_not_hdf5_and_truncated(tmp_path):
    p = tmp_path / "text.hdf5"
    p.write_text("hello")
    check(p, tmp_path, "not an HDF5 file")
    good = write_file(tmp_path / "t.hdf5", n=200)
    data = good.read_bytes()
    t = tmp_path / "trunc.hdf5"
    t.write_bytes(data[: len(data) // 2])
    check(t, tmp_path, "truncated")


def test_missing_dataset(tmp_path):
    p = write_file(tmp_path / "nowf.hdf5", drop=("raw_waveform",))
    check(p, tmp_path, r"\[dataset 'raw_waveform'\]: waveform dataset missing")
    p = write_file(tmp_path / "noid.hdf5", drop=("id",))
    check(p, tmp_path, r"\[dataset 'id'\]")
    p = write_file(tmp_path / "notp0.hdf5", drop=("tp0",))
    check(p, tmp_path, r"\[dataset 'tp0'\]: tp0 dataset missing")
    p = write_file(tmp_path / "noe.hdf5", drop=("energy_label",))
    check(p, tmp_path, r"\[dataset 'energy_label'\]: energy needed")


def test_wrong_shape_and_dtype(tmp_path):
    p = write_file(tmp_path / "len.hdf5", length=500)
    check(p, tmp_path, "expected trace length 600 samples, found 500")
    p = write_file(tmp_path / "s.hdf5", override={"energy_label": np.ones(10)})
    check(p, tmp_path, r"\[dataset 'energy_label'\]: expected shape \(300,\)")
    p = write_file(tmp_path / "d.hdf5", override={"raw_waveform": np.zeros((300, 600), dtype="S2")})
    check(p, tmp_path, r"\[dataset 'raw_waveform'\]: expected a real numeric dtype")
    p = write_file(tmp_path / "l.hdf5", override={"psd_label_low_avse": np.ones(300)})
    check(p, tmp_path, r"\[dataset 'psd_label_low_avse'\]: expected dtype kind")
    p = write_file(tmp_path / "w1.hdf5", override={"raw_waveform": np.zeros(300)})
    check(p, tmp_path, "expected a 2-D")


def _bad_events_file(tmp_path):
    d = make_arrays(300, 600)
    wf, tp0 = d["raw_waveform"], d["tp0"]
    wf[5, 250] = np.nan
    wf[6, 300] = np.inf
    tp0[7] = 590
    return write_file(tmp_path / "bad.hdf5", override={"raw_waveform": wf, "tp0": tp0})


def test_rise_window_needs_no_tp0_and_flags_events_without_a_rise(tmp_path):
    """Rise alignment works on files without tp0 (unlabelled files may lack it); an event
    without a rise point is dropped or rejected like a bad tp0, named by its waveform."""
    wf = make_arrays(300, 600)["raw_waveform"]
    wf[5] = 1000.0  # flat: no rise point
    p = write_file(tmp_path / "notp0.hdf5", drop=("tp0",), override={"raw_waveform": wf})
    rise = {**PRE, "window": {"mode": "rise", "offset": -100, "length": 300}}
    msg = check(p, tmp_path, "on_bad_event=raise", preprocess=rise, on_bad_event="raise")
    assert "[dataset 'raw_waveform']: 1 events without a rise point" in msg
    dm = dm_for(p, tmp_path, preprocess=rise, on_bad_event="drop", val_fraction=0.0)
    dm.setup("fit")
    ids = dm.split_metadata("train")["id"]
    assert len(ids) == 299 and 5 not in set(ids.tolist())


def test_nan_and_bad_tp0_drop_or_raise(tmp_path, caplog):
    p = _bad_events_file(tmp_path)
    msg = check(p, tmp_path, "on_bad_event=raise", on_bad_event="raise")
    assert "[dataset 'raw_waveform']: 2 events with NaN/Inf" in msg
    assert "[dataset 'tp0']: 1 events whose tp0" in msg
    dm = dm_for(p, tmp_path, on_bad_event="drop", val_fraction=0.0)
    with caplog.at_level("WARNING"):
        dm.setup("fit")
    assert "dropping 3 bad events" in caplog.text
    ids = dm.split_metadata("train")["id"]
    assert len(ids) == 297 and not {5, 6, 7} & set(ids.tolist())
    assert all(np.isfinite(b["waveform"]).all() for b in dm.train_dataloader())


def test_empty_selection(tmp_path):
    p = write_file(tmp_path / "e.hdf5")
    msg = check(p, tmp_path, "empty selection", energy_range=[5000, 6000])
    assert "energy_label" in msg


def test_bad_config_values(tmp_path):
    p = write_file(tmp_path / "c.hdf5")
    with pytest.raises(DataError, match="on_bad_event"):
        dm_for(p, tmp_path, on_bad_event="ignore")
    with pytest.raises(DataError, match="split_group"):
        dm_for(p, tmp_path, split_group="file")
    with pytest.raises(DataError, match="sampling"):
        dm_for(p, tmp_path, sampling="oversample").train_dataloader()
