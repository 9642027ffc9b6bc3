"""Fully connected backbone: the lecture's FCNet (1000-512-256-32) generalised.

The waveform window (C, L) is flattened, so the network is tied to the ``input_length`` it
was built with. Hidden widths are derived from ``depth``/``width``/``last_width`` so that a
sweep can vary plain keys (``model.depth=4 model.width=1024``) instead of a list.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from psdlab.models.common import init_weights, make_activation
from psdlab.utils.errors import ConfigError


def mlp_hidden_sizes(depth: int, width: int, last_width: int | None) -> list[int]:
    """Hidden widths of the MLP.

    The first ``depth - 1`` layers halve from ``width`` (width, width/2, width/4, ...; never
    below ``last_width``); the last layer has ``last_width`` units (``None``: it continues
    the halving). depth=3, width=512, last_width=32 gives the lecture's 512, 256, 32.
    """
    if depth < 1:
        raise ConfigError(f"MLP depth must be >= 1, got {depth}")
    floor = last_width or 1
    sizes = [max(width // 2**i, floor) for i in range(depth - 1)]
    sizes.append(last_width if last_width is not None else max(width // 2 ** (depth - 1), 1))
    return sizes


class MLP(nn.Module):
    """Flatten (B, C, L) and apply Linear[-BatchNorm]-activation[-Dropout] blocks.

    Args:
        in_channels: C of the input window.
        input_length: L of the input window (fixed: the first layer has C*L inputs).
        depth: number of hidden layers (ignored when ``hidden_sizes`` is given).
        width: units of the first hidden layer.
        dropout: dropout probability after every hidden layer.
        last_width: units of the last hidden layer (= ``out_features``).
        hidden_sizes: explicit widths, overriding depth/width/last_width.
        batch_norm: BatchNorm1d after each Linear.
        activation: relu | gelu | silu | leaky_relu | tanh | elu.
        init: he | xavier | default.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 3,
        width: int = 512,
        dropout: float = 0.0,
        last_width: int | None = 32,
        hidden_sizes: Sequence[int] | None = None,
        batch_norm: bool = False,
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        super().__init__()
        sizes = (
            list(hidden_sizes)
            if hidden_sizes is not None
            else mlp_hidden_sizes(depth, width, last_width)
        )
        self.hidden_sizes = sizes
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = in_channels * input_length
        for n_out in sizes:
            layers.append(nn.Linear(n_in, n_out, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n_in = n_out
        self.layers = nn.Sequential(*layers)
        self.out_features = n_in
        init_weights(self, init, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
