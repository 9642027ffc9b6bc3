"""Small building blocks shared by the backbones (activations, normalisation, initialisation).

Kept in one place so every backbone spells ``activation: gelu`` or ``init: he`` the same way,
which is what lets one sweep syntax cover all of them.
"""

from __future__ import annotations

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


NORMS = ("batch", "group", "none")


def make_norm(kind: str, channels: int, groups: int = 8) -> nn.Module | None:
    """The normalisation layer of a conv block over (B, C, 1, L) maps, None for ``none``.

    ``group`` (GroupNorm) normalises each event on its own: no dependence on the batch's
    composition or size, no running statistics to drift between training and evaluation
    (small or class-imbalanced batches). Its group count is ``groups`` capped at the largest
    divisor of ``channels`` not above it, since GroupNorm needs groups to divide channels.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        if groups < 1:
            raise ConfigError(f"model.norm_groups must be >= 1, got {groups}")
        g = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
        return nn.GroupNorm(g, channels)
    if kind == "none":
        return None
    raise ConfigError(f"model.norm must be one of {'|'.join(NORMS)}, got '{kind}'")


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
