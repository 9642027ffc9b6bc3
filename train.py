"""Train a model: ``python train.py model=cnn task=avse`` (see README.md and conf/train.yaml)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PSDLAB_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from psdlab.run.cli import report_user_errors
    from psdlab.run.train import train

    return report_user_errors(lambda: train(cfg))


if __name__ == "__main__":
    main()
