"""End-to-end: train.py's pipeline on tiny simulated data, then eval.py on its checkpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from psdlab.run.train import train

RUN_FILES = ("config_resolved.yaml", "run_record.json", "metrics.json", "predictions.h5")


def _tensorboard_events(run_dir: Path) -> list[Path]:
    return list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("model", ["mlp", "cnn", "gru", "transformer", "resnet", "inception"])
def test_train_each_model_end_to_end(compose_train_cfg, tmp_path: Path, model: str) -> None:
    run_dir = tmp_path / f"run_{model}"
    cfg = compose_train_cfg(f"model={model}", "debug=limit_batches", run_dir=run_dir)
    score = train(cfg)

    assert score is not None and 0.0 <= score <= 1.0
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert _tensorboard_events(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/auroc"] <= 1.0
    record = json.loads((run_dir / "run_record.json").read_text())
    assert record["seed"] == cfg.seed
    assert record["packages"]["torch"] == torch.__version__.split("+")[0] or record["packages"][
        "torch"
    ].startswith(torch.__version__.split("+")[0])
    assert "commit" in record["git"]
    assert record["best_val_score"] == pytest.approx(score)


def test_fast_dev_run_writes_metrics_without_checkpoint(compose_train_cfg, tmp_path) -> None:
    run_dir = tmp_path / "fdr"
    cfg = compose_train_cfg("model=mlp", "debug=fast_dev_run", run_dir=run_dir)
    train(cfg)
    assert (run_dir / "metrics.json").is_file()
    assert not (run_dir / "checkpoints" / "best.ckpt").exists()


def test_overfit_one_batch_drives_loss_down(compose_train_cfg, tmp_path) -> None:
    run_dir = tmp_path / "overfit"
    cfg = compose_train_cfg(
        "model=mlp",
        "debug=overfit",
        "trainer.max_epochs=40",
        "optimizer.lr=3e-3",
        "test=false",
        "model.dropout=0.0",
        run_dir=run_dir,
    )
    train(cfg)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    tag = next(t for t in acc.Tags()["scalars"] if t.startswith("train/loss"))
    losses = [e.value for e in acc.Scalars(tag)]
    assert losses[-1] < 0.25 * losses[0]


def test_resume_from_last_checkpoint(compose_train_cfg, tmp_path, caplog) -> None:
    run_dir = tmp_path / "resume"
    cfg = compose_train_cfg("model=mlp", "debug=limit_batches", "test=false", run_dir=run_dir)
    train(cfg)
    last = run_dir / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=False)
    first_steps, first_best = first["global_step"], first["psdlab_val_best"]
    steps_per_epoch = first_steps // 2  # debug=limit_batches runs two epochs

    cfg = compose_train_cfg(
        "model=mlp",
        "debug=limit_batches",
        "trainer.max_epochs=3",
        "ckpt_path=last",
        "test=false",
        run_dir=run_dir,
    )
    with caplog.at_level(logging.INFO):
        train(cfg)
    assert "Restored all states from the checkpoint" in caplog.text
    # continued where it stopped: one more epoch, not three from scratch
    resumed = torch.load(last, weights_only=False)
    assert resumed["global_step"] == first_steps + steps_per_epoch
    # hp/val_best continues over the restart: never below the best of the first two epochs
    assert resumed["psdlab_val_best"] >= first_best


def test_resume_without_checkpoint_is_a_clear_error(compose_train_cfg, tmp_path) -> None:
    cfg = compose_train_cfg("ckpt_path=last", run_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"last\.ckpt"):
        train(cfg)


def test_energy_task_end_to_end(compose_train_cfg, tmp_path) -> None:
    run_dir = tmp_path / "energy"
    cfg = compose_train_cfg("model=cnn", "task=energy", "debug=limit_batches", run_dir=run_dir)
    train(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test/mae"] > 0


def test_hparams_tab_holds_swept_settings(compose_train_cfg, tmp_path) -> None:
    """Every axis a sweep varies (not only the task's own arguments) is in the HPARAMS tab."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_dir = tmp_path / "hp"
    cfg = compose_train_cfg(
        "model=mlp", "debug=limit_batches", "data.batch_size=32", "test=false", run_dir=run_dir
    )
    train(cfg)
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["data/batch_size"].number_value == 32
    assert hparams["preprocess/window/length"].number_value == 1000
    assert hparams["model"].string_value == "mlp"
    assert len(hparams) <= 30
    assert "optimizer/lr" in hparams
    assert "hp/val_best" in acc.Tags()["scalars"]


def test_failed_run_leaves_a_failed_record(compose_train_cfg, tmp_path) -> None:
    run_dir = tmp_path / "failed"
    missing = tmp_path / "MJD_Train_missing.hdf5"
    cfg = compose_train_cfg(f"data.train_files={missing}", run_dir=run_dir)
    with pytest.raises(Exception, match="MJD_Train_missing"):
        train(cfg)
    record = json.loads((run_dir / "run_record.json").read_text())
    assert record["status"] == "failed"
    assert "MJD_Train_missing" in record["error"]


def test_train_with_report_writes_it_and_logs_it_to_tensorboard(compose_train_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "report"
    train(compose_train_cfg("model=mlp", "debug=limit_batches", "report=true", run_dir=run_dir))
    assert (run_dir / "report.html").is_file()
    report = json.loads((run_dir / "report.json").read_text())
    assert report
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    assert any(tag.startswith("report/") for tag in acc.Tags()["images"])


def test_run_wall_time_counts_each_run_of_a_multirun_once(monkeypatch):
    """The first run of a process is timed from the process start (imports included), a later
    run of the same process (sequential multirun) from the end of the previous one."""
    import time

    from psdlab.run import record

    monkeypatch.setattr(record, "_previous_run_end", None)
    first = record.run_wall_time()
    assert first > 0.05  # this test process started well before: imports, collection
    time.sleep(0.05)
    second = record.run_wall_time()
    assert 0.04 < second < first
