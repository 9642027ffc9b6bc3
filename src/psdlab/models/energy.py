"""Energy-oriented backbone: a fixed trapezoidal filter plus a network on the pulse's shape.

Why this shape: the trapezoidal energy is a linear functional of the pole-zero-corrected
trace (the mean of a flat-top window minus the mean of a baseline window), so a network that
computes it exactly and only learns a *relative* correction starts at filter precision and
can only improve on it. The correction sees the trace divided by that energy, i.e. the
pulse's shape without its scale (scale-equivariant: doubling the pulse doubles the output),
which is where charge trapping (drift-time dependent loss) and ballistic deficit show.

The backbone returns ``[linear(s), mlp(s), E_trap]``: a linear projection of the shape ``s``
(so that any linear functional of the trace stays exactly representable), nonlinear features
of it, and, as the last column, the filter's energy in input units, which
:class:`psdlab.tasks.parts.energy_heads.RelativeEnergyHead` multiplies by ``gain * (1 + delta)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from psdlab.models.common import init_weights, make_activation
from psdlab.models.mlp import mlp_hidden_sizes
from psdlab.utils.errors import ConfigError


class TrapFilter(nn.Module):
    """Mean of ``top`` minus mean of ``base`` (sample windows ``[start, stop)``), no weights.

    On a baseline-subtracted, pole-zero-corrected, tp0-aligned window this is the
    trapezoidal filter with a fixed-time pickoff: e.g. with the window starting at tp0-700
    and 4x downsampling, base [15, 165) and top [236, 386) are the MJD 601/280-sample
    trapezoid read 240 samples into its flat top.
    """

    def __init__(self, input_length: int, base: Sequence[int], top: Sequence[int]) -> None:
        super().__init__()
        for name, (a, b) in (("base", base), ("top", top)):
            if not 0 <= a < b <= input_length:
                raise ConfigError(
                    f"trap {name} window [{a}, {b}) must lie inside the input of "
                    f"{input_length} samples"
                )
        w = torch.zeros(input_length)
        w[top[0] : top[1]] += 1.0 / (top[1] - top[0])
        w[base[0] : base[1]] -= 1.0 / (base[1] - base[0])
        self.register_buffer("weight", w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B,): the filter on the first channel (the charge trace)."""
        return x[:, 0, :] @ self.weight


class TrapRelativeNet(nn.Module):
    """Trapezoidal energy plus features of the scale-free pulse shape.

    Args:
        in_channels, input_length: input window (C, L), filled in by the run layer.
        trap_base, trap_top: sample windows of :class:`TrapFilter` in the input.
        depth: hidden layers of the MLP on the shape (0: linear features only).
        width: units of its first layer, halving after (depth 2, width 64: 64, 32).
        dropout: after every MLP layer.
        n_linear: linear projections of the shape in the features (0: none).
        activation, init: of the MLP layers.
        min_energy: floor of the filter energy used to divide the trace (input units):
            keeps noise-only or tiny pulses from blowing up the shape.
        pz_fit: input-sample window ``[start, stop)`` on the tail (after the secondary
            pole's 2 us have died away) whose slope re-does the pole-zero correction per
            event (null: off); see :func:`refine_pole_zero`.
        pz_tau_samples: the decay constant of the upstream pole-zero in input samples
            (72 us at 10 ns x 4 downsampling: 1800).
        pz_max_change: largest relative change of the filter's energy the refinement may
            make; beyond it (pile-up in the fit window) the event keeps the nominal one.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        trap_base: Sequence[int] = (15, 165),
        trap_top: Sequence[int] = (236, 386),
        depth: int = 2,
        width: int = 64,
        dropout: float = 0.0,
        n_linear: int = 8,
        activation: str = "gelu",
        init: str = "he",
        min_energy: float = 5.0,
        pz_fit: Sequence[int] | None = None,
        pz_tau_samples: float = 1800.0,
        pz_max_change: float = 0.02,
    ) -> None:
        super().__init__()
        self.trap = TrapFilter(input_length, trap_base, trap_top)
        if pz_fit is not None and not 0 <= pz_fit[0] < pz_fit[1] - 2 < input_length:
            raise ConfigError(f"pz_fit window {pz_fit} must lie inside {input_length} samples")
        self.pz_fit = None if pz_fit is None else (int(pz_fit[0]), int(pz_fit[1]))
        self.pz_tau_samples = float(pz_tau_samples)
        self.pz_max_change = float(pz_max_change)
        self.min_energy = float(min_energy)
        n_in = in_channels * input_length
        self.linear = nn.Linear(n_in, n_linear) if n_linear > 0 else None
        layers: list[nn.Module] = []
        for units in mlp_hidden_sizes(depth, width, None) if depth > 0 else []:
            layers += [nn.Linear(n_in, units), make_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n_in = units
        self.mlp = nn.Sequential(*layers) if layers else None
        init_weights(self, init, activation)
        mlp_out = n_in if layers else 0
        self.out_features = (n_linear if n_linear > 0 else 0) + mlp_out + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e_trap = self.trap(x)
        # the sign is kept so that a negative (noise) pulse does not flip the shape
        denom = torch.where(e_trap >= 0, 1.0, -1.0) * e_trap.abs().clamp_min(self.min_energy)
        s = x / denom[:, None, None]
        if self.pz_fit is not None:
            refined = refine_pole_zero(s, *self.pz_fit, self.pz_tau_samples)
            ratio = self.trap(refined)  # 1 before the refinement
            # a second pulse or an earlier pulse's tail in the fit window fakes a huge slope:
            # such events keep the nominal pole-zero (64-77 us moves the filter < 1 %)
            ok = (ratio - 1.0).abs() < self.pz_max_change
            ratio = torch.where(ok, ratio, 1.0)
            s = torch.where(ok[:, None, None], refined, s) / ratio[:, None, None]
            e_trap = e_trap * ratio
        s = s.flatten(1)
        feats = [f(s) for f in (self.linear, self.mlp) if f is not None]
        return torch.cat([*feats, e_trap[:, None]], dim=1)


def refine_pole_zero(s: torch.Tensor, start: int, stop: int, tau_samples: float) -> torch.Tensor:
    """Re-do the pole-zero correction of ``s`` (B, C, L) with the event's own decay constant.

    A channel's decay constant differs from the nominal one used upstream (MJD: 64-77 us
    against 72 us), so the corrected tail keeps a slope, and the trapezoid's error grows with
    the time between charge arrival and pickoff: a drift-time-dependent error that differs
    per channel, which no common correction can learn. Pole-zero with constant ``c = 1 - a``
    is ``y = x + c S`` with ``S[n] = sum_{k<n} x[k]``, and ``S`` follows from ``y`` exactly as
    ``S[n] = sum_{k<n} a^(n-1-k) y[k]`` (``a = exp(-1 / tau_samples)``, the nominal constant
    in input samples). Another constant adds ``dc * S``; ``dc`` is chosen so that the tail
    ``[start, stop)`` (after the 2 us secondary pole has died away) becomes flat. ``dc`` is
    itself a linear functional of ``s``, so the result is a product of two: that is why it
    is computed here and not left to the MLP.
    """
    y = s[:, :1]
    n = torch.arange(y.shape[-1], dtype=torch.float64, device=s.device)
    log_a = -1.0 / float(tau_samples)
    w = torch.exp(-log_a * n).to(s.dtype)  # a^-n
    acc = torch.cumsum(w * y, dim=-1) - w * y
    big_s = acc * torch.exp(log_a * (n - 1)).to(s.dtype)
    t = n[start:stop].to(s.dtype)
    tc = t - t.mean()
    slope_y = (y[..., start:stop] * tc).sum(-1, keepdim=True)
    slope_s = (big_s[..., start:stop] * tc).sum(-1, keepdim=True)
    dc = -slope_y / torch.where(slope_s.abs() > 1e-6, slope_s, 1.0)
    return torch.cat([y + dc * big_s, s[:, 1:]], dim=1)
