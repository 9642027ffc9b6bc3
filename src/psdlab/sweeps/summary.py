"""One table for a whole sweep: every trial, the swept parameters and the best finished trial.

A sweep (grid or Optuna, finished, still running or interrupted) is a directory of trial
directories (:mod:`psdlab.sweeps.trials`). The swept parameters are the override keys whose
values differ between trials, plus the axes the sweep was asked to vary (the comma lists and
the Optuna search space), so an axis on which every trial so far drew the same value still
shows. When the sweep has an Optuna study, a trial Optuna recorded as failed shows as failed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psdlab.sweeps.storage import read_optuna_study
from psdlab.sweeps.trials import Trial, find_trial_dirs, finite_float, read_trial, read_yaml
from psdlab.utils.io import atomic_path

CSV_FILE = "sweep_summary.csv"

# keys of overrides that configure where a trial runs, never what it is
_NOT_PARAMS = ("hydra.", "paths.", "data.train_files", "data.test_files", "data.cache_dir")


@dataclass
class SweepSummary:
    """All trials of a sweep, the swept parameters and the best finished trial."""

    sweep_dir: Path
    trials: list[Trial]
    params: list[str]
    monitor: str | None
    mode: str
    best: Trial | None
    optuna: dict[str, Any] | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per trial (the CSV rows): parameters, status, metrics."""
        test_keys = sorted({k for t in self.trials for k in t.test_metrics})
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"trial": t.name, "status": t.status}
            if any(x.optuna_number is not None for x in self.trials):
                row["optuna_trial"] = t.optuna_number
            row.update({p: t.overrides.get(p) for p in self.params})
            row[f"best {self.monitor or 'val'}"] = t.best_val
            row["epochs"] = t.epochs
            row["wall_time_s"] = t.wall_time_s
            row.update({k: t.test_metrics.get(k) for k in test_keys})
            row["best"] = t is self.best
            row["warnings"] = "; ".join(t.warnings)
            row["path"] = str(t.path)
            rows.append(row)
        return rows


def _sweep_axes(sweep_dir: Path) -> list[str]:
    """Parameters the sweep was asked to vary: comma lists and the Optuna search space."""
    multirun = read_yaml(sweep_dir / "multirun.yaml")
    if not isinstance(multirun, dict):
        return []
    hydra_cfg = multirun.get("hydra") or {}
    axes: list[str] = []
    for item in (hydra_cfg.get("overrides") or {}).get("task") or []:
        key, _, value = str(item).partition("=")
        if ("," in value and not value.startswith(("[", "{"))) or value.startswith(
            ("range(", "interval(", "choice(", "tag(")
        ):
            axes.append(key.lstrip("+~"))
    sweeper = hydra_cfg.get("sweeper") or {}
    axes.extend(str(k) for k in (sweeper.get("params") or {}))
    return [a for a in dict.fromkeys(axes) if not a.startswith(_NOT_PARAMS)]


def _swept_params(sweep_dir: Path, trials: list[Trial], extra: list[str]) -> list[str]:
    keys = list(dict.fromkeys(k for t in trials for k in t.overrides))
    varying = [
        k
        for k in keys
        if len({t.overrides.get(k) for t in trials}) > 1 and not k.startswith(_NOT_PARAMS)
    ]
    axes = _sweep_axes(sweep_dir)
    return list(dict.fromkeys([*axes, *extra, *varying]))


def _same_value(a: Any, b: str | None) -> bool:
    if b is None:
        return False
    if str(a) == b:
        return True
    fa, fb = finite_float(a), finite_float(b)
    return fa is not None and fb is not None and math.isclose(fa, fb, rel_tol=1e-9)


def _attach_optuna(trials: list[Trial], study: dict[str, Any]) -> None:
    """Match trial directories to study trials by their parameters, and take the state."""
    unmatched = list(study.get("trials", []))
    for trial in trials:
        for st in unmatched:
            params = st["params"]
            if params and all(_same_value(v, trial.overrides.get(k)) for k, v in params.items()):
                trial.optuna_number = st["number"]
                if st["state"] == "FAIL" and trial.status != "done":
                    trial.status = "failed"
                elif st["state"] == "RUNNING" and trial.status == "incomplete":
                    trial.status = "incomplete"
                unmatched.remove(st)
                break


def summarize(sweep_dir: str | Path, stale_after_s: float = 600.0) -> SweepSummary:
    """Read every trial of the sweep in ``sweep_dir`` and pick the best finished one."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory {root} does not exist")
    trials = [read_trial(d, root, stale_after_s) for d in find_trial_dirs(root)]
    study = read_optuna_study(root)
    if study:
        _attach_optuna(trials, study)
    monitor = next((t.monitor for t in trials if t.monitor), None)
    mode = next((t.mode for t in trials if t.mode), None) or "max"
    scored = [t for t in trials if t.status == "done" and t.best_val is not None]
    best = None
    if scored:
        best = (max if mode == "max" else min)(scored, key=lambda t: t.best_val)
    # the Optuna search space (the Optuna sweeper writes no multirun.yaml to read it from)
    study_params = [k for st in (study or {}).get("trials", []) for k in st["params"]]
    params = _swept_params(root, trials, list(dict.fromkeys(study_params)))
    return SweepSummary(root, trials, params, monitor, mode, best, study)


def write_csv(summary: SweepSummary, path: str | Path | None = None) -> Path:
    """All rows as CSV (atomically: a summary read while a sweep runs is never half written)."""
    rows = summary.rows()
    target = Path(path) if path else summary.sweep_dir / CSV_FILE
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["trial", "status"]
    with atomic_path(target) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return target
