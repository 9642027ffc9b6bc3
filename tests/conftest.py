"""Shared fixtures: a tiny simulated dataset and Hydra configs that train on it in seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# Short traces keep the suite fast: 1300 samples with the rising edge near sample 400, so
# the default tp0-aligned window (tp0-200 .. tp0+800) still fits.
TINY_TRACE_LENGTH = 1300
TINY_TP0 = 400.0


def compose_config(
    name: str, overrides: list[str], paths: dict[str, Path], keep_hydra: bool = False
) -> DictConfig:
    """Compose ``conf/<name>.yaml`` as its entry point would, with ``paths.*`` redirected.

    The Hydra node is registered (``${hydra:...}`` resolves) and dropped from the returned
    config unless ``keep_hydra``, as under ``@hydra.main``.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        for key, value in paths.items():
            cfg.paths[key] = str(value)
        if not keep_hydra:
            del cfg.hydra
    return cfg


def tiny_simulator_config():
    from psdlab.simulate import SimulatorConfig

    return SimulatorConfig(trace_length=TINY_TRACE_LENGTH, tp0_mean=TINY_TP0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two small training files and one test file in the MJD layout, with truth."""
    from psdlab.simulate import generate_dataset

    out = tmp_path_factory.mktemp("sim")
    return generate_dataset(
        out,
        n_train_files=2,
        n_test_files=1,
        events_per_file=300,
        seed=3,
        config=tiny_simulator_config(),
        progress=False,
    )


def tiny_data_overrides(dataset: dict[str, list[Path]], cache_dir: Path) -> list[str]:
    """Overrides that point the default data config at the tiny dataset."""
    train = ",".join(str(p) for p in dataset["train"])
    return [
        f"data.train_files=[{train}]",
        f"data.test_files=[{dataset['test'][0]}]",
        "data.generate=null",
        f"data.cache_dir={cache_dir}",
        f"data.schema.trace_length={TINY_TRACE_LENGTH}",
        "data.batch_size=64",
        "data.energy_range=null",
        "preprocess.baseline.stop=300",
    ]


@pytest.fixture
def compose_train_cfg(
    tiny_dataset: dict[str, list[Path]], tmp_path: Path
) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml as ``python train.py`` would, writing into ``tmp_path``."""

    def _compose(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_config(
            "train",
            [*tiny_data_overrides(tiny_dataset, tmp_path / "cache"), *overrides],
            {
                "output_dir": run_dir or tmp_path / "run",
                "log_dir": tmp_path / "outputs",
                "data_dir": tmp_path / "data",
            },
        )

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def trained_run(compose_train_cfg, tmp_path: Path) -> Path:
    """A run directory of a few training steps of the MLP on the tiny dataset."""
    from psdlab.run.train import train

    run_dir = tmp_path / "run"
    train(compose_train_cfg("model=mlp", "debug=limit_batches", run_dir=run_dir))
    return run_dir
