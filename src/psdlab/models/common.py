"""Small building blocks shared by the backbones (activations, weight initialisation, the
channels-last conv/norm layers, global pooling and the pooled-feature head).

Kept in one place so every backbone spells ``activation: gelu``, ``init: he`` or
``norm: group`` the same way, which is what lets one sweep syntax cover all of them.

The convolutional backbones compute 1-D convolutions as 2-D ones with ``(1, k)`` kernels
over a ``(B, C, 1, L)`` channels-last view (:mod:`psdlab.models.cnn` says why: oneDNN
vectorises that layout, ~1.5x faster on a CPU); :func:`conv1xk` and :func:`make_norm`
build those layers so every such backbone gets the layout right.
"""

from __future__ import annotations

import torch
from torch import nn

from psdlab.utils.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its config name (an error lists the known names)."""
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ConfigError(
            f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}"
        ) from None


def init_weights(module: nn.Module, scheme: str, activation: str = "relu") -> None:
    """Initialise Linear/Conv weights of ``module`` in place.

    ``he`` (Kaiming normal, fan-in) suits ReLU-like activations, ``xavier`` (Glorot uniform)
    suits tanh/linear ones, ``default`` keeps PyTorch's own initialisation. Biases are zeroed
    for ``he``/``xavier`` so the two schemes differ only in the weights.
    """
    scheme = scheme.lower()
    if scheme == "default":
        return
    if scheme not in ("he", "kaiming", "xavier", "glorot"):
        raise ConfigError(f"unknown init '{scheme}'; choose he, xavier or default")
    nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if scheme in ("he", "kaiming"):
                nn.init.kaiming_normal_(m.weight, nonlinearity=nonlinearity)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


NORMS = ("batch", "group", "none")
GLOBAL_POOLS = ("avg", "max", "avgmax")


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a one-line :class:`ConfigError` naming ``key`` unless ``value`` is a choice."""
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got '{value}'")


def check_odd_kernel(key: str, kernel_size: int) -> None:
    """Odd kernels only: "same" padding ``k // 2`` keeps the length (and a strided conv
    matches its 1x1 shortcut) exactly when ``k`` is odd."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"{key} must be odd and >= 1 (for same padding); got {kernel_size}")


def conv1xk(
    c_in: int, c_out: int, kernel_size: int, stride: int = 1, bias: bool = True
) -> nn.Conv2d:
    """A 1-D convolution along time as ``Conv2d`` with a ``(1, k)`` kernel and "same" padding
    (for odd ``k``), for the ``(B, C, 1, L)`` channels-last layout."""
    return nn.Conv2d(
        c_in,
        c_out,
        (1, kernel_size),
        stride=(1, stride),
        padding=(0, kernel_size // 2),
        bias=bias,
    )


def make_norm(kind: str, channels: int, groups: int = 8) -> nn.Module:
    """Normalisation over the channels of a ``(B, C, 1, L)`` map: ``batch`` | ``group`` | ``none``.

    ``group`` (GroupNorm) normalises each waveform on its own, so it does not depend on the
    batch and training and evaluation compute the same function: the choice for small
    batches, for batches whose composition differs between training and inference, and for
    short budgets, where BatchNorm's running statistics have not yet settled. Its group count
    is ``groups`` capped at the largest divisor of ``channels`` not above it, since GroupNorm
    needs groups to divide channels (a sweep over ``model.width`` never hits an indivisible
    channel count). ``none`` is an ``Identity`` (callers that must keep old state_dict
    indices leave it out of their ``Sequential``).
    """
    check_choice("model.norm", kind, NORMS)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        if groups < 1:
            raise ConfigError(f"model.norm_groups must be >= 1, got {groups}")
        g = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
        return nn.GroupNorm(g, channels)
    return nn.Identity()


def strided_stem(
    in_channels: int,
    length: int,
    width: int,
    kernel_size: int,
    stride: int,
    pool: int,
    layer_opts: tuple[str, int, str],
) -> tuple[nn.Sequential, int]:
    """Strided conv-norm-activation[-max pool] on (B, C, 1, L); returns (stem, output length).

    The stem does the cheap early shrinking, as the default CNN's first block does: what
    follows runs on a window ``stride * pool`` times shorter. The pool is skipped when the
    window is too short for it. ``layer_opts``: (norm, groups, activation).
    """
    norm, groups, activation = layer_opts
    layers: list[nn.Module] = [
        conv1xk(in_channels, width, kernel_size, stride, bias=norm == "none"),
        make_norm(norm, width, groups),
        make_activation(activation),
    ]
    length = (length - 1) // stride + 1
    if pool > 1 and length >= 2 * pool:
        layers.append(nn.MaxPool2d((1, pool)))
        length //= pool
    return nn.Sequential(*layers), length


def global_pool(h: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool (B, C, L) over time: avg | max | avgmax (both, concatenated: 2C features).

    The maximum says whether a feature fired anywhere in the window, however briefly (a second
    current peak of a multi-site event); the mean says how much of the window it covers.
    """
    if mode == "avg":
        return h.mean(dim=-1)
    if mode == "max":
        return h.amax(dim=-1)
    return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)


def pooled_head(
    n_pool: int, head_width: int | None, dropout: float, activation: str
) -> tuple[nn.Sequential, int]:
    """Dropout [+ Linear-activation-dropout] on the pooled features; returns (head, out size).

    Dropout acts on the pooled features and the head only: dropout on the long early feature
    maps costs ~40% of the CPU training throughput.
    """
    head: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    if not head_width:
        return nn.Sequential(*head), n_pool
    head += [nn.Linear(n_pool, head_width), make_activation(activation)]
    if dropout > 0:
        head.append(nn.Dropout(dropout))
    return nn.Sequential(*head), head_width


class PooledConvNet(nn.Module):
    """Base of the convolutional backbones (CNN, ResNet1D, InceptionTime): a trunk of
    channels-last ``(1, k)`` layers over ``(B, C, 1, L)``, global pooling over time, and the
    pooled-feature head. A subclass builds its trunk modules, then calls :meth:`finish` and
    implements :meth:`trunk`; the layout handling, pooling, head and initialisation are then
    the same for all three, so a fix to one of them reaches every conv backbone.
    """

    global_pool: str

    def finish(
        self,
        channels: int,
        global_pool_mode: str,
        head_width: int | None,
        dropout: float,
        activation: str,
        init: str,
        trunk_modules: list[nn.Module],
    ) -> None:
        """Pooling (``global_pool_mode`` checked here, for every subclass) and head on
        ``channels`` trunk outputs; weights initialised and the trunk moved to channels-last
        memory (a channels-last input meeting contiguous weights runs
        the slow path)."""
        check_choice("global_pool", global_pool_mode, GLOBAL_POOLS)
        self.global_pool = global_pool_mode
        n_pool = channels * (2 if global_pool_mode == "avgmax" else 1)
        self.head, self.out_features = pooled_head(n_pool, head_width, dropout, activation)
        init_weights(self, init, activation)
        for module in trunk_modules:
            module.to(memory_format=torch.channels_last)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, L) channels-last -> (B, C', 1, L')."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        h = self.trunk(x).squeeze(2)
        return self.head(global_pool(h, self.global_pool))
