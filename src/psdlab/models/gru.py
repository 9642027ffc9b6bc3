"""Recurrent backbone (GRU or LSTM) over a downsampled waveform.

A recurrent layer over 1000+ raw samples is slow and forgets, so a front end first shortens
the sequence. The default front end is the CNN's conv stem (:mod:`psdlab.models.stem`): the
rise features are computed at full resolution and max-pooled into ~60 steps, so the GRU relates
features instead of learning the current peak from raw 10-sample blocks; ``conv`` (one strided
layer) and ``avgpool`` shorten the raw trace to about ``target_steps`` steps instead.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from psdlab.models.common import make_activation
from psdlab.models.stem import ConvStem
from psdlab.utils.errors import ConfigError


class GRU(nn.Module):
    """Front end -> ``depth``-layer GRU/LSTM -> last hidden state or mean over time.

    Args:
        in_channels, input_length: input window (C, L); L sets the front-end stride
            ``ceil(L / target_steps)``.
        depth: recurrent layers.
        width: hidden size per direction.
        dropout: dropout between recurrent layers and on the output.
        cell: gru | lstm.
        bidirectional: run both directions (``out_features = 2 * width``).
        target_steps: approximate sequence length after the conv/avgpool front ends.
        frontend: cnn (the CNN's conv stem, ``frontend_depth`` blocks) | conv (one learned
            strided Conv1d with ``frontend_channels`` filters) | avgpool.
        frontend_channels: channels of the cnn/conv front ends.
        frontend_depth: conv blocks of the cnn front end (each halves the steps).
        norm: normalisation of the cnn front end (batch | group | none).
        pooling: last (final hidden state of each direction) | mean (mean over time).
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 1,
        width: int = 32,
        dropout: float = 0.0,
        cell: str = "gru",
        bidirectional: bool = True,
        target_steps: int = 100,
        frontend: str = "conv",
        frontend_channels: int = 16,
        pooling: str = "last",
        activation: str = "relu",
        frontend_depth: int = 2,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        stride = max(1, math.ceil(input_length / target_steps))
        self.stride = stride
        if frontend == "cnn":
            stem = ConvStem(
                in_channels,
                input_length,
                depth=frontend_depth,
                channels=frontend_channels,
                norm=norm,
                activation=activation,
            )
            self.stride = math.ceil(input_length / stem.length)
            self.frontend = stem
            n_in = stem.channels
        elif frontend == "conv":
            self.frontend: nn.Module = nn.Sequential(
                nn.Conv1d(in_channels, frontend_channels, kernel_size=stride, stride=stride),
                make_activation(activation),
            )
            n_in = frontend_channels
        elif frontend == "avgpool":
            self.frontend = nn.AvgPool1d(stride, ceil_mode=True) if stride > 1 else nn.Identity()
            n_in = in_channels
        else:
            raise ConfigError(f"frontend must be cnn, conv or avgpool, got '{frontend}'")
        rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}.get(cell.lower())
        if rnn_cls is None:
            raise ConfigError(f"cell must be gru or lstm, got '{cell}'")
        if pooling not in ("last", "mean"):
            raise ConfigError(f"pooling must be last or mean, got '{pooling}'")
        self.cell = cell.lower()
        self.pooling = pooling
        self.rnn = rnn_cls(
            n_in,
            width,
            num_layers=depth,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.out_features = width * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = self.frontend(x).transpose(1, 2)  # (B, T, C)
        out, state = self.rnn(seq)
        if self.pooling == "mean":
            h = out.mean(dim=1)
        else:
            h_n = state[0] if self.cell == "lstm" else state
            # h_n: (layers * directions, B, H); the last layer's directions are at the end
            n_dir = 2 if self.rnn.bidirectional else 1
            h = torch.cat([h_n[-n_dir + i] for i in range(n_dir)], dim=1)
        return self.dropout(h)
