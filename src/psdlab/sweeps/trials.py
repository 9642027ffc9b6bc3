"""What one trial directory of a sweep says about its trial.

A trial is an ordinary run directory, so everything is read from the files every run writes
(``.hydra/overrides.yaml``, ``run_record.json``, ``metrics.json``, ``config_resolved.yaml``):
comparing trials then needs neither TensorBoard nor the sweeper's own bookkeeping, and a
trial killed half way still shows up (as incomplete) instead of vanishing.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# words of monitored metrics that are minimised, for trials whose config gives no monitor_mode
_LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse", "fwhm", "bias", "error")


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
    warnings: list[str] = field(default_factory=list)


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (overrides and records hold strings, NaN, None)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def read_yaml(path: Path) -> Any:
    """The YAML file's content, or None when missing or unreadable (a trial still running)."""
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
        cfg = read_yaml(trial_dir / name)
        mode = (cfg or {}).get("task", {}).get("monitor_mode") if isinstance(cfg, dict) else None
        if mode in ("min", "max"):
            return mode
    if monitor:
        lowered = monitor.lower()
        return "min" if any(s in lowered for s in _LOWER_IS_BETTER) else "max"
    return None


def _latest_mtime(path: Path) -> float:
    latest = path.stat().st_mtime
    for p in path.rglob("*"):
        try:
            latest = max(latest, p.stat().st_mtime)
        except OSError:
            continue
    return latest


def degenerate(metrics: dict[str, Any]) -> list[str]:
    """What makes a trial's test metrics meaningless: NaN values, or a score threshold that
    passes nothing or everything (precision, F1 and efficiency then say nothing)."""
    warnings = []
    nan = sorted(k for k, v in metrics.items() if finite_float(v) is None)
    if nan:
        warnings.append(f"NaN metrics: {', '.join(nan)}")
    for suffix in ("", *sorted({k.split("sig_eff", 1)[1] for k in metrics if "sig_eff_" in k})):
        sig, rej = metrics.get(f"test/sig_eff{suffix}"), metrics.get(f"test/bkg_rej{suffix}")
        if finite_float(sig) == 0.0:
            warnings.append(f"nothing passes the threshold (test/sig_eff{suffix} = 0)")
        elif finite_float(sig) == 1.0 and finite_float(rej) == 0.0:
            warnings.append(f"everything passes the threshold (test/bkg_rej{suffix} = 0)")
    return warnings


def _status(trial_dir: Path, record: dict[str, Any], stale_after_s: float) -> str:
    if record.get("finished"):
        return "done"
    if record.get("status") == "failed" or record.get("error"):
        return "failed"
    if time.time() - _latest_mtime(trial_dir) < stale_after_s:
        return "running"
    return "incomplete"


def read_trial(trial_dir: Path, sweep_dir: Path, stale_after_s: float) -> Trial:
    """Everything a trial directory says about the trial, with a status.

    done: the run record says it finished; failed: the run record has an error; running:
    files changed within ``stale_after_s``; incomplete: neither (killed, or failed in a way
    that left no record; the Optuna study, when there is one, refines this later).
    """
    overrides = _parse_overrides(read_yaml(trial_dir / ".hydra" / "overrides.yaml"))
    record = _read_json(trial_dir / "run_record.json")
    metrics = _read_json(trial_dir / "metrics.json")
    monitor = record.get("monitor")
    test = {k: v for k, v in ((k, finite_float(v)) for k, v in metrics.items()) if v is not None}
    epochs = record.get("epochs")
    return Trial(
        name=str(trial_dir.relative_to(sweep_dir)),
        path=trial_dir,
        overrides=overrides,
        status=_status(trial_dir, record, stale_after_s),
        monitor=monitor,
        mode=_mode_of(trial_dir, monitor),
        best_val=finite_float(record.get("best_val_score")),
        epochs=int(epochs) if epochs is not None else None,
        wall_time_s=finite_float(record.get("wall_time_s")),
        test_metrics=test,
        warnings=degenerate(metrics),
    )
