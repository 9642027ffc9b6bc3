"""Every config option composes, and the parts it describes instantiate.

Catches a renamed key, a typo in a _target_ or a preset that no longer matches the code
without training anything: models get a (C, L) shape, tasks a stub data module, data modules
are built without touching any file.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from psdlab.run.build import build_task, instantiate_callbacks, instantiate_loggers

from .conftest import compose_config

CONF = Path(__file__).resolve().parents[1] / "conf"


def _options(group: str) -> list[str]:
    """Selectable options of a group (files starting with "_" are shared bases)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


MODELS, TASKS, DATA = _options("model"), _options("task"), _options("data")
OTHER_GROUPS = [
    "trainer",
    "callbacks",
    "logger",
    "optimizer",
    "scheduler",
    "preprocess",
    "debug",
    "experiment",
    "hparams_search",
    "hydra/launcher",
]
SWEPT_KEYS = [
    "optimizer.lr",
    "model.depth",
    "model.width",
    "model.dropout",
    "optimizer.weight_decay",
    "data.batch_size",
    "preprocess.window.length",
    "preprocess.normalize",
]


@pytest.fixture
def compose_cfg(tmp_path: Path):
    """Compose train.yaml with the Hydra node set, as inside a run writing to ``tmp_path``."""

    def _compose(*overrides: str) -> DictConfig:
        paths = {"output_dir": tmp_path / "run", "data_dir": tmp_path / "data"}
        return compose_config("train", list(overrides), paths, keep_hydra=True)

    yield _compose
    GlobalHydra.instance().clear()


def test_every_group_has_options() -> None:
    assert {"mlp", "cnn", "gru", "transformer", "resnet", "inception"} <= set(MODELS)
    assert {"avse", "energy", "psd_all", "multitask"} <= set(TASKS)
    assert {"simulated", "mjd"} <= set(DATA)
    assert {"cpu", "gpu", "ddp", "ddp_sim"} <= set(_options("trainer"))
    assert {"optuna"} <= set(_options("hparams_search"))
    assert {"parallel", "slurm"} <= set(_options("hydra/launcher"))
    expected = {"lecture_mlp_avse", "lecture_energy", "cnn_psd_all", "transformer_avse"}
    assert expected <= set(_options("experiment"))


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", MODELS)
def test_model_task_data_instantiate(compose_cfg, model: str, task: str, data: str) -> None:
    cfg = compose_cfg(f"model={model}", f"task={task}", f"data={data}")
    shape = (2, 400)
    net_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    net_cfg.update(in_channels=shape[0], input_length=shape[1])
    net = instantiate(net_cfg)
    assert net(torch.zeros(3, *shape)).shape == (3, net.out_features)

    module = build_task(cfg, SimpleNamespace(input_shape=shape))
    assert module.hparams is not None

    datamodule = instantiate(cfg.data, _recursive_=False, _convert_="all")
    assert datamodule.batch_size == cfg.data.batch_size


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in OTHER_GROUPS for o in _options(g)])
def test_every_option_composes(compose_cfg, group: str, option: str) -> None:
    cfg = compose_cfg(f"{group}={option}")
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    resolved = OmegaConf.to_container(body, resolve=True)
    assert resolved["optimized_metric"] == cfg.task.monitor
    if group == "optimizer":
        instantiate(cfg.optimizer, params=[torch.nn.Parameter(torch.zeros(2))])
    if group == "callbacks":
        instantiate_callbacks(cfg.callbacks)
    if group == "logger":
        assert instantiate_loggers(cfg.logger)
    if group == "trainer" and option in ("default", "cpu"):
        instantiate(cfg.trainer, logger=False, enable_progress_bar=False)


@pytest.mark.parametrize("model", MODELS)
def test_swept_axes_are_plain_keys(compose_cfg, model: str) -> None:
    cfg = compose_cfg(f"model={model}")
    for key in SWEPT_KEYS:
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
        assert isinstance(value, int | float | str), (key, value)


@pytest.mark.parametrize(("task", "direction"), [("avse", "maximize"), ("energy", "minimize")])
def test_optuna_direction_follows_task(compose_cfg, task: str, direction: str) -> None:
    cfg = compose_cfg("hparams_search=optuna", f"task={task}")
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == direction
    assert sweeper.storage._target_ == "psdlab.sweeps.sqlite_storage"
    assert sweeper.max_failure_rate > 0
    assert sweeper.n_jobs == 1  # one trial at a time under the basic launcher
    assert set(sweeper.params) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "model.depth",
        "model.dropout",
    }


def test_parallel_launcher_shares_cores(compose_cfg) -> None:
    cfg = compose_cfg("hydra/launcher=parallel", "hparams_search=optuna")
    assert cfg.hydra.launcher.n_jobs == 2 and cfg.hydra.sweeper.n_jobs == 2
    assert cfg.torch_threads == 1
    assert cfg.data.num_workers == 0


def test_slurm_launcher_one_task_per_device(compose_cfg) -> None:
    cfg = compose_cfg("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4
    assert launcher.nodes == 1 and launcher.timeout_min > 0


def test_lecture_presets_match_the_tutorial(compose_cfg) -> None:
    cfg = compose_cfg("experiment=lecture_mlp_avse")
    assert cfg.preprocess.window.mode == "fixed"
    assert (cfg.preprocess.window.start, cfg.preprocess.window.length) == (500, 1000)
    assert cfg.preprocess.normalize == "minmax"
    assert cfg.task.parts.psd.loss == "bce" and cfg.task.parts.psd.targets == ["low_avse"]
    assert cfg.data.val_fraction == 0.3
    assert cfg.optimizer._target_ == "torch.optim.Adam"
    module = build_task(cfg, SimpleNamespace(input_shape=(1, 1000)))
    sizes = [m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [512, 256, 32, 1]

    cfg = compose_cfg("experiment=lecture_energy")
    assert list(cfg.task.parts) == ["energy"] and cfg.task.parts.energy.loss == "l1"
    assert cfg.task.monitor_mode == "min"
    assert cfg.preprocess.normalize == "none"  # keep the amplitude: it is the energy
    module = build_task(cfg, SimpleNamespace(input_shape=(1, 1000)))
    sizes = [m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [512, 256, 32, 1]


@pytest.mark.parametrize("task", ["energy", "multitask"])
def test_energy_tasks_keep_the_pulse_amplitude(compose_cfg, task: str) -> None:
    """Min-max normalisation divides out the energy: energy tasks switch preprocessing."""
    assert compose_cfg(f"task={task}").preprocess.normalize == "none"
    assert compose_cfg("task=avse").preprocess.normalize == "minmax"
    # an explicit choice on the command line still wins
    assert compose_cfg(f"task={task}", "preprocess=lecture").preprocess.window.mode == "fixed"


@pytest.mark.parametrize("task", ["dcr", "psd_all"])
def test_dcr_tasks_read_the_tail_window_unless_told_otherwise(compose_cfg, task: str) -> None:
    """The DCR cut is a tail-slope measurement: task=dcr and psd_all bring the 30-us tail
    window, a preprocess option on the command line still wins, the other tasks keep theirs."""
    dcr = compose_cfg(f"task={task}")
    assert (dcr.preprocess.window.length, dcr.preprocess.downsample) == (2700, 3)
    assert compose_cfg(f"task={task}", "preprocess=default").preprocess.window.length == 1000
    assert compose_cfg("task=avse").preprocess.window.length == 1000
