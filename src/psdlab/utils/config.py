"""Turning Hydra/OmegaConf configs into plain Python.

Whatever a module keeps as state, or saves into a checkpoint, must be primitives, lists and
dicts: torch >= 2.6 loads checkpoints with ``weights_only=True``, which refuses OmegaConf
containers, and plain state never depends on Hydra being importable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf


def to_plain(obj: Any) -> Any:
    """Primitives, lists and dicts only (OmegaConf containers resolved, tuples to lists)."""
    if isinstance(obj, DictConfig | ListConfig):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
