"""Pre-training on each pulse's own classical parameters (data.dsp_targets, DSPTargetPart)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from psdlab.data import WaveformDataModule
from psdlab.data import dsp_targets as dsp_module
from psdlab.data.dsp_targets import TargetScaling
from psdlab.data.errors import DataError
from psdlab.data.schema import DataSchema
from psdlab.report.classical import read_parameters
from psdlab.tasks import Task
from psdlab.tasks.parts import DSPTargetPart
from psdlab.utils.errors import ConfigError
from tests._synthetic import quiet_trainer, write_file

SHAPE = (1, 200)
PRE = {"window": {"mode": "tp0", "offset": -50, "length": 200}, "baseline": {"stop": 150}}
CNN = {"_target_": "psdlab.models.CNN", "depth": 2, "width": 8, "head_width": 16}
NAMES = ["trap_energy", "aoe"]
DSP = {"_target_": "psdlab.tasks.parts.DSPTargetPart", "targets": NAMES, "hidden": 32}


def _dm(path: Path, tmp_path: Path, names=NAMES, **kwargs) -> WaveformDataModule:
    return WaveformDataModule(
        str(path),
        str(path),
        schema={"trace_length": 600},
        preprocess=PRE,
        cache_dir=tmp_path / "c",
        batch_size=32,
        targets=[],
        need_energy=None,
        dsp_targets=names,
        seed=0,
        **kwargs,
    )


def test_batches_carry_the_reports_parameters_standardised_and_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(tmp_path / "npml.hdf5", n=300, seed=3, labelled=False)
    dm = _dm(path, tmp_path)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["dsp_targets"].shape == (len(batch["id"]), 2)
    assert batch["dsp_targets"].dtype == torch.float32

    # the same numbers as the physics report's classical parameters of those events
    src = dm._sources["train"]
    ids = src.cache.ids[src.cache_rows]
    raw = read_parameters([str(path)], DataSchema.from_dict({"trace_length": 600}), ids).values
    expected = np.stack([np.log(raw["trap_energy"]), raw["aoe"]], axis=1)
    want = TargetScaling.fit(expected).transform(expected)
    np.testing.assert_allclose(src.dsp, want, rtol=1e-4, atol=1e-4)
    # robust standardisation: each column centred with a unit robust spread
    assert np.allclose(np.nanmedian(src.dsp, axis=0), 0.0, atol=1e-5)
    # energy and A/E are different quantities (the synthetic rise time varies on its own)
    assert abs(np.corrcoef(src.dsp[:, 0], src.dsp[:, 1])[0, 1]) < 0.9

    # stored next to the cache: a second data module reads them without computing again
    assert len(list((tmp_path / "c").glob("*.dsp-*.npy"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(dsp_module, "_compute", fail)
    again = _dm(path, tmp_path)
    again.setup("fit")
    np.testing.assert_array_equal(again._sources["train"].dsp, src.dsp)


def test_unknown_or_mismatched_dsp_targets_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.dsp_targets: unknown parameter 'a_over_e'"):
        _dm(tmp_path / "none.hdf5", tmp_path, names=["a_over_e"])
    with pytest.raises(DataError, match="named twice"):
        _dm(tmp_path / "none.hdf5", tmp_path, names=["aoe", "aoe"])
    part = DSPTargetPart(16, targets=NAMES)
    with pytest.raises(ConfigError, match=r"data.dsp_targets is \['aoe'\]"):
        part.setup_fit(_dm(tmp_path / "none.hdf5", tmp_path, names=["aoe"]))
    part.setup_fit(_dm(tmp_path / "none.hdf5", tmp_path))  # the same list: fine


def test_events_missing_from_their_file_are_one_line_naming_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that no longer holds its cached events (read_parameters finds none of them):
    one line with the file and data.dsp_targets, and nothing stored."""
    from psdlab.report import classical

    path = write_file(tmp_path / "npml.hdf5", n=120, seed=5, labelled=False)
    monkeypatch.setattr(classical, "read_parameters", lambda *a, **k: classical.RawParameters({}))
    dm = _dm(path, tmp_path)
    with pytest.raises(DataError, match=rf"{path}: .*data\.dsp_targets"):
        dm.setup("fit")
    assert not list((tmp_path / "c").glob("*.dsp-*.npy"))


def test_loss_skips_parameters_that_could_not_be_measured() -> None:
    part = DSPTargetPart(4, targets=NAMES)
    target = torch.tensor([[1.0, float("nan")], [0.0, 2.0]])
    raw = torch.tensor([[1.0, 100.0], [0.0, 2.0]])
    assert part.loss(raw, {"dsp_targets": target}).item() == 0.0
    part.update("val", raw, {"dsp_targets": target})
    metrics = part.compute("val")
    assert metrics["dsp_mse_aoe"].item() == 0.0 and metrics["dsp_mse"].item() == 0.0
    assert part.compute("val") == {}  # reset after compute


def test_pretraining_on_dsp_targets_learns_them_without_labels(tmp_path: Path) -> None:
    """Reconstruction plus DSP targets on an unlabelled file: the encoder learns to read A/E
    off the pulse."""
    path = write_file(tmp_path / "npml.hdf5", n=400, seed=4, labelled=False)
    dm = _dm(path, tmp_path)
    torch.manual_seed(0)
    recon = {"_target_": "psdlab.tasks.parts.ReconstructionPart", "mask_size": 10}
    task = Task(
        CNN,
        {"recon": recon, "dsp": DSP},
        optimizer={"_target_": "torch.optim.Adam", "lr": 3e-3},
        input_shape=SHAPE,
        monitor="val/recon_mse_masked",
    )
    trainer = quiet_trainer(max_epochs=8)
    before = trainer.validate(task, datamodule=dm, verbose=False)[0]
    trainer.fit(task, datamodule=dm)
    after = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert after["val/dsp_mse"] < 0.5 * before["val/dsp_mse"]
    # A/E is a shape: learnt. The energy is not, from min-max normalised pulses (only the
    # noise level tells it), which is why the metrics are per parameter
    assert after["val/dsp_mse_aoe"] < 0.1 * before["val/dsp_mse_aoe"]
    # both self-supervised: a pre-trained model exports both outputs
    assert task.output_names[-2:] == ["dsp_trap_energy", "dsp_aoe"]


def test_config_adds_the_part_and_the_data_follows(compose_train_cfg, tmp_path: Path) -> None:
    """``+task/parts@task.parts.dsp=dsp_targets`` on task=pretrain: the data config reads
    the part's targets, training writes the part's test metric, and fine-tuning a label task
    from the checkpoint takes the encoder only (the DSP head is not carried into it)."""
    from psdlab.run.train import train

    run = tmp_path / "pre"
    cfg = compose_train_cfg(
        "task=pretrain",
        "+task/parts@task.parts.dsp=dsp_targets",
        "task.parts.dsp.targets=[aoe,dcr]",
        "model=cnn",
        "debug=limit_batches",
        run_dir=run,
    )
    assert list(cfg.data.dsp_targets) == ["aoe", "dcr"]
    train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/dsp_mse"] > 0 and metrics["test/recon_mse_masked"] > 0

    ft = tmp_path / "ft"
    cfg = compose_train_cfg(
        "task=avse",
        "model=cnn",
        "debug=limit_batches",
        f"pretrained={run / 'checkpoints' / 'best.ckpt'}",
        run_dir=ft,
    )
    assert cfg.data.dsp_targets is None
    train(cfg)
    state = torch.load(ft / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert not [k for k in state if k.startswith("parts.dsp")]
