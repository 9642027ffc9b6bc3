"""Residual 1-D CNN (ResNet) for waveform windows.

The residual network of Wang et al. 2017 ("Time series classification from scratch with deep
neural networks: a strong baseline") is the standard deep baseline of time-series
classification and the backbone of the MAJORANA community's PSD research code: blocks of
convolutions whose input is added back to their output, so a block only has to learn a
correction and a deeper stack still trains in a few epochs.

Wang's network runs three 3-conv blocks of 64-128 channels at the full input length; on a
~1000-sample window that is ~300x the default CNN's arithmetic. Here a strided stem (as in
psdlab's CNN) and a max pool first shrink the window 8x, and every block after the first
halves the length again while doubling the channels, so the default (3 blocks of 2 convs,
16-64 channels) costs ~1.5x a CNN training step on 2 CPU cores (docs/results.md). Layers
are channels-last 2-D convolutions with ``(1, k)`` kernels, for the speed reason given in
:mod:`psdlab.models.cnn` (1.3x faster here than the same network in stock 1-D layers).
"""

from __future__ import annotations

import torch
from torch import nn

from psdlab.models.common import (
    PooledConvNet,
    check_odd_kernel,
    conv1xk,
    make_activation,
    make_norm,
    strided_stem,
)
from psdlab.utils.errors import ConfigError


class ResidualBlock(nn.Module):
    """``n_convs`` x (conv-norm), activations between them, plus a shortcut, then activation.

    Post-activation order (Wang et al., He et al. 2016): the sum of body and shortcut is
    activated once. The shortcut is the identity when shape is kept, else a strided 1x1
    conv + norm (the cheapest projection that matches channels and length).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        n_convs: int,
        norm: str,
        groups: int,
        activation: str,
    ) -> None:
        super().__init__()
        bias = norm == "none"  # a bias before a norm is cancelled by the norm's mean
        layers: list[nn.Module] = []
        for j in range(n_convs):
            first = j == 0
            layers.append(
                conv1xk(c_in if first else c_out, c_out, kernel_size, stride if first else 1, bias)
            )
            layers.append(make_norm(norm, c_out, groups))
            if j < n_convs - 1:
                layers.append(make_activation(activation))
        self.body = nn.Sequential(*layers)
        if c_in == c_out and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                conv1xk(c_in, c_out, 1, stride, bias), make_norm(norm, c_out, groups)
            )
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _residual_blocks(
    length: int,
    depth: int,
    width: int,
    grow: float,
    max_width: int,
    kernel_size: int,
    convs_per_block: int,
    downsample: int,
    layer_opts: tuple[str, int, str],
) -> tuple[nn.Sequential, int]:
    """The residual blocks (see :class:`ResNet1D`) on a ``width``-channel input of ``length``
    steps, and their output channel count. ``layer_opts``: (norm, groups, activation)."""
    blocks: list[nn.Module] = []
    c_in = width
    for i in range(depth):
        c_out = int(min(round(width * grow**i), max_width))
        stride = downsample if i > 0 and length >= 2 * downsample else 1
        blocks.append(ResidualBlock(c_in, c_out, kernel_size, stride, convs_per_block, *layer_opts))
        length = (length - 1) // stride + 1
        c_in = c_out
    return nn.Sequential(*blocks), c_in


class ResNet1D(PooledConvNet):
    """Stem, ``depth`` residual blocks, global pooling and a one-layer head.

    Stem: Conv(stem_kernel, stride ``stem_stride``)-norm-activation-MaxPool(``stem_pool``).
    Block i: ``convs_per_block`` convs of ``kernel_size`` with ``width * grow**i`` channels
    (capped at ``max_width``); blocks i >= 1 start with stride ``downsample`` (the
    downsampling between stages; 1 disables it, and it is skipped once the window is shorter
    than ``2 * downsample``). The head is Linear(pooled, head_width)-activation, so
    ``out_features = head_width`` (or the pooled size when ``head_width`` is null/0).

    Args:
        in_channels, input_length: input window (C, L); L decides which strides still fit.
        depth: number of residual blocks.
        width: channels of the stem and of the first block.
        dropout: dropout on the pooled features and after the head layer.
        grow: channel multiplier per block.
        max_width: channel cap.
        kernel_size: kernel of the block convolutions (odd).
        convs_per_block: 2 (He et al.'s basic block) or 3 (Wang et al.'s block).
        downsample: stride of the first conv of every block after the first.
        stem_kernel, stem_stride, stem_pool: the stem conv's kernel (odd) and stride, and the
            max-pool window after it (1: none).
        global_pool: avg | max | avgmax (concatenation of both).
        head_width: units of the head layer.
        norm: group (default) | batch | none; norm_groups: GroupNorm groups (capped at a divisor of the channel
            count). GroupNorm because training and evaluation then compute the same function:
            with BatchNorm the running statistics of the nine norm layers lag behind the
            weights at short budgets (3,000 events, 1 epoch: test AUROC 0.53 against 0.94 with
            GroupNorm; 3 epochs: 0.947 against 0.981), for ~7 % more time per step.
        activation, init: as in the MLP.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 3,
        width: int = 16,
        dropout: float = 0.1,
        grow: float = 2.0,
        max_width: int = 64,
        kernel_size: int = 5,
        convs_per_block: int = 2,
        downsample: int = 2,
        stem_kernel: int = 7,
        stem_stride: int = 4,
        stem_pool: int = 2,
        global_pool: str = "avgmax",
        head_width: int | None = 32,
        norm: str = "group",
        norm_groups: int = 8,
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        super().__init__()
        check_odd_kernel("kernel_size", kernel_size)
        check_odd_kernel("stem_kernel", stem_kernel)
        if depth < 1 or convs_per_block < 1:
            raise ConfigError(
                f"depth and convs_per_block must be >= 1; got {depth}, {convs_per_block}"
            )
        if min(stem_stride, stem_pool, downsample) < 1:
            raise ConfigError("stem_stride, stem_pool and downsample must be >= 1")
        self.stem, length = strided_stem(
            in_channels,
            input_length,
            width,
            stem_kernel,
            stem_stride,
            stem_pool,
            (norm, norm_groups, activation),
        )
        self.blocks, c_in = _residual_blocks(
            length,
            depth,
            width,
            grow,
            max_width,
            kernel_size,
            convs_per_block,
            downsample,
            (norm, norm_groups, activation),
        )
        trunk = [self.stem, self.blocks]
        self.finish(c_in, global_pool, head_width, dropout, activation, init, trunk)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))
