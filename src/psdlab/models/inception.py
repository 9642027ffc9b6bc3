"""InceptionTime-style backbone (Fawaz et al. 2020, "InceptionTime: finding AlexNet for time
series classification").

An Inception module looks at the same stretch of waveform with several kernel lengths at
once: a short kernel resolves the sharp current peak of a single-site event, a long one the
whole rise and a second, delayed rise of a multi-site event, and the network learns how to
weigh them instead of the user picking one ``kernel_size``. A 1x1 bottleneck before the long
kernels keeps that affordable, and a residual shortcut around every few modules lets the
stack train quickly.

Fawaz's six modules run at the full input length with kernels of 10/20/40 samples and 32
channels per branch: on a ~1000-sample window that is ~50x the default CNN's cost. Here a
strided stem and a max pool first shrink the window 8x (as psdlab's CNN does by its second
block), the kernels are odd and counted in those downsampled steps (the default 5/9/19 span
40/72/152 raw samples, 0.4-1.5 us at 10 ns: Fawaz's 10/20/40 at 4x, and the range of HPGe
rise times), and the default is one residual group of three modules with 12 channels per
branch: a training step then costs ~3x the default CNN's on 2 CPU cores (docs/results.md).
On a CPU the cost of these modules is mostly per-operation (small-channel convolution
backward passes, norms and activations over the concatenation), so halving the channels
saves less than dropping a module. Layers are channels-last 2-D convolutions with ``(1, k)``
kernels, for the speed reason given in :mod:`psdlab.models.cnn` (1.45x faster here than the
same network in stock 1-D layers).
"""

from __future__ import annotations

from collections.abc import Sequence

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


class InceptionModule(nn.Module):
    """Bottleneck 1x1 conv, then parallel convs of ``kernel_sizes`` and a max-pool + 1x1 branch;
    concatenated (``width`` channels per branch), norm, activation.

    The max-pool branch passes on the strongest response within three steps, a nonlinear
    summary the (linear) convolutions cannot form. Unlike Fawaz's module it pools the
    bottleneck's output rather than the module input: a CPU max pool writes an int64 index
    per output element for its backward pass, and on the 4x wider module input the pools took
    about an eighth of a training step (torch.profiler).
    """

    def __init__(
        self,
        c_in: int,
        width: int,
        bottleneck: int,
        kernel_sizes: Sequence[int],
        norm: str,
        groups: int,
        activation: str,
    ) -> None:
        super().__init__()
        bias = norm == "none"
        if bottleneck and c_in > 1:
            self.bottleneck: nn.Module = conv1xk(c_in, bottleneck, 1, bias=False)
            c_b = bottleneck
        else:
            self.bottleneck, c_b = nn.Identity(), c_in
        self.branches = nn.ModuleList(conv1xk(c_b, width, k, bias=bias) for k in kernel_sizes)
        # edge padding instead of the pool's own (-inf) padding: the same maximum, and the
        # ONNX reference runtime mis-evaluates padded MaxPool
        self.pool_branch = nn.Sequential(
            nn.ReplicationPad2d((1, 1, 0, 0)),
            nn.MaxPool2d((1, 3), stride=1),
            conv1xk(c_b, width, 1, bias=bias),
        )
        self.out_channels = width * (len(kernel_sizes) + 1)
        self.norm = make_norm(norm, self.out_channels, groups)
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        h = torch.cat([branch(z) for branch in self.branches] + [self.pool_branch(z)], dim=1)
        return self.act(self.norm(h))


class InceptionGroup(nn.Module):
    """Inception modules with one residual shortcut around them all (Fawaz: every 3).

    The shortcut is the identity when the channel count is kept (every group after the
    first), else a 1x1 conv + norm (Fawaz's shortcut).
    """

    def __init__(
        self, modules: Sequence[InceptionModule], c_in: int, norm: str, groups: int, activation: str
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(*modules)
        c_out = modules[-1].out_channels
        if c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                conv1xk(c_in, c_out, 1, bias=norm == "none"), make_norm(norm, c_out, groups)
            )
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _residual_groups(
    c_in: int,
    depth: int,
    width: int,
    bottleneck: int,
    kernel_sizes: Sequence[int],
    residual_every: int,
    norm: str,
    groups: int,
    activation: str,
) -> nn.Sequential:
    """``depth`` modules in groups of ``residual_every`` with a shortcut each (0: no
    shortcuts, one plain stack)."""
    modules, c = [], c_in
    for _ in range(depth):
        modules.append(
            InceptionModule(c, width, bottleneck, kernel_sizes, norm, groups, activation)
        )
        c = modules[-1].out_channels
    if not residual_every:
        return nn.Sequential(*modules)
    out: list[nn.Module] = []
    for i in range(0, depth, residual_every):
        group = modules[i : i + residual_every]
        out.append(InceptionGroup(group, c_in if i == 0 else c, norm, groups, activation))
    return nn.Sequential(*out)


class InceptionTime(PooledConvNet):
    """Strided stem, ``depth`` Inception modules in residual groups, global pooling, head.

    Stem: Conv(stem_kernel, stride ``stem_stride``)-norm-activation-MaxPool(``stem_pool``)
    with ``width`` channels (one as wide as a module's output measured ~7 % slower per step,
    for features the first bottleneck squeezes back to ``bottleneck`` channels anyway). Modules keep the length (as in InceptionTime) and output
    ``width * (len(kernel_sizes) + 1)`` channels; a shortcut spans every ``residual_every``
    modules (the last group may be shorter; 0 disables the shortcuts). The head is
    Linear(pooled, head_width)-activation, so ``out_features = head_width`` (or the pooled
    size when ``head_width`` is null/0).

    Args:
        in_channels, input_length: input window (C, L); L decides whether the stem pool fits.
        depth: number of Inception modules (Fawaz: 6).
        width: channels of the stem and of each branch (Fawaz's nb_filters: 32).
        dropout: dropout on the pooled features and after the head layer.
        kernel_sizes: odd kernels of the parallel convs, in steps after the stem.
        bottleneck: channels of the 1x1 bottleneck (null/0: none).
        residual_every: modules per residual shortcut.
        stem_kernel, stem_stride, stem_pool: the stem conv's kernel (odd) and stride, and the
            max-pool window after it (1: none).
        global_pool: avg (Fawaz's) | max | avgmax.
        head_width: units of the head layer.
        norm: batch | group | none; norm_groups: GroupNorm groups (capped at a divisor of the
            channel count).
        activation, init: as in the MLP.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 3,
        width: int = 12,
        dropout: float = 0.1,
        kernel_sizes: Sequence[int] = (5, 9, 19),
        bottleneck: int | None = 12,
        residual_every: int = 3,
        stem_kernel: int = 7,
        stem_stride: int = 4,
        stem_pool: int = 2,
        global_pool: str = "avg",
        head_width: int | None = 32,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        super().__init__()
        kernel_sizes = [int(k) for k in kernel_sizes]
        if depth < 1 or not kernel_sizes or residual_every < 0 or min(stem_stride, stem_pool) < 1:
            raise ConfigError(
                "need depth >= 1, non-empty kernel_sizes, residual_every >= 0, "
                "stem_stride and stem_pool >= 1"
            )
        for k in [*kernel_sizes, stem_kernel]:
            check_odd_kernel("kernel_sizes/stem_kernel", k)
        self.stem, _ = strided_stem(
            in_channels,
            input_length,
            width,
            stem_kernel,
            stem_stride,
            stem_pool,
            (norm, norm_groups, activation),
        )
        self.blocks = _residual_groups(
            width,
            depth,
            width,
            bottleneck or 0,
            kernel_sizes,
            residual_every,
            norm,
            norm_groups,
            activation,
        )
        c = width * (len(kernel_sizes) + 1)
        trunk = [self.stem, self.blocks]
        self.finish(c, global_pool, head_width, dropout, activation, init, trunk)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))
