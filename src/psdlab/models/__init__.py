"""Backbones mapping a waveform window (B, C, L) to features (B, out_features).

Every backbone is built as ``Backbone(in_channels, input_length, depth, width, dropout, ...)``
and exposes ``out_features``; the task adds the output layer.
"""

from psdlab.models.cnn import CNN
from psdlab.models.gru import GRU
from psdlab.models.inception import InceptionTime
from psdlab.models.mlp import MLP, mlp_hidden_sizes
from psdlab.models.resnet import ResNet1D
from psdlab.models.transformer import Transformer

RNN = GRU  # alias: the class handles both GRU and LSTM cells

__all__ = [
    "CNN",
    "GRU",
    "MLP",
    "RNN",
    "InceptionTime",
    "ResNet1D",
    "Transformer",
    "mlp_hidden_sizes",
]
