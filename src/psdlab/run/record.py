"""What a run needs to be reproduced: seed, package versions, git commit, command, host.

Written beside every run's outputs, so a number in a paper can be traced back to the exact
code and environment that produced it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from psdlab.utils.io import write_json

RECORDED_PACKAGES = (
    "psdlab",
    "torch",
    "lightning",
    "hydra-core",
    "omegaconf",
    "h5py",
    "numpy",
    "torchmetrics",
    "tensorboard",
    "dspeed",
    "scipy",
    "optuna",
    "hydra-optuna-sweeper",
)


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, None where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(repo_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Commit hash and whether the working tree has uncommitted changes (None outside git)."""
    cwd = Path(repo_dir or Path(__file__).resolve().parent)

    def _git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def accelerator_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cuda_available": torch.cuda.is_available(), "devices": []}
    if torch.cuda.is_available():
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["torch_threads"] = torch.get_num_threads()
    return info


def build_run_record(seed: int | None, **extra: Any) -> dict[str, Any]:
    """The reproducibility record of a run; ``extra`` adds run-specific fields."""
    return {
        "seed": seed,
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "packages": package_versions(),
        "git": git_state(),
        "accelerator": accelerator_info(),
        **extra,
    }


def write_run_record(run_dir: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    return write_json(Path(run_dir) / "run_record.json", record)


_previous_run_end: float | None = None


def run_wall_time() -> float:
    """Seconds this run took: since the process started for its first run (imports and
    start-up included), since the previous run ended for later runs of the same process
    (a sequential Hydra multirun runs every trial in one process). Call once, at the end."""
    global _previous_run_end
    now = time.time()
    start = _previous_run_end if _previous_run_end is not None else psutil.Process().create_time()
    _previous_run_end = now
    return now - start


@contextlib.contextmanager
def recorded_run(run_dir: Path, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Write ``record`` as ``running``, then ``failed`` (with the error) if the block raises.

    A sweep summary can then tell a crashed trial from one that is still running; on success
    the caller finishes the record itself (it knows the results).
    """
    record["status"] = "running"
    write_run_record(run_dir, record)
    try:
        yield record
    except BaseException as err:
        record.update(status="failed", error=f"{type(err).__name__}: {err}")
        write_run_record(run_dir, record)
        raise
