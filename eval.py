"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [report=true]`` (see conf/eval.yaml)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PSDLAB_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from psdlab.run.cli import report_user_errors
    from psdlab.run.evaluate import evaluate

    report_user_errors(lambda: evaluate(cfg))


if __name__ == "__main__":
    main()
