"""One table for a whole sweep: ``python -m psdlab.sweep_summary SWEEP_DIR``.

A sweep (grid or Optuna, finished, still running or interrupted) is a directory of trial
directories, each an ordinary run directory. Comparing trials should not need TensorBoard or
the sweeper's own bookkeeping, so the summary reads only what every run writes itself:

* ``<trial>/.hydra/overrides.yaml``: the trial's overrides; the swept parameters are the keys
  whose values differ between trials (plus the Optuna search space and the sweep's comma lists);
* ``<trial>/run_record.json``: monitored metric, best validation value, epochs, wall time, and
  whether the run finished;
* ``<trial>/metrics.json``: test metrics of the best checkpoint;
* ``<trial>/config_resolved.yaml``: ``task.monitor_mode`` (max for AUROC, min for MAE);
* ``<sweep>/optuna.db`` (when present): trial states of the Optuna study, so a trial Optuna
  recorded as failed shows as failed.

It prints the table with rich, writes ``sweep_summary.csv`` (atomically) and, unless told
not to, ``sweep_summary.png`` (the monitored metric against each swept parameter) into the
sweep directory, and names the best trial.

This module also holds :func:`sqlite_storage`, the Optuna storage factory of
``conf/hparams_search/optuna.yaml``: the sweeper opens its study before the launcher creates
the sweep directory, and SQLite cannot create a database in a missing directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from psdlab.utils.io import atomic_path

STUDY_FILE = "optuna.db"
CSV_FILE = "sweep_summary.csv"
PLOT_FILE = "sweep_summary.png"

# keys of overrides that configure where a trial runs, never what it is
_NOT_PARAMS = ("hydra.", "paths.", "data.train_files", "data.test_files", "data.cache_dir")


def sqlite_storage(sweep_dir: str) -> Any:
    """Optuna storage in ``<sweep_dir>/optuna.db``, creating the sweep directory first.

    Keeping the study next to its trials means that re-running the sweep with the same
    ``hydra.sweep.dir`` resumes it (the sweeper loads an existing study).
    """
    import optuna

    root = Path(sweep_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{root / STUDY_FILE}")


@dataclass
class Trial:
    """One trial directory of a sweep, as far as its files tell."""

    name: str
    path: Path
    overrides: dict[str, str]
    status: str
    monitor: str | None = None
    mode: str | None = None
    best_val: float | None = None
    epochs: int | None = None
    wall_time_s: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    optuna_number: int | None = None


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
            row["path"] = str(t.path)
            rows.append(row)
        return rows


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_overrides(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def find_trial_dirs(sweep_dir: Path) -> list[Path]:
    """Trial directories (those with ``.hydra/overrides.yaml``) up to two levels down."""
    found = {
        p.parent.parent
        for pattern in ("*/.hydra/overrides.yaml", "*/*/.hydra/overrides.yaml")
        for p in sweep_dir.glob(pattern)
    }
    found.discard(sweep_dir)

    def key(p: Path) -> tuple:
        parts = p.relative_to(sweep_dir).parts
        return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in parts)

    return sorted(found, key=key)


def _mode_of(trial_dir: Path, monitor: str | None) -> str | None:
    for name in ("config_resolved.yaml", ".hydra/config.yaml"):
        cfg = _read_yaml(trial_dir / name)
        mode = (cfg or {}).get("task", {}).get("monitor_mode") if isinstance(cfg, dict) else None
        if mode in ("min", "max"):
            return mode
    if monitor:
        lowered = monitor.lower()
        if any(s in lowered for s in ("loss", "mae", "mse", "rmse", "fwhm", "bias", "error")):
            return "min"
        return "max"
    return None


def _latest_mtime(path: Path) -> float:
    latest = path.stat().st_mtime
    for p in path.rglob("*"):
        try:
            latest = max(latest, p.stat().st_mtime)
        except OSError:
            continue
    return latest


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def read_trial(trial_dir: Path, sweep_dir: Path, stale_after_s: float) -> Trial:
    """Everything a trial directory says about the trial, with a status.

    done: the run record says it finished; failed: the run record has an error; running:
    files changed within ``stale_after_s``; incomplete: neither (killed, or failed in a way
    that left no record; the Optuna study, when there is one, refines this later).
    """
    overrides = _parse_overrides(_read_yaml(trial_dir / ".hydra" / "overrides.yaml"))
    record = _read_json(trial_dir / "run_record.json")
    metrics = _read_json(trial_dir / "metrics.json")
    monitor = record.get("monitor")
    if record.get("finished"):
        status = "done"
    elif record.get("status") == "failed" or record.get("error"):
        status = "failed"
    elif time.time() - _latest_mtime(trial_dir) < stale_after_s:
        status = "running"
    else:
        status = "incomplete"
    test = {k: v for k, v in ((k, _float(v)) for k, v in metrics.items()) if v is not None}
    epochs = record.get("epochs")
    return Trial(
        name=str(trial_dir.relative_to(sweep_dir)),
        path=trial_dir,
        overrides=overrides,
        status=status,
        monitor=monitor,
        mode=_mode_of(trial_dir, monitor),
        best_val=_float(record.get("best_val_score")),
        epochs=int(epochs) if epochs is not None else None,
        wall_time_s=_float(record.get("wall_time_s")),
        test_metrics=test,
    )


def _sweep_axes(sweep_dir: Path) -> list[str]:
    """Parameters the sweep was asked to vary: comma lists and the Optuna search space."""
    multirun = _read_yaml(sweep_dir / "multirun.yaml")
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


def read_optuna_study(sweep_dir: Path) -> dict[str, Any] | None:
    """Trials (number, state, params, value) of the study in ``<sweep_dir>/optuna.db``."""
    db = sweep_dir / STUDY_FILE
    if not db.is_file():
        return None
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = f"sqlite:///{db.resolve()}"
        summaries = optuna.get_all_study_summaries(storage)
        if not summaries:
            return None
        study = optuna.load_study(study_name=summaries[0].study_name, storage=storage)
        trials = [
            {
                "number": t.number,
                "state": t.state.name,
                "params": dict(t.params),
                "value": t.value if t.values and len(t.values) == 1 else None,
            }
            for t in study.get_trials(deepcopy=False)
        ]
    except Exception as err:  # a locked or half-written database must not stop the summary
        return {"error": f"{type(err).__name__}: {err}", "trials": []}
    return {"study_name": summaries[0].study_name, "trials": trials}


def _same_value(a: Any, b: str | None) -> bool:
    if b is None:
        return False
    if str(a) == b:
        return True
    fa, fb = _float(a), _float(b)
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


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "*" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    number = _float(value) if isinstance(value, str) and "." in value else None
    return f"{number:.4g}" if number is not None else str(value)


def print_summary(summary: SweepSummary, console: Any = None) -> None:
    """The trial table (best trial highlighted) and one line naming the best trial."""
    from rich.console import Console
    from rich.table import Table

    # a sweep table is wide: never squeeze it below 160 columns when writing to a file or pipe
    console = console or Console(width=None if Console().is_terminal else 200)
    rows = summary.rows()
    monitor = summary.monitor or "val"
    test_name = monitor.replace("val/", "test/", 1)
    columns = ["trial", "status", *summary.params, f"best {monitor}", "epochs", "wall_time_s"]
    if any(test_name in r for r in rows):
        columns.append(test_name)
    title = f"{summary.sweep_dir}: {len(rows)} trials, {monitor} ({summary.mode})"
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in ("trial", "status") else "right")
    styles = {"failed": "red", "running": "yellow", "incomplete": "dim"}
    for row in rows:
        style = "bold green" if row["best"] else styles.get(row["status"])
        table.add_row(*(_fmt(row.get(c)) for c in columns), style=style)
    console.print(table)
    if summary.best is not None:
        b = summary.best
        params = " ".join(f"{p}={b.overrides.get(p)}" for p in summary.params)
        console.print(f"best trial: {b.name} ({monitor} = {b.best_val:.5g}) {params}")
        console.print(f"  {b.path}")
    else:
        console.print("no finished trial yet")


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


def write_plot(summary: SweepSummary, path: str | Path | None = None) -> Path | None:
    """The monitored metric against each swept parameter, as a PNG (None: nothing to plot)."""
    from psdlab.plots.sweep import sweep_figure

    fig = sweep_figure(summary)
    if fig is None:
        return None
    target = Path(path) if path else summary.sweep_dir / PLOT_FILE
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return target


def main(argv: list[str] | None = None) -> SweepSummary:
    """Command line: print the table, write the CSV and the plot into the sweep directory."""
    parser = argparse.ArgumentParser(
        prog="python -m psdlab.sweep_summary",
        description="Summarise the trials of a Hydra sweep (grid or Optuna).",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep directory (hydra.sweep.dir)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument(
        "--stale-minutes",
        type=float,
        default=10.0,
        help="an unfinished trial whose files changed within this time counts as running",
    )
    args = parser.parse_args(argv)
    summary = summarize(args.sweep_dir, stale_after_s=60.0 * args.stale_minutes)
    print_summary(summary)
    csv_path = write_csv(summary)
    print(f"wrote {csv_path}")
    if not args.no_plot:
        png = write_plot(summary)
        if png:
            print(f"wrote {png}")
    return summary


if __name__ == "__main__":
    main()
