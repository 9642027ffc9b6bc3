"""Small building blocks shared by the backbones (activations, weight initialisation).

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
