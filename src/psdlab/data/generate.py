"""Generate missing input files (the simulator's) once, before any cache is built.

The ``generate`` config (a Hydra ``_target_`` plus its arguments) is called only when a
train or test file is missing, and under a file lock, so parallel sweep trials or DDP ranks
generate once: the first one writes the files, the others wait and then find them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from psdlab.data.errors import DataError
from psdlab.data.reader import resolve_files

log = logging.getLogger(__name__)


def _present(train_files: Any, test_files: Any) -> bool:
    try:
        resolve_files(train_files, "train")
        resolve_files(test_files, "test")
    except DataError:
        return False
    return True


def generate_missing(
    generate: Mapping[str, Any] | None,
    train_files: Any,
    test_files: Any,
    lock_dir: str | os.PathLike,
) -> None:
    """Call the ``generate`` target when any train/test file is missing (nothing if null)."""
    if not generate or _present(train_files, test_files):
        return
    from hydra.utils import instantiate

    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(lock_dir) / "generate.lock")):
        if _present(train_files, test_files):  # another process generated them meanwhile
            return
        log.info("input files missing: generating them with %s", generate["_target_"])
        instantiate(dict(generate))
