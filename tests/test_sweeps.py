"""Sweeps through the real command line: a grid, an Optuna study resumed across invocations,
and ``psdlab.sweeps`` on both.

Each sweep runs ``python train.py -m ...`` in a subprocess, exactly as a user would, on the
tiny simulated dataset with a few batches per trial.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from psdlab.sweeps import main as summary_main
from psdlab.sweeps import read_optuna_study, summarize

from .conftest import tiny_data_overrides

ROOT = Path(__file__).resolve().parents[1]

# a trial of a few batches that writes no figures, predictions or exported model
FAST = [
    "model=mlp",
    "model.width=32",
    "debug=limit_batches",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "task.log_figures_every_n_epochs=0",
    "export.figures=false",
    "export.predictions=false",
    "export.model=null",
]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data cache for every sweep of this module (trials reuse it, as in real sweeps)."""
    return tmp_path_factory.mktemp("sweep_cache")


def _multirun(
    tmp_path: Path, sweep_dir: Path, dataset, cache: Path, *overrides: str
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        *tiny_data_overrides(dataset, cache),
        *FAST,
        f"paths.log_dir={tmp_path / 'outputs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]
    env = {**os.environ, "PSDLAB_ROOT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def test_grid_sweep_and_summary(tmp_path: Path, tiny_dataset, shared_cache, capsys) -> None:
    sweep = tmp_path / "grid"
    _multirun(
        tmp_path, sweep, tiny_dataset, shared_cache, "model.depth=2,3", "optimizer.lr=1e-3,3e-3"
    )

    summary = summarize(sweep)
    assert [t.name for t in summary.trials] == ["0", "1", "2", "3"]
    assert all(t.status == "done" for t in summary.trials)
    assert summary.params == ["model.depth", "optimizer.lr"]
    assert {t.overrides["model.depth"] for t in summary.trials} == {"2", "3"}
    assert summary.monitor == "val/auroc" and summary.mode == "max"
    assert summary.best is max(summary.trials, key=lambda t: t.best_val)
    assert all("test/auroc" in t.test_metrics for t in summary.trials)

    summary_main([str(sweep)])
    out = capsys.readouterr().out
    assert "best trial" in out
    with (sweep / "sweep_summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    assert (sweep / "sweep_summary.png").stat().st_size > 0


def test_optuna_sweep_resumes_in_same_sweep_dir(tmp_path: Path, tiny_dataset, shared_cache) -> None:
    sweep = tmp_path / "optuna"
    args = ("hparams_search=optuna", "hydra.sweeper.n_trials=1")
    _multirun(tmp_path, sweep, tiny_dataset, shared_cache, *args)
    first = read_optuna_study(sweep)
    assert first is not None and len(first["trials"]) == 1
    first_dirs = {t.name for t in summarize(sweep).trials}

    # an "interrupted" sweep continued: same sweep dir, the study is loaded, not replaced
    _multirun(tmp_path, sweep, tiny_dataset, shared_cache, *args)
    study = read_optuna_study(sweep)
    assert [t["number"] for t in study["trials"]] == [0, 1]
    assert all(t["state"] == "COMPLETE" for t in study["trials"])

    summary = summarize(sweep)
    assert len(summary.trials) == 2
    assert first_dirs < {t.name for t in summary.trials}  # the first trial was not overwritten
    assert all(t.status == "done" for t in summary.trials)
    assert sorted(t.optuna_number for t in summary.trials) == [0, 1]
    # the resumed invocation sampled a new point rather than replaying the first one
    assert study["trials"][0]["params"] != study["trials"][1]["params"]
    assert {"optimizer.lr", "model.depth", "model.dropout", "optimizer.weight_decay"} <= set(
        summary.params
    )
    assert (sweep / "optimization_results.yaml").is_file()
    best_value = max(t["value"] for t in study["trials"])
    assert summary.best is not None and summary.best.best_val == pytest.approx(best_value)


def test_summary_of_an_unfinished_trial(tmp_path: Path) -> None:
    """A trial killed before writing its record is reported, not skipped or fatal."""
    trial = tmp_path / "sweep" / "0" / ".hydra"
    trial.mkdir(parents=True)
    (trial / "overrides.yaml").write_text("- optimizer.lr=0.001\n")
    summary = summarize(tmp_path / "sweep", stale_after_s=0.0)
    assert [t.status for t in summary.trials] == ["incomplete"]
    assert summary.best is None
    summary = summarize(tmp_path / "sweep", stale_after_s=3600.0)
    assert [t.status for t in summary.trials] == ["running"]


@pytest.mark.slow
def test_parallel_launcher_grid(tmp_path: Path, tiny_dataset, shared_cache) -> None:
    """Two trials at once under joblib share one data cache and write separate directories."""
    sweep = tmp_path / "parallel"
    _multirun(
        tmp_path, sweep, tiny_dataset, shared_cache, "hydra/launcher=parallel", "model.depth=2,3"
    )
    summary = summarize(sweep)
    assert len(summary.trials) == 2 and all(t.status == "done" for t in summary.trials)


@pytest.mark.parametrize("module", ["psdlab.sweeps", "psdlab.sweep_summary"])
def test_summary_command_line(tmp_path: Path, module: str) -> None:
    """``python -m psdlab.sweeps DIR`` and its old name ``psdlab.sweep_summary`` (README)."""
    trial = tmp_path / "sweep" / "0" / ".hydra"
    trial.mkdir(parents=True)
    (trial / "overrides.yaml").write_text("- optimizer.lr=0.001\n")
    cmd = [sys.executable, "-m", module, str(tmp_path / "sweep"), "--no-plot"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no finished trial yet" in proc.stdout
    assert (tmp_path / "sweep" / "sweep_summary.csv").is_file()


def _hparams_of(run_dir: Path) -> tuple[dict, set[str], list]:
    """The HPARAMS session-start values, metric names and hp/* scalar events of a run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in start.session_start_info.hparams.items()
    }
    metrics = {m.name.tag for m in experiment.experiment.metric_infos}
    hp_events = [
        e for tag in acc.Tags()["scalars"] if tag.startswith("hp/") for e in acc.Scalars(tag)
    ]
    return values, metrics, hp_events


def test_grid_sweep_hparams_tab(tmp_path: Path, tiny_dataset, shared_cache) -> None:
    """What TensorBoard's HPARAMS tab shows for a 4-trial grid: the swept keys with their
    differing values among at most ~30 keys, the same keys in every trial, the hp/ metrics
    declared, and no hp/ value at step 0 (no fake curve from 0 to the final value)."""
    sweep = tmp_path / "hp_grid"
    _multirun(tmp_path, sweep, tiny_dataset, shared_cache, "model.depth=2,3", "model.dropout=0,0.2")
    trials = [_hparams_of(sweep / str(n)) for n in range(4)]
    keys = {frozenset(values) for values, _, _ in trials}
    assert len(keys) == 1 and len(next(iter(keys))) <= 30
    assert {v["model/depth"] for v, _, _ in trials} == {2.0, 3.0}
    assert {v["model/dropout"] for v, _, _ in trials} == {0.0, 0.2}
    assert {v["trial"] for v, _, _ in trials} == {0.0, 1.0, 2.0, 3.0}
    assert all(v["model"] == "mlp" and v["task/targets"] == "low_avse" for v, _, _ in trials)
    for _, metrics, hp_events in trials:
        assert {"hp/val_best", "hp/test_auroc"} <= metrics
        assert hp_events and all(e.step > 0 or e.value != 0.0 for e in hp_events)
        assert not [e for e in hp_events if e.step == 0 and e.value == 0.0]


def test_summary_flags_degenerate_trials(tmp_path: Path, capsys) -> None:
    """A "best" trial whose threshold passes nothing (F1 = 0) or whose metrics are NaN is
    flagged in the table, the CSV and a warning line."""
    import json

    rows = {
        "0": {"test/auroc": 0.9, "test/sig_eff": 0.0, "test/bkg_rej": 1.0, "test/f1": 0.0},
        "1": {"test/auroc": 0.8, "test/sig_eff": 0.9, "test/bkg_rej": 0.7, "test/f1": 0.8},
        "2": {"test/auroc": None, "test/sig_eff": 1.0, "test/bkg_rej": 0.0, "test/f1": 0.6},
    }
    for name, metrics in rows.items():
        trial = tmp_path / "sweep" / name
        (trial / ".hydra").mkdir(parents=True)
        (trial / ".hydra" / "overrides.yaml").write_text(f"- optimizer.lr={name}e-3\n")
        (trial / "metrics.json").write_text(json.dumps(metrics))
        auroc = metrics["test/auroc"] or 0.5
        record = {"finished": "now", "monitor": "val/auroc", "best_val_score": auroc}
        (trial / "run_record.json").write_text(json.dumps(record))
    summary = summary_main([str(tmp_path / "sweep"), "--no-plot"])
    warnings = {t.name: t.warnings for t in summary.trials}
    assert warnings["0"] == ["nothing passes the threshold (test/sig_eff = 0)"]
    assert warnings["1"] == []
    assert any("NaN" in w for w in warnings["2"])
    assert any("everything passes" in w for w in warnings["2"])
    out = capsys.readouterr().out
    assert "trial 0 (the best trial): nothing passes" in out
    with (tmp_path / "sweep" / "sweep_summary.csv").open() as fh:
        assert "nothing passes" in next(csv.DictReader(fh))["warnings"]
