"""Transformer encoder over waveform patches (ViT-style, 1-D).

Tokens come either from the CNN's conv stem (``stem: cnn``, the default; see
:mod:`psdlab.models.stem` for why: ~60 tokens that already carry the rise features, projected to
``width``) or from non-overlapping patches of ``patch_size`` samples (``stem: patch``, the ViT
embedding: 40 tokens at patch 25). Either way attention cost stays small on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from psdlab.models.stem import ConvStem
from psdlab.utils.errors import ConfigError


def sinusoidal_encoding(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed sine/cosine position table of "Attention is all you need", (n, dim)."""
    pos = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n_positions, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


class Transformer(nn.Module):
    """Patch embedding + positional encoding + pre-norm encoder + CLS/mean pooling.

    Args:
        in_channels, input_length: input window (C, L); L is zero-padded at the end to a
            multiple of ``patch_size`` and sets the number of positions.
        depth: encoder layers.
        width: model dimension (d_model).
        dropout: dropout in attention/MLP and after the embedding.
        heads: attention heads (must divide ``width``).
        stem: cnn (conv stem of ``stem_depth`` CNN blocks with ``stem_channels`` channels,
            then a linear projection to ``width``) | patch (linear patch embedding).
        patch_size: samples per token of the patch stem.
        mlp_ratio: feed-forward width = ``mlp_ratio * width``.
        pos_encoding: learned | sinusoidal.
        pooling: cls (a learned class token) | mean (mean over patch tokens).
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 2,
        width: int = 64,
        dropout: float = 0.1,
        heads: int = 4,
        patch_size: int = 25,
        mlp_ratio: float = 2.0,
        pos_encoding: str = "learned",
        pooling: str = "cls",
        stem: str = "patch",
        stem_depth: int = 2,
        stem_channels: int = 32,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"width ({width}) must be divisible by heads ({heads})")
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"pooling must be cls or mean, got '{pooling}'")
        self.patch_size = patch_size
        self.input_length = input_length
        if stem == "cnn":
            conv = ConvStem(in_channels, input_length, depth=stem_depth, channels=stem_channels)
            # a 1x1 conv: the per-token linear projection, on the stem's channels-first output
            self.embed: nn.Module = nn.Sequential(conv, nn.Conv1d(conv.channels, width, 1))
            self.n_patches, self.pad = conv.length, 0
        elif stem == "patch":
            self.n_patches = math.ceil(input_length / patch_size)
            self.pad = self.n_patches * patch_size - input_length
            self.embed = nn.Conv1d(in_channels, width, kernel_size=patch_size, stride=patch_size)
        else:
            raise ConfigError(f"stem must be cnn or patch, got '{stem}'")
        self.pooling = pooling
        n_pos = self.n_patches + (1 if pooling == "cls" else 0)
        if pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        if pos_encoding == "learned":
            self.pos = nn.Parameter(torch.randn(1, n_pos, width) * 0.02)
        elif pos_encoding == "sinusoidal":
            self.register_buffer("pos", sinusoidal_encoding(n_pos, width).unsqueeze(0))
        else:
            raise ConfigError(f"pos_encoding must be learned or sinusoidal, got '{pos_encoding}'")
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=heads,
            dim_feedforward=int(mlp_ratio * width),
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (0, self.pad))
        tokens = self.embed(x).transpose(1, 2)  # (B, N, D)
        if self.pooling == "cls":
            tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        h = self.encoder(self.dropout(tokens + self.pos))
        h = self.norm(h)
        return h[:, 0] if self.pooling == "cls" else h.mean(dim=1)
