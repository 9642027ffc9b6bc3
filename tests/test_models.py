"""Backbones: the (B, C, L) -> (B, out_features) contract for every window length."""

from __future__ import annotations

import pytest
import torch

from psdlab.models import CNN, GRU, MLP, InceptionTime, ResNet1D, Transformer, mlp_hidden_sizes
from psdlab.utils.errors import ConfigError

BACKBONES = {
    "mlp": (MLP, {"depth": 2, "width": 32}),
    "cnn": (CNN, {"depth": 3, "width": 8}),
    "gru": (GRU, {"width": 8, "target_steps": 16}),
    "lstm": (GRU, {"width": 8, "cell": "lstm", "bidirectional": False, "pooling": "mean"}),
    "transformer": (Transformer, {"depth": 1, "width": 16, "heads": 2, "patch_size": 10}),
    "gru_cnn_stem": (GRU, {"width": 8, "frontend": "cnn", "frontend_channels": 8}),
    "transformer_cnn_stem": (
        Transformer,
        {"depth": 1, "width": 16, "heads": 2, "stem": "cnn", "stem_channels": 8},
    ),
    "transformer_sin_mean": (
        Transformer,
        {"depth": 1, "width": 16, "heads": 2, "pos_encoding": "sinusoidal", "pooling": "mean"},
    ),
    "resnet": (ResNet1D, {"depth": 3, "width": 8}),
    "resnet_wang_batch": (
        ResNet1D,
        {"depth": 2, "width": 8, "convs_per_block": 3, "norm": "batch", "global_pool": "avg"},
    ),
    "inception": (InceptionTime, {"depth": 2, "width": 4, "bottleneck": 4}),
    "inception_group_flat": (
        InceptionTime,
        {"depth": 2, "width": 4, "kernel_sizes": [5, 9], "norm": "group", "residual_every": 0},
    ),
}


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize(("channels", "length"), [(1, 1000), (2, 257), (1, 64)])
def test_backbone_shapes(name, channels, length):
    cls, kw = BACKBONES[name]
    net = cls(in_channels=channels, input_length=length, dropout=0.1, **kw)
    out = net(torch.randn(3, channels, length))
    assert out.shape == (3, net.out_features)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_mlp_default_is_the_lecture_fcnet():
    net = MLP(in_channels=1, input_length=1000)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (1000, 512),
        (512, 256),
        (256, 32),
    ]
    assert net.out_features == 32


def test_mlp_hidden_sizes_rule():
    assert mlp_hidden_sizes(3, 512, 32) == [512, 256, 32]
    assert mlp_hidden_sizes(1, 512, 32) == [32]
    assert mlp_hidden_sizes(5, 64, 32) == [64, 32, 32, 32, 32]
    assert mlp_hidden_sizes(3, 512, None) == [512, 256, 128]
    assert MLP(1, 10, hidden_sizes=[7, 5]).hidden_sizes == [7, 5]


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "leaky_relu"])
@pytest.mark.parametrize("init", ["he", "xavier", "default"])
def test_mlp_options(activation, init):
    net = MLP(1, 50, depth=2, width=16, batch_norm=True, activation=activation, init=init)
    assert net(torch.randn(4, 1, 50)).shape == (4, 32)


def test_cnn_options_and_errors():
    for pool in ("max", "avg", "none"):
        for gp in ("avg", "max", "avgmax"):
            net = CNN(1, 200, depth=2, width=4, pool=pool, global_pool=gp, head_width=None)
            assert net(torch.randn(2, 1, 200)).shape == (2, net.out_features)
    with pytest.raises(ValueError):
        CNN(1, 100, global_pool="median")
    with pytest.raises(ValueError):
        GRU(1, 100, cell="rnn")
    with pytest.raises(ValueError):
        Transformer(1, 100, width=10, heads=4)


def _cnn_with_1d_ops(net: CNN, x: torch.Tensor) -> torch.Tensor:
    """The CNN's forward pass written with the stock 1-D functional ops on (B, C, L)."""
    import torch.nn.functional as F

    h = x
    for layer in net.features:
        if isinstance(layer, torch.nn.Conv2d):
            h = F.conv1d(
                h,
                layer.weight.squeeze(2),
                layer.bias,
                stride=layer.stride[1],
                padding=layer.padding[1],
            )
        elif isinstance(layer, torch.nn.BatchNorm2d):
            h = F.batch_norm(
                h,
                layer.running_mean.clone(),
                layer.running_var.clone(),
                layer.weight,
                layer.bias,
                training=layer.training,
                eps=layer.eps,
            )
        elif isinstance(layer, torch.nn.MaxPool2d):
            h = F.max_pool1d(h, layer.kernel_size[1])
        elif isinstance(layer, torch.nn.AvgPool2d):
            h = F.avg_pool1d(h, layer.kernel_size[1])
        else:
            h = layer(h)
    pooled = {"avg": [h.mean(-1)], "max": [h.amax(-1)], "avgmax": [h.mean(-1), h.amax(-1)]}
    return net.head(torch.cat(pooled[net.global_pool], dim=1))


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("train", [True, False])
def test_cnn_equals_the_stock_1d_network(pool, train):
    """The channels-last 2-D layout is an implementation detail: outputs and gradients are
    those of Conv1d/BatchNorm1d/MaxPool1d on (B, C, L), for odd lengths too."""
    torch.manual_seed(0)
    net = CNN(2, 301, depth=3, width=6, pool=pool, kernel_size=5, stem_stride=2, dropout=0.0)
    net.train(train)
    x = torch.randn(5, 2, 301)
    assert next(net.features.parameters()).is_contiguous(memory_format=torch.channels_last)
    out = net(x)
    ref = _cnn_with_1d_ops(net, x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(out.square().sum(), list(net.parameters()))
    ref_grads = torch.autograd.grad(ref.square().sum(), list(net.parameters()))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_gru_downsamples_to_target_steps():
    net = GRU(1, 1000, target_steps=100)
    assert net.stride == 10
    assert GRU(1, 50, target_steps=100).stride == 1


def _step_position_problem(n: int = 64, length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1: a step at sample 40, class 0: at sample 90, both in noise."""
    y = torch.arange(n) % 2
    t = torch.arange(length)
    steps = torch.where(y[:, None] == 1, t >= 40, t >= 90).float()
    return (steps + 0.3 * torch.randn(n, length)).unsqueeze(1), y.float()


@pytest.mark.parametrize("name", ["gru_cnn_stem", "transformer_cnn_stem"])
def test_conv_stem_sequence_models_learn(name):
    """The sequence models on the conv stem train: 30 Adam steps on a step-position problem
    cut the loss by more than half."""
    torch.manual_seed(0)
    cls, kw = BACKBONES[name]
    net = cls(in_channels=1, input_length=128, dropout=0.0, **kw)
    x, y = _step_position_problem()
    head = torch.nn.Linear(net.out_features, 1)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(net(x)).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_conv_stem_token_count():
    from psdlab.models.stem import ConvStem

    stem = ConvStem(1, 1000, depth=2, channels=16)
    assert stem.length == 1000 // 4 // 2 // 2
    assert stem(torch.randn(2, 1, 1000)).shape == (2, 16, stem.length)  # channels-first
    for length in (257, 64, 9):  # the computed length is the layers' own, pooling or not
        short = ConvStem(2, length, depth=2, channels=8)
        assert short(torch.randn(1, 2, length)).shape[-1] == short.length
    assert GRU(1, 1000, frontend="cnn").stride == 17  # ceil(1000 / 62)
    with pytest.raises(ConfigError, match="stem"):
        Transformer(1, 1000, stem="lstm")


def test_models_instantiate_from_yaml():
    from pathlib import Path

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "model"
    for name in ("mlp", "cnn", "gru", "transformer", "resnet", "inception"):
        cfg = OmegaConf.load(conf / f"{name}.yaml")
        cfg.in_channels, cfg.input_length = 1, 1000
        net = instantiate(cfg)
        assert net(torch.randn(2, 1, 1000)).shape == (2, net.out_features)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_cnn_norm_shapes_and_layers(norm):
    net = CNN(2, 300, depth=3, width=12, norm=norm, norm_groups=8)
    assert net(torch.randn(3, 2, 300)).shape == (3, net.out_features)
    kinds = {type(m) for m in net.features}
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert (torch.nn.BatchNorm2d in kinds) == (norm == "batch")
    assert (torch.nn.GroupNorm in kinds) == (norm == "group")
    assert all((c.bias is not None) == (norm == "none") for c in convs)
    if norm == "group":  # 8 groups do not divide 12 channels: the largest divisor below, 6
        groups = [m.num_groups for m in net.features if isinstance(m, torch.nn.GroupNorm)]
        assert groups == [6, 8, 8]


def test_cnn_batch_norm_alias_for_old_checkpoints():
    """Saved hyperparameters from before ``norm`` pass ``batch_norm``: the same network (and
    state_dict keys) as the matching ``norm``; a contradiction is an error."""
    from hydra.utils import instantiate

    from psdlab.utils.errors import ConfigError

    old = {"_target_": "psdlab.models.CNN", "in_channels": 1, "input_length": 200}
    for flag, norm in ((True, "batch"), (False, "none")):
        legacy = instantiate({**old, "depth": 2, "batch_norm": flag})
        new = CNN(1, 200, depth=2, norm=norm)
        legacy.load_state_dict(new.state_dict())  # strict: same keys and shapes
    agreeing = CNN(1, 200, depth=2, norm="batch", batch_norm=True)
    assert isinstance(agreeing.features[1], torch.nn.BatchNorm2d)
    with pytest.raises(ConfigError, match="batch_norm"):
        CNN(1, 200, norm="group", batch_norm=True)
    with pytest.raises(ConfigError, match=r"model\.norm"):
        CNN(1, 200, norm="layer")


def test_cnn_group_norm_is_per_event_and_learns():
    """GroupNorm statistics are per event: an event's output does not depend on the rest
    of the batch (train or eval), and the variant trains on a small learnable problem."""
    torch.manual_seed(0)
    net = CNN(1, 128, depth=3, width=8, norm="group", norm_groups=4, dropout=0.0)
    x = torch.randn(16, 1, 128)
    for train in (True, False):
        net.train(train)
        torch.testing.assert_close(net(x[:3]), net(x)[:3], rtol=1e-5, atol=1e-6)
    # class 1: a step at sample 40, class 0: at sample 90, both in noise
    y = torch.arange(64) % 2
    t = torch.arange(128)
    steps = torch.where(y[:, None] == 1, t >= 40, t >= 90).float()
    data = (steps + 0.3 * torch.randn(64, 128)).unsqueeze(1)
    head = torch.nn.Linear(net.out_features, 1)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)
    net.train()
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            head(net(data)).squeeze(1), y.float()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
