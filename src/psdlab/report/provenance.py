"""Where a report's numbers come from: checkpoint, training run, label source, code, date.

A survival fraction pasted into a talk is worthless if nobody can say which network gave it.
The run layer writes ``run_record.json`` (command, git commit and, for ``eval.py`` and
``predict.py``, the checkpoint) into the output directory before testing, so the report
reads it there instead of needing one more argument through every entry point.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LABEL_SOURCES = {
    "cut": "cut (the files' psd_label_* datasets: the classical cuts' outputs)",
    "truth": "truth (simulated topology)",
    "lines": "lines (228Th calibration-line populations)",
}


def _record(output_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((output_dir / "run_record.json").read_text())
    except (OSError, ValueError):
        return {}


def _checkpoint(output_dir: Path, record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(checkpoint, training run): the evaluated checkpoint, or this run's own best one."""
    ckpt = record.get("checkpoint") or record.get("best_checkpoint")
    if not ckpt:
        best = output_dir / "checkpoints" / "best.ckpt"
        if not best.is_file():
            return None, None
        ckpt = str(best)
    path = Path(ckpt)
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return str(ckpt), str(run)


def provenance(output_dir: str | Path, numbers: Mapping[str, Any]) -> dict[str, Any]:
    """Checkpoint, training run, label source, files, psdlab commit, command and date."""
    output_dir = Path(output_dir)
    record = _record(output_dir)
    ckpt, run = _checkpoint(output_dir, record)
    source = numbers.get("labels")
    git = record.get("git") or {}
    commit = git.get("commit")
    if commit and git.get("dirty"):
        commit += " (with uncommitted changes)"
    return {
        "checkpoint": ckpt,
        "training_run": run,
        "label_source": LABEL_SOURCES.get(source or "cut", str(source)),
        "files": list(numbers.get("files", [])),
        "git_commit": commit,
        "command": " ".join(record.get("command", [])) or None,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
