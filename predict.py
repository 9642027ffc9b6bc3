"""Apply a trained network to any files: ``python predict.py ckpt_path=PATH files=GLOB``
(see conf/predict.yaml); writes predictions.h5 in the run directory."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PSDLAB_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from psdlab.run.cli import report_user_errors
    from psdlab.run.predict import predict

    report_user_errors(lambda: predict(cfg))


if __name__ == "__main__":
    main()
