"""ResNet1D and InceptionTime: options, the channels-last layout, learning, config composition.

Shapes for every window length and the YAML defaults are covered with the other backbones in
tests/test_models.py; here what is specific to the two residual backbones.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hydra.core.global_hydra import GlobalHydra
from torch import nn

from psdlab.models import InceptionTime, ResNet1D
from psdlab.models.common import make_norm
from psdlab.models.stock import Stock1D
from psdlab.utils.errors import ConfigError

from .conftest import compose_config

TINY = {
    "resnet": (ResNet1D, {"depth": 2, "width": 8, "head_width": 16}),
    "resnet_batch": (ResNet1D, {"depth": 2, "width": 8, "norm": "batch"}),
    "inception": (InceptionTime, {"depth": 2, "width": 4, "bottleneck": 4, "kernel_sizes": [3, 7]}),
}


@pytest.mark.parametrize(
    ("cls", "kw", "key"),
    [
        (ResNet1D, {"global_pool": "median"}, "global_pool"),
        (ResNet1D, {"norm": "layer"}, "norm"),
        (ResNet1D, {"kernel_size": 4}, "kernel_size"),
        (ResNet1D, {"stem_kernel": 0}, "stem_kernel"),
        (ResNet1D, {"depth": 0}, "depth"),
        (ResNet1D, {"downsample": 0}, "downsample"),
        (ResNet1D, {"norm": "group", "norm_groups": 0}, "norm_groups"),
        (ResNet1D, {"activation": "swish"}, "activation"),
        (InceptionTime, {"kernel_sizes": [9, 20]}, "kernel_sizes"),
        (InceptionTime, {"kernel_sizes": []}, "kernel_sizes"),
        (InceptionTime, {"norm": "instance"}, "norm"),
        (InceptionTime, {"global_pool": "sum"}, "global_pool"),
        (InceptionTime, {"residual_every": -1}, "residual_every"),
        (InceptionTime, {"init": "orthogonal"}, "init"),
    ],
)
def test_bad_options_raise_one_line_config_errors(cls, kw, key):
    with pytest.raises(ConfigError) as err:
        cls(1, 200, **kw)
    message = str(err.value)
    assert "\n" not in message
    assert key.split("_")[0] in message


def test_make_norm_kinds_and_group_count():
    assert isinstance(make_norm("batch", 16), nn.BatchNorm2d)
    assert isinstance(make_norm("none", 16), nn.Identity)
    gn = make_norm("group", 12, groups=8)  # 8 does not divide 12: the largest divisor below, 6
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 6


@pytest.mark.parametrize("name", ["resnet_batch", "inception"])
def test_group_norm_variant_is_per_waveform(name):
    """GroupNorm replaces every BatchNorm, and in training mode a waveform's output no longer
    depends on the rest of the batch (the point of the option)."""
    cls, kw = TINY[name]
    torch.manual_seed(0)
    net = cls(2, 300, dropout=0.0, **{**kw, "norm": "group", "norm_groups": 4}).train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in net.modules())
    x = torch.randn(6, 2, 300)
    full = net(x)
    torch.testing.assert_close(net(x[:2]), full[:2], rtol=1e-5, atol=1e-5)
    full.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_norm_none_uses_conv_biases():
    net = ResNet1D(1, 200, depth=2, width=8, norm="none")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert net(torch.randn(2, 1, 200)).shape == (2, net.out_features)


def test_resnet_structure_follows_the_options():
    net = ResNet1D(1, 1000, depth=4, width=8, grow=2.0, max_width=32, convs_per_block=3)
    blocks = list(net.blocks)
    assert [b.body[0].out_channels for b in blocks] == [8, 16, 32, 32]
    assert [b.body[0].stride[1] for b in blocks] == [1, 2, 2, 2]
    assert isinstance(blocks[0].shortcut, nn.Identity)  # same width, no stride
    assert all(isinstance(b.shortcut[0], nn.Conv2d) for b in blocks[1:])
    assert sum(isinstance(m, nn.Conv2d) for m in blocks[0].body) == 3


def test_inception_residual_groups():
    net = InceptionTime(1, 400, depth=4, width=4, kernel_sizes=[3, 5, 9], residual_every=3)
    assert [len(g.body) for g in net.blocks] == [3, 1]  # a shortcut every 3, the rest last
    first, second = net.blocks
    assert isinstance(first.shortcut[0], nn.Conv2d)  # stem (4 channels) -> module (16)
    assert isinstance(second.shortcut, nn.Identity)
    assert first.body[0].out_channels == net.blocks[1].body[0].out_channels == 16
    assert net.out_features == 32  # head_width
    pooled = InceptionTime(1, 400, depth=1, width=4, kernel_sizes=[3, 5], head_width=None)
    assert pooled.out_features == 4 * 3  # (kernels + pool branch) x width, average-pooled
    plain = InceptionTime(1, 400, depth=2, width=4, residual_every=0)
    assert not any(hasattr(g, "shortcut") for g in plain.blocks)


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("train", [True, False])
def test_equals_the_stock_1d_network(name, train):
    """The channels-last 2-D layout is an implementation detail: the same network written
    with Conv1d/BatchNorm1d/MaxPool1d gives the same outputs, for an odd length too."""
    cls, kw = TINY[name]
    torch.manual_seed(0)
    net = cls(2, 301, dropout=0.0, **kw).train(train)
    stock = Stock1D(net).train(train)
    x = torch.randn(5, 2, 301)
    ref = stock(x)
    assert not any(isinstance(m, nn.Conv2d | nn.BatchNorm2d) for m in stock.modules())
    torch.testing.assert_close(net(x), ref, rtol=1e-5, atol=1e-5)
    assert F.mse_loss(net(x), ref) < 1e-10


def _rule_data(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with a short bump (label 1) or a long, equally tall one (label 0) somewhere."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.5).float()
    t = torch.arange(length, dtype=torch.float32)
    centre = 40 + (length - 80) * torch.rand(n, 1, generator=g)
    width = torch.where(y.bool(), 3.0, 15.0).unsqueeze(1)
    x = torch.exp(-0.5 * ((t - centre) / width) ** 2) + 0.1 * torch.randn(n, length, generator=g)
    return x.unsqueeze(1), y.unsqueeze(1)


@pytest.mark.parametrize("name", list(TINY))
def test_a_few_steps_learn_a_rule(name):
    cls, kw = TINY[name]
    torch.manual_seed(0)
    net = cls(1, 256, dropout=0.0, **kw)
    model = nn.Sequential(net, nn.Linear(net.out_features, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = _rule_data(128, 256, seed=1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize(("model", "norm"), [("resnet", "batch"), ("inception", "group")])
def test_train_config_composes_and_builds(tmp_path, model, norm):
    """``python train.py model=<name>`` composes, an override reaches the class, and the run
    layer's build gives a task whose backbone takes the data's (C, L)."""
    from psdlab.run.build import build_task

    paths = {"output_dir": tmp_path / "run", "data_dir": tmp_path / "data"}
    try:
        cfg = compose_config("train", [f"model={model}", "task=avse", f"model.norm={norm}"], paths)
    finally:
        GlobalHydra.instance().clear()
    assert cfg.model.in_channels is None and cfg.model.norm == norm
    task = build_task(cfg, SimpleNamespace(input_shape=(2, 1000)))
    assert isinstance(task.net, TINY[model][0])
    norm_cls = {"batch": nn.BatchNorm2d, "group": nn.GroupNorm}[norm]
    assert any(isinstance(m, norm_cls) for m in task.net.modules())
    assert task.net(torch.randn(3, 2, 1000)).shape == (3, task.net.out_features)
