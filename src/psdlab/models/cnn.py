"""1-D convolutional backbone, computed as channels-last 2-D convolutions.

Early striding and pooling shrink a ~1000-sample window quickly, which is what keeps the
CPU throughput in the thousands of waveforms per second; global pooling makes the network
independent of the window length.

The layers are ``Conv2d``/``BatchNorm2d``/``MaxPool2d`` with ``(1, k)`` kernels over a
``(B, C, 1, L)`` view in channels-last memory order. That is the same function, with the same
parameter count and initialisation, as ``Conv1d``/``BatchNorm1d``/``MaxPool1d`` on
``(B, C, L)`` (``tests/test_models.py`` checks this against stock 1-D layers), but the CPU
kernels (oneDNN) vectorise across channels in that layout: a training step of the default
network is ~1.5x faster on two cores, and the 1-D max pool, the single slowest layer of
the stock version, disappears from the profile (docs/benchmarks.md). cuDNN prefers the
same layout for bf16 on a GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from psdlab.models.common import (
    NORMS,
    PooledConvNet,
    make_activation,
    make_norm,
)
from psdlab.utils.errors import ConfigError


def conv_blocks(
    in_channels: int,
    length: int,
    depth: int,
    width: int,
    grow: float,
    max_width: int,
    kernel_size: int,
    stem_stride: int,
    pool: str,
    pool_size: int,
    norm: str,
    norm_groups: int,
    activation: str,
) -> tuple[nn.Sequential, int, int]:
    """The conv blocks (see :class:`CNN`), their output channel count and output length."""
    blocks: list[nn.Module] = []
    c_in = in_channels
    for i in range(depth):
        c_out = int(min(round(width * grow**i), max_width))
        stride = stem_stride if i == 0 else 1
        conv = nn.Conv2d(
            c_in,
            c_out,
            (1, kernel_size),
            stride=(1, stride),
            padding=(0, kernel_size // 2),
            bias=norm == "none",
        )
        blocks.append(conv)
        length = (length + 2 * (kernel_size // 2) - kernel_size) // stride + 1
        if norm != "none":  # no Identity: old checkpoints' layer indices stay valid
            blocks.append(make_norm(norm, c_out, norm_groups))
        blocks.append(make_activation(activation))
        if pool != "none" and length >= 2 * pool_size:
            pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
            blocks.append(pool_cls((1, pool_size)))
            length //= pool_size
        c_in = c_out
    return nn.Sequential(*blocks), c_in, length


def resolve_norm(norm: str | None, batch_norm: bool | None) -> str:
    """``norm`` from the config, honouring the deprecated ``batch_norm`` switch.

    Checkpoints and configs from before ``norm`` existed pass ``batch_norm`` only (true:
    batch, false: none); both set and disagreeing is an error rather than a silent choice.
    """
    if batch_norm is None:
        return "batch" if norm is None else norm
    alias = "batch" if batch_norm else "none"
    if norm is not None and norm != alias:
        raise ConfigError(
            f"model.batch_norm={str(batch_norm).lower()} contradicts model.norm={norm}; "
            f"batch_norm is deprecated: set only model.norm ({'|'.join(NORMS)})"
        )
    return alias


class CNN(PooledConvNet):
    """``depth`` conv blocks, global pooling and a one-layer head.

    Block i: Conv(kernel_size, stride = ``stem_stride`` for i=0 else 1)[-norm]
    -activation[-pool(pool_size)], each acting along time only (see the module docstring
    for the channels-last layout). Channels: ``width * grow**i`` capped at
    ``max_width``. The head is Linear(channels, head_width)-activation, so ``out_features =
    head_width`` (or the channel count when ``head_width`` is null/0).

    Args:
        in_channels, input_length: input window (C, L); L only sanity-checks the shrinkage.
        depth: number of conv blocks.
        width: channels of the first block.
        dropout: dropout on the pooled features and after the head layer.
        grow: channel multiplier per block.
        max_width: channel cap.
        kernel_size: conv kernel (odd, "same" padding).
        stem_stride: stride of the first conv.
        pool: max | avg | none, applied after every block.
        pool_size: pooling window and stride.
        global_pool: avg | max | avgmax (concatenation of both).
        head_width: units of the head layer.
        norm: batch | group | none, after every conv (see ``models.common.make_norm``);
            None: batch, or what ``batch_norm`` says.
        norm_groups: GroupNorm groups (capped at a divisor of the channel count).
        batch_norm: deprecated alias of ``norm`` (true: batch, false: none), kept so that
            checkpoints saved with it still build.
        activation, init: as in the MLP.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 4,
        width: int = 16,
        dropout: float = 0.1,
        grow: float = 2.0,
        max_width: int = 64,
        kernel_size: int = 5,
        stem_stride: int = 4,
        pool: str = "max",
        pool_size: int = 2,
        global_pool: str = "avgmax",
        head_width: int | None = 32,
        norm: str | None = None,
        norm_groups: int = 8,
        batch_norm: bool | None = None,
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        super().__init__()
        if pool not in ("max", "avg", "none"):
            raise ConfigError(f"pool must be max, avg or none, got '{pool}'")
        self.features, c_in, _ = conv_blocks(
            in_channels,
            input_length,
            depth,
            width,
            grow,
            max_width,
            kernel_size,
            stem_stride,
            pool,
            pool_size,
            resolve_norm(norm, batch_norm),
            int(norm_groups),
            activation,
        )
        self.finish(c_in, global_pool, head_width, dropout, activation, init, [self.features])

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
