"""predict.py: a checkpoint applied to labelled and unlabelled files, resumable, atomic."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from psdlab.report.calibration_record import file_sha256
from psdlab.run.predict import predict

from .conftest import compose_config

LABEL_DATASETS = ("energy_label", "psd_label_low_avse", "psd_label_high_avse")
LABEL_DATASETS += ("psd_label_dcr", "psd_label_lq")


def _compose_predict(out: Path, *overrides: str):
    return compose_config("predict", list(overrides), {"output_dir": out})


def strip_labels(src: Path, dst: Path) -> Path:
    """A copy of ``src`` without energy and labels, like the release's MJD_NPML files."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for name in f:
            if name not in LABEL_DATASETS:
                f.copy(name, g)
    return dst


def _read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def test_unlabelled_file_gets_the_same_scores(trained_run, tiny_dataset, tmp_path) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    labelled = tiny_dataset["test"][0]
    unlabelled = strip_labels(labelled, tmp_path / "MJD_NPML_0.hdf5")
    a = _read(predict(_compose_predict(tmp_path / "a", f"ckpt_path={ckpt}", f"files={labelled}")))
    b = _read(predict(_compose_predict(tmp_path / "b", f"ckpt_path={ckpt}", f"files={unlabelled}")))
    np.testing.assert_array_equal(a["id"], b["id"])
    np.testing.assert_allclose(a["score_low_avse"], b["score_low_avse"], rtol=0, atol=1e-6)
    assert len(a["id"]) > 250  # every event passing the selection of the 300 is scored
    assert "energy" in a and "energy" not in b
    for key in ("detector", "run_number", "tp0", "trap_energy", "aoe", "dcr", "lq"):
        assert key in b and len(b[key]) == len(b["id"])
    assert np.isfinite(b["aoe"]).mean() > 0.9
    # the classical trap energy is calibrated without labels: it tracks energy_label
    good = np.isfinite(a["trap_energy"]) & (a["energy"] > 200)
    assert np.median(np.abs(a["trap_energy"][good] - a["energy"][good])) < 5.0


def test_prediction_resumes_and_joins_files(trained_run, tiny_dataset, tmp_path) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    files = [str(p) for p in tiny_dataset["train"]]
    out = tmp_path / "pred"
    cfg = _compose_predict(
        out, f"ckpt_path={ckpt}", f"files=[{','.join(files)}]", "classical=false"
    )
    table = _read(predict(cfg))
    parts = sorted((out / "parts").glob("*.h5"))
    assert len(parts) == 2
    np.testing.assert_array_equal(np.unique(table["file_index"]), [0, 1])
    first = parts[0].stat().st_mtime_ns
    parts[1].unlink()  # as if interrupted during the second file
    again = _read(predict(cfg))
    assert parts[0].stat().st_mtime_ns == first  # the finished file was not scored again
    np.testing.assert_array_equal(again["id"], table["id"])
    np.testing.assert_allclose(again["score_low_avse"], table["score_low_avse"], atol=1e-6)
    assert not list(out.rglob("*.tmp"))


def test_simulated_npml_file_has_no_labels_and_predicts(trained_run, tmp_path) -> None:
    from psdlab.simulate import generate_dataset

    from .conftest import tiny_simulator_config

    files = generate_dataset(
        tmp_path / "sim",
        0,
        0,
        200,
        seed=5,
        config=tiny_simulator_config(),
        progress=False,
        n_npml_files=1,
    )
    (npml,) = files["npml"]
    with h5py.File(npml, "r") as f:
        assert not set(LABEL_DATASETS) & set(f)
        assert {"raw_waveform", "tp0", "detector", "run_number", "id"} <= set(f)
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    table = _read(predict(_compose_predict(tmp_path / "p", f"ckpt_path={ckpt}", f"files={npml}")))
    assert len(table["id"]) > 150 and np.isfinite(table["score_low_avse"]).all()


def test_files_are_written_with_the_umask_mode(trained_run, tiny_dataset, tmp_path) -> None:
    """Simulated data, metrics and predictions: 0666 & ~umask, as an ordinary open() gives."""
    from psdlab.simulate import write_file

    from .conftest import tiny_simulator_config

    old = os.umask(0o027)
    try:
        sim = write_file(tmp_path / "sim.hdf5", 50, config=tiny_simulator_config())
        ckpt = trained_run / "checkpoints" / "best.ckpt"
        cfg = _compose_predict(tmp_path / "p", f"ckpt_path={ckpt}", f"files={sim}")
        pred = predict(cfg)
    finally:
        os.umask(old)
    for path in (sim, pred, tmp_path / "p" / "run_record.json"):
        assert path.stat().st_mode & 0o777 == 0o640, path
    # the training run (written under the test's default umask) has ordinary modes too
    umask = os.umask(old)
    os.umask(umask)
    for path in (trained_run / "metrics.json", trained_run / "predictions.h5"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


REAL_FILE = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "legend_real.hdf5"


@pytest.mark.skipif(not REAL_FILE.is_file(), reason="real pulses (../shared/realdata) absent")
def test_real_pulses_are_scored_and_reported(trained_run, tmp_path) -> None:
    """Real germanium pulses (3800 samples; the tiny run trained on 1300): the schema's trace
    length is changed for these files, every event is scored, the label-free report renders."""
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    cfg = _compose_predict(
        tmp_path / "real",
        f"ckpt_path={ckpt}",
        f"files={REAL_FILE}",
        "data.schema.trace_length=3800",
        "report=true",
    )
    table = _read(predict(cfg))
    with h5py.File(REAL_FILE, "r") as f:
        n_events = len(f["id"])
    assert len(table["id"]) == n_events
    assert np.isfinite(table["score_low_avse"]).all()
    import json

    report = json.loads((tmp_path / "real" / "report.json").read_text())
    assert report["decay_constants"] and (tmp_path / "real" / "report.html").is_file()
    assert any("low statistics" in note for note in report["notes"])


def physics_copy(src: Path, dst: Path, n_events: int) -> Path:
    """The first ``n_events`` of ``src`` as a physics run would have them: no labels, no
    energy, no truth (no per-channel gains or decay constants), no stored calibration or
    filters (file attributes), too few events to calibrate on themselves."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset) and name not in LABEL_DATASETS:
                g.create_dataset(name, data=obj[:n_events])
    return dst


CLASSICAL = ("trap_energy", "aoe", "dcr", "lq", "drift_time_ns")


def test_a_calibration_run_calibrates_a_physics_file(trained_run, tiny_dataset, tmp_path) -> None:
    """Constants fitted once over all the calibration files (calibration.json), then applied
    unchanged to a small unlabelled file: its classical columns are the calibration run's on
    the same pulses, and its pass columns and report use the recorded cut values."""
    import json

    ckpt = trained_run / "checkpoints" / "best.ckpt"
    files = ",".join(str(p) for p in tiny_dataset["train"])
    cal_dir = tmp_path / "cal"
    cal_table = _read(predict(_compose_predict(cal_dir, f"ckpt_path={ckpt}", f"files=[{files}]")))
    record = json.loads((cal_dir / "calibration.json").read_text())
    assert record["files"] == [str(p) for p in tiny_dataset["train"]]
    assert record["energy"] and set(record["bands"]) == {"aoe", "dcr", "lq"}
    assert record["dsp"]["energy_rise"] > 0 and record["tau_us"]
    good = np.isfinite(cal_table["trap_energy"]) & (cal_table["energy"] > 200)
    assert np.median(np.abs(cal_table["trap_energy"][good] - cal_table["energy"][good])) < 5.0
    # cut values as a calibration run with a large DEP would record them
    cut = float(np.median(cal_table["score_low_avse"]))
    record["thresholds"] = {"low_avse": {"network": cut, "classical": 0.0}}
    (cal_dir / "calibration.json").write_text(json.dumps(record))

    physics = physics_copy(tiny_dataset["train"][0], tmp_path / "physics.hdf5", 120)
    out = tmp_path / "physics"
    cfg_args = (f"ckpt_path={ckpt}", f"files={physics}", f"calibration={cal_dir}", "report=true")
    table = _read(predict(_compose_predict(out, *cfg_args)))
    assert "energy" not in table and len(table["id"]) > 100
    rows = np.searchsorted(cal_table["id"], table["id"])
    assert np.array_equal(cal_table["id"][rows], table["id"])
    for column in CLASSICAL:
        np.testing.assert_allclose(
            table[column], cal_table[column][rows], rtol=1e-9, err_msg=column
        )
    np.testing.assert_array_equal(table["pass_low_avse"], table["score_low_avse"] > cut)
    np.testing.assert_array_equal(table["pass_low_avse_classical"], table["aoe"] > 0.0)
    applied = json.loads((out / "calibration.json").read_text())
    assert applied["energy"] == record["energy"] and applied["thresholds"] == record["thresholds"]
    assert record["checkpoint_sha256"] == file_sha256(ckpt)
    report = json.loads((out / "report.json").read_text())
    assert report["psd"]["low_avse"]["cut"]["network"]["threshold"] == pytest.approx(cut)
    assert report["psd"]["low_avse"]["cut_source"] == "calibration record"
    # a record made with another network: its classical cuts hold, the network's does not
    record["checkpoint_sha256"] = "0" * 64
    (cal_dir / "calibration.json").write_text(json.dumps(record))
    other = _read(predict(_compose_predict(tmp_path / "other", *cfg_args)))
    assert "pass_low_avse" not in other and "pass_low_avse_classical" in other
    # resumed without the record: the part scored with it (its filters) is scored again
    (part,) = (out / "parts").glob("*.h5")
    before = part.stat().st_mtime_ns
    own = _read(predict(_compose_predict(out, f"ckpt_path={ckpt}", f"files={physics}")))
    assert part.stat().st_mtime_ns != before and "pass_low_avse" not in own


def test_a_bad_calibration_record_is_one_clear_line(trained_run, tiny_dataset, tmp_path) -> None:
    from psdlab.utils.errors import ConfigError

    ckpt = trained_run / "checkpoints" / "best.ckpt"
    bad = tmp_path / "calibration.json"
    bad.write_text('{"energy": {"0": {"slope": 1.0}}}')
    cfg = _compose_predict(
        tmp_path / "p",
        f"ckpt_path={ckpt}",
        f"files={tiny_dataset['test'][0]}",
        f"calibration={bad}",
    )
    with pytest.raises(ConfigError, match=r"calibration\.json field 'format': expected"):
        predict(cfg)
    assert not (tmp_path / "p" / "predictions.h5").exists()


def test_a_record_without_classical_columns_or_with_old_parts_is_refused(
    trained_run, tiny_dataset, tmp_path
) -> None:
    """calibration= with classical=false is a config conflict; a part scored by an older
    psdlab (no raw classical columns) is named with the field it lacks, not silently joined."""
    from psdlab.data.errors import DataError
    from psdlab.utils.errors import ConfigError

    ckpt = trained_run / "checkpoints" / "best.ckpt"
    test_file = tiny_dataset["test"][0]
    out = tmp_path / "p"
    table = _read(predict(_compose_predict(out, f"ckpt_path={ckpt}", f"files={test_file}")))
    conflict = _compose_predict(
        tmp_path / "q",
        f"ckpt_path={ckpt}",
        f"files={test_file}",
        f"calibration={out}",
        "classical=false",
    )
    with pytest.raises(ConfigError, match="calibration: given, but classical=false"):
        predict(conflict)
    (part,) = (out / "parts").glob("*.h5")
    with h5py.File(part, "a") as f:  # as an older psdlab wrote it: calibrated columns only
        for name in [k for k in f if k.startswith("raw_")]:
            del f[name]
        f["trap_energy"] = table["trap_energy"]
    with pytest.raises(DataError, match=rf"{part.name} has no field 'raw_trap_energy'"):
        predict(_compose_predict(out, f"ckpt_path={ckpt}", f"files={test_file}"))
