"""The conv backbones rewritten with stock 1-D layers, same weights: the layout's reference.

psdlab's CNN, ResNet1D and InceptionTime run ``Conv2d``/``BatchNorm2d``/pooling with ``(1, k)``
kernels over a channels-last ``(B, C, 1, L)`` view (:mod:`psdlab.models.cnn` says why). That
is meant to be an implementation detail: :func:`to_stock_1d` writes the same network with
``Conv1d``/``BatchNorm1d``/``MaxPool1d``/``AvgPool1d`` on ``(B, C, L)``, as the lectures and
most research code do, so tests can check the two compute the same function and the
benchmarks can time what the layout gains. Not used in training.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from psdlab.models.common import PooledConvNet, global_pool


def _second(v: int | tuple[int, ...]) -> int:
    return v[1] if isinstance(v, tuple) else v


def _stock_layer(child: nn.Module) -> nn.Module | None:
    """The 1-D twin of one (1, k) 2-D layer, same weights; None for any other module."""
    if isinstance(child, nn.Conv2d):
        conv = nn.Conv1d(
            child.in_channels,
            child.out_channels,
            child.kernel_size[1],
            stride=child.stride[1],
            padding=child.padding[1],
            bias=child.bias is not None,
        )
        state = child.state_dict()
        conv.load_state_dict({k: v.squeeze(2) if v.dim() == 4 else v for k, v in state.items()})
        return conv
    if isinstance(child, nn.BatchNorm2d):
        bn = nn.BatchNorm1d(child.num_features, eps=child.eps, momentum=child.momentum)
        bn.load_state_dict(child.state_dict())
        return bn
    if isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
        cls = nn.MaxPool1d if isinstance(child, nn.MaxPool2d) else nn.AvgPool1d
        return cls(_second(child.kernel_size), _second(child.stride), _second(child.padding))
    if isinstance(child, nn.ReplicationPad2d):
        return nn.ReplicationPad1d(child.padding[:2])
    return None


def to_stock_1d(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every (1, k) 2-D layer replaced by its stock 1-D layer."""
    module = copy.deepcopy(module)
    for name, child in module.named_children():
        stock = _stock_layer(child)
        setattr(module, name, stock if stock is not None else to_stock_1d(child))
    return module


class Stock1D(nn.Module):
    """A :class:`~psdlab.models.common.PooledConvNet` run on (B, C, L) with stock 1-D layers:
    its own ``trunk``, pooling and head, on the 1-D copy of its layers."""

    def __init__(self, net: PooledConvNet) -> None:
        super().__init__()
        self.net = to_stock_1d(net)
        self.out_features = net.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        return n.head(global_pool(n.trunk(x), n.global_pool))
