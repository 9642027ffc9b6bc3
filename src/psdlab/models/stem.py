"""A convolutional stem that turns a waveform window into a short sequence of feature tokens.

The sequence models (GRU, Transformer) used to see the pulse through one strided layer: a
single linear map of each 10- or 25-sample block. The quantity the A/E cut measures, the
peak of the current pulse, is a maximum of a smoothed derivative that can fall anywhere inside
such a block, so that layer has to learn it separately at every phase, and the recurrent or
attention layers above train slowly on what is left. The stem is the CNN's own conv blocks
(convolution, normalisation, activation and max pooling at full resolution first, channels-last
as in :mod:`psdlab.models.cnn`), so every token already carries the local rise features, the
max pooling keeps their peak whatever its phase, and the sequence model only has to relate
tokens: the usual "convolutional stem" of hybrid sequence models, cheap on a CPU because the
stride comes first.
"""

from __future__ import annotations

import torch
from torch import nn

from psdlab.models.cnn import conv_blocks


class ConvStem(nn.Module):
    """(B, C, L) -> (B, channels, T): ``depth`` CNN blocks without the global pooling.

    Channels-first like the other front ends (a strided ``Conv1d``, an average pool), so the
    sequence models transpose every front end's output the same way.

    Block 0 convolves with stride ``stride``; every block max-pools by ``pool_size``, so T is
    about ``L / (stride * pool_size**depth)`` (62 tokens for the default 1000-sample window).

    Args:
        in_channels, input_length: input window (C, L).
        depth: conv blocks.
        channels: channels of every block (the token dimension).
        kernel_size: conv kernel (odd).
        stride: stride of the first conv.
        pool_size: max-pooling window and stride after each block.
        norm, norm_groups, activation: as in :class:`psdlab.models.CNN`.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        depth: int = 2,
        channels: int = 32,
        kernel_size: int = 5,
        stride: int = 4,
        pool_size: int = 2,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.blocks, self.channels, self.length = conv_blocks(
            in_channels,
            input_length,
            depth,
            channels,
            1.0,
            channels,
            kernel_size,
            stride,
            "max",
            pool_size,
            norm,
            norm_groups,
            activation,
        )
        self.blocks.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return self.blocks(x).squeeze(2)  # (B, channels, T)
