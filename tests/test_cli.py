"""Errors the user causes print one line and exit 2; bugs keep their traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from psdlab.run.cli import EXIT_USER_ERROR, report_user_errors
from psdlab.run.predict import predict

from .conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


def _one_line_exit(capsys, run) -> str:
    with pytest.raises(SystemExit) as exc:
        report_user_errors(run)
    assert exc.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_file_without_waveforms_is_one_line(trained_run, tiny_dataset, tmp_path, capsys) -> None:
    bad = tmp_path / "no_waveforms.hdf5"
    with h5py.File(tiny_dataset["test"][0], "r") as f, h5py.File(bad, "w") as g:
        for name in ("tp0", "detector", "run_number", "id"):
            f.copy(name, g)
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    cfg = compose_config("predict", [f"ckpt_path={ckpt}", f"files={bad}"], {"output_dir": tmp_path})
    line = _one_line_exit(capsys, lambda: predict(cfg))
    assert str(bad) in line and "raw_waveform" in line


def test_missing_checkpoint_and_missing_file_are_one_line(tmp_path, capsys) -> None:
    cfg = compose_config(
        "predict", [f"ckpt_path={tmp_path / 'nope.ckpt'}", "files=x.h5"], {"output_dir": tmp_path}
    )
    assert "ckpt_path" in _one_line_exit(capsys, lambda: predict(cfg))
    ckpt = tmp_path / "fake.ckpt"
    ckpt.write_bytes(b"")
    cfg = compose_config(
        "predict",
        [f"ckpt_path={ckpt}", f"files={tmp_path / 'absent.hdf5'}"],
        {"output_dir": tmp_path},
    )
    assert "absent.hdf5" in _one_line_exit(capsys, lambda: predict(cfg))


def test_bad_config_value_is_one_line(compose_train_cfg, capsys) -> None:
    from psdlab.run.train import train

    cfg = compose_train_cfg("model=cnn", "model.global_pool=median")
    line = _one_line_exit(capsys, lambda: train(cfg))
    assert "global_pool" in line and "median" in line


def test_bugs_keep_their_traceback() -> None:
    def broken() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        report_user_errors(broken)


def test_entry_point_exit_status_and_debug_switch(tmp_path) -> None:
    """The real entry point: one stderr line, exit 2; PSDLAB_DEBUG=1 shows the traceback."""
    cmd = [
        sys.executable,
        str(ROOT / "eval.py"),
        f"ckpt_path={tmp_path / 'nope.ckpt'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_USER_ERROR
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"psdlab: error: ckpt_path: checkpoint file {tmp_path / 'nope.ckpt'} does not exist"
    ]
    debug = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PSDLAB_DEBUG": "1"},
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr + debug.stdout
