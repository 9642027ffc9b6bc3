"""eval.py on a checkpoint produced by train.py: same metrics on the same files, other files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psdlab.run.evaluate import evaluate

from .conftest import compose_config


def _compose_eval(tmp_path: Path, *overrides: str):
    return compose_config("eval", list(overrides), {"output_dir": tmp_path / "eval"})


def test_eval_reproduces_test_metrics(trained_run: Path, tmp_path: Path) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    # the tiny test file fits in one evaluation batch, so the training run's limited test
    # (two batches) saw the same events
    metrics = evaluate(_compose_eval(tmp_path, f"ckpt_path={ckpt}"))
    train_metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test/auroc"] == pytest.approx(train_metrics["test/auroc"], abs=1e-6)
    out = tmp_path / "eval"
    assert json.loads((out / "metrics.json").read_text())["test/auroc"] == pytest.approx(
        metrics["test/auroc"]
    )
    assert any((out / "figures").glob("*.png"))
    assert (out / "predictions.h5").is_file()


def test_eval_on_other_files(trained_run: Path, tmp_path: Path, tiny_dataset) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    other = tiny_dataset["train"][0]
    metrics = evaluate(_compose_eval(tmp_path, f"ckpt_path={ckpt}", f"data.test_files={other}"))
    assert 0.0 <= metrics["test/auroc"] <= 1.0


def test_eval_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        evaluate(_compose_eval(tmp_path, f"ckpt_path={missing}"))
