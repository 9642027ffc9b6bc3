"""The quality-vs-time figure reads finished trials of sweeps: one point per tested label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from psdlab.sweeps.frontier import collect, main, parse_reference


def _trial(sweep: Path, n: int, model: str, targets: list[str], metrics: dict, wall: float) -> None:
    d = sweep / str(n)
    (d / ".hydra").mkdir(parents=True)
    task = "psd_all" if len(targets) > 1 else "avse"
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model={model}", f"task={task}"]))
    record = {"finished": "2026-11-23T00:00:00", "wall_time_s": wall, "epochs": 4}
    (d / "run_record.json").write_text(json.dumps(record))
    (d / "metrics.json").write_text(json.dumps(metrics))
    cfg = {
        "model": {"_target_": f"psdlab.models.{model}"},
        "task": {"parts": {"psd": {"targets": targets}}},
    }
    (d / "config_resolved.yaml").write_text(yaml.safe_dump(cfg))


def test_points_per_label_and_figure(tmp_path):
    sweep = tmp_path / "sweep"
    _trial(sweep, 0, "cnn", ["low_avse"], {"test/auroc": 0.97}, 120.0)
    _trial(sweep, 1, "cnn", ["low_avse"], {"test/auroc": 0.99}, 360.0)
    multi = {f"test/auroc_{k}": v for k, v in zip(["low_avse", "dcr"], [0.95, 0.9], strict=True)}
    _trial(sweep, 2, "gru", ["low_avse", "dcr"], {**multi, "test/auroc_mean": 0.925}, 600.0)
    # an unfinished trial has no point
    (sweep / "3" / ".hydra").mkdir(parents=True)
    points = collect([sweep])
    got = sorted((p.model, p.label, p.multi_label, round(p.minutes, 2), p.auroc) for p in points)
    assert got == [
        ("cnn", "low_avse", False, 2.0, 0.97),
        ("cnn", "low_avse", False, 6.0, 0.99),
        ("gru", "dcr", True, 10.0, 0.9),
        ("gru", "low_avse", True, 10.0, 0.95),
    ]
    out = tmp_path / "frontier.png"
    main([str(sweep), "--out", str(out), "--point", "peer:12.5:0.965"])
    assert out.stat().st_size > 1000
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("model,label")


def test_reference_point_syntax():
    ref = parse_reference("MAJORANA_ACP:12.5:0.965:dcr")
    assert (ref.model, ref.minutes, ref.auroc, ref.label) == ("MAJORANA_ACP", 12.5, 0.965, "dcr")
    assert parse_reference("x:1:0.5").label == "low_avse"
    with pytest.raises(ValueError, match="NAME:MINUTES:AUROC"):
        parse_reference("x:1")
