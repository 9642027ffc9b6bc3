"""Building a backbone from its plain config dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import hydra.utils
from torch import nn

from psdlab.utils.config import to_plain
from psdlab.utils.errors import ConfigError


def build_backbone(net: Mapping[str, Any], input_shape: Sequence[int] | None = None) -> nn.Module:
    """Instantiate a backbone config dict; ``input_shape`` (C, L) fills in_channels/input_length."""
    cfg = dict(to_plain(net))
    if input_shape is not None:
        cfg["in_channels"], cfg["input_length"] = int(input_shape[0]), int(input_shape[-1])
    missing = [k for k in ("_target_", "in_channels", "input_length") if cfg.get(k) is None]
    if missing:
        raise ConfigError(
            f"backbone config lacks {missing}: pass net with in_channels/input_length filled "
            "in (the run layer does this from datamodule.input_shape) or give input_shape=[C, L]"
        )
    model = hydra.utils.instantiate(cfg, _convert_="all")
    if not hasattr(model, "out_features"):
        raise TypeError(f"backbone {cfg['_target_']} has no attribute out_features")
    return model
