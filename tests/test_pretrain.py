"""Self-supervised pre-training (issue 19): masking, reconstruction, fine-tuning, label subsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from psdlab.data import WaveformDataModule
from psdlab.data.split import strata_codes, stratified_subset
from psdlab.tasks import Task, export_torchscript
from psdlab.tasks.masking import make_mask
from psdlab.tasks.parts import ReconstructionPart
from psdlab.tasks.pretrained import load_backbone_weights
from psdlab.utils.errors import ConfigError
from tests._synthetic import quiet_trainer, write_file

SHAPE = (1, 200)
PRE = {"window": {"mode": "tp0", "offset": -50, "length": 200}, "baseline": {"stop": 150}}
CNN = {"_target_": "psdlab.models.CNN", "depth": 2, "width": 8, "head_width": 16}
RECON = {"_target_": "psdlab.tasks.parts.ReconstructionPart", "mask_size": 10}


@pytest.mark.parametrize("mode", ["patches", "spans"])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_mask_covers_the_configured_fraction(mode: str, ratio: float) -> None:
    gen = torch.Generator().manual_seed(0)
    mask = make_mask(mode, 64, 1000, 25, ratio, gen)
    assert mask.shape == (64, 1000) and mask.dtype == torch.bool
    # every event hides exactly that fraction (1000 = 40 patches of 25)
    assert torch.all(mask.float().mean(dim=1) == ratio)
    # different events hide different samples; the same generator seed, the same mask
    assert not torch.equal(mask[0], mask[1])
    assert torch.equal(mask, make_mask(mode, 64, 1000, 25, ratio, torch.Generator().manual_seed(0)))


def test_masked_input_and_loss_use_only_hidden_samples() -> None:
    part = ReconstructionPart(16, SHAPE, mask_ratio=0.3, mask_size=10, mask_value=-1.0)
    x = torch.rand(4, *SHAPE)
    batch = part.prepare_batch({"waveform": x, "id": torch.arange(4)}, training=False)
    m = batch["recon_mask"]
    assert torch.all(batch["recon_input"][:, 0][m] == -1.0)
    assert torch.equal(batch["recon_input"][:, 0][~m], x[:, 0][~m])
    assert batch["waveform"] is x  # the pulse the other parts read stays whole
    # a perfect reconstruction on the hidden samples, garbage elsewhere: zero loss
    raw = torch.where(m.unsqueeze(1), x, torch.full_like(x, 5.0))
    assert part.loss(raw, batch).item() == 0.0
    # evaluation masks are the same for the same events (comparable across epochs/models)
    again = part.prepare_batch({"waveform": x, "id": torch.arange(4)}, training=False)
    assert torch.equal(again["recon_mask"], m)


@pytest.mark.parametrize(
    "net",
    [CNN, {"_target_": "psdlab.models.Transformer", "depth": 1, "width": 16, "patch_size": 10}],
    ids=["cnn", "transformer"],
)
def test_reconstruction_loss_falls_for_cnn_and_transformer(net: dict) -> None:
    """The decoder reads pooled features, so every backbone pre-trains the same way."""
    torch.manual_seed(0)
    task = Task(net, {"recon": RECON}, input_shape=SHAPE)
    t = torch.linspace(-3, 3, SHAPE[1])
    x = torch.sigmoid(t * torch.rand(64, 1, 1) * 4 + torch.randn(64, 1, 1)).expand(64, *SHAPE)
    batch = {"waveform": x.contiguous(), "id": torch.arange(64)}
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    task.train()
    losses = []
    for _ in range(60):
        b = task._prepare(batch)
        loss, _ = task._loss(task.outputs(b), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:5])


def test_auxiliary_reconstruction_leaves_the_label_head_the_whole_pulse() -> None:
    """Reconstruction next to a label part: the label head reads the unmasked pulse (as in
    prediction), the decoder the masked copy, both from one backbone pass."""
    psd = {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}
    torch.manual_seed(0)
    x = torch.rand(8, *SHAPE)
    batch = {"waveform": x, "id": torch.arange(8), "labels": torch.ones(8, 1)}
    passes: list[int] = []
    for parts, batch_sizes in (({"recon": RECON}, [8]), ({"psd": psd, "recon": RECON}, [16])):
        task = Task(CNN, parts, input_shape=SHAPE).eval()
        task.net.register_forward_hook(lambda _m, inputs, _o: passes.append(len(inputs[0])))
        prepared = task._prepare(batch)
        passes.clear()
        with torch.no_grad():
            raw = task.outputs(prepared)
            assert passes == batch_sizes
            assert torch.equal(raw["recon"], task(prepared["recon_input"])["recon"])
            assert not torch.equal(raw["recon"], task(x)["recon"])
            if "psd" in parts:
                assert torch.allclose(raw["psd"], task(x)["psd"], atol=1e-6)


def test_auxiliary_reconstruction_evaluates_like_it_trains() -> None:
    """With batch norm, the losses in evaluation mode (running statistics) match those in
    training mode on the same pulses: clean and masked inputs share the normalisation."""
    psd = {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}
    torch.manual_seed(0)
    task = Task({**CNN, "norm": "batch"}, {"psd": psd, "recon": RECON}, input_shape=SHAPE)
    t = torch.linspace(-3, 3, SHAPE[1])
    steep = torch.rand(128, 1, 1) * 4 + 0.5
    x = torch.sigmoid(t * steep).expand(128, *SHAPE).contiguous()
    labels = (steep.flatten() > 2.5).float().unsqueeze(1)
    batch = {"waveform": x, "id": torch.arange(128), "labels": labels}
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    for _ in range(80):
        task.train()
        b = task._prepare(batch)
        loss, train_parts = task._loss(task.outputs(b), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    task.eval()
    with torch.no_grad():
        b = task._prepare(batch)
        _, eval_parts = task._loss(task.outputs(b), b)
    for name in ("psd", "recon"):
        assert eval_parts[name].item() < 2.0 * train_parts[name].item() + 0.02, name


def _files(tmp_path: Path) -> tuple[Path, Path]:
    labelled = write_file(tmp_path / "train.hdf5", n=400, seed=1)
    unlabelled = write_file(tmp_path / "npml.hdf5", n=400, seed=2, labelled=False)
    return labelled, unlabelled


def _dm(train: Path, test: Path, tmp_path: Path, **kwargs) -> WaveformDataModule:
    schema = {"trace_length": 600}
    return WaveformDataModule(
        str(train),
        str(test),
        schema=schema,
        preprocess=PRE,
        cache_dir=tmp_path / "c",
        batch_size=32,
        **kwargs,
    )


def test_pretraining_reduces_reconstruction_loss_on_unlabelled_files(tmp_path: Path) -> None:

    labelled, unlabelled = _files(tmp_path)
    # no targets, no energy part: unlabelled files are fine for train and test
    dm = _dm(unlabelled, unlabelled, tmp_path, targets=[], need_energy=None, seed=0)
    torch.manual_seed(0)
    task = Task(
        CNN,
        {"recon": RECON},
        optimizer={"_target_": "torch.optim.Adam", "lr": 3e-3},
        input_shape=SHAPE,
        monitor="val/recon_mse_masked",
    )
    trainer = quiet_trainer(max_epochs=6)
    before = trainer.validate(task, datamodule=dm, verbose=False)[0]["val/recon_mse_masked"]
    trainer.fit(task, datamodule=dm)
    after = float(trainer.callback_metrics["val/recon_mse_masked"])
    assert after < 0.5 * before
    # the labelled data module refuses the same unlabelled file for training
    with pytest.raises(Exception, match="label 'low_avse' needed"):
        _dm(unlabelled, labelled, tmp_path, targets=["low_avse"]).setup("fit")


def test_finetuning_loads_encoder_by_value_and_trains_the_head(tmp_path: Path) -> None:

    labelled, _ = _files(tmp_path)
    source = Task(CNN, {"recon": RECON}, input_shape=SHAPE)
    with torch.no_grad():
        for p in source.net.parameters():
            p.normal_()
    ckpt = tmp_path / "pre.ckpt"
    torch.save({"hyper_parameters": dict(source.hparams), "state_dict": source.state_dict()}, ckpt)

    psd = {"psd": {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}}
    finetune = {"freeze_epochs": 1, "encoder_lr_factor": 0.1}
    task = Task(CNN, psd, input_shape=SHAPE, finetune=finetune)
    names = load_backbone_weights(task, ckpt)
    assert names and set(names) == set(source.net.state_dict())  # no head of a label part
    for key, value in source.net.state_dict().items():
        assert torch.equal(task.net.state_dict()[key], value), key
    loaded = {k: v.clone() for k, v in task.net.state_dict().items()}
    head = {k: v.clone() for k, v in task.parts.psd.head.state_dict().items()}

    dm = _dm(labelled, labelled, tmp_path, targets=["low_avse"], seed=0)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(task, datamodule=dm)
    # epoch 0 is frozen: backbone weights unchanged (BatchNorm statistics may move), head trained
    for key, value in task.net.state_dict().items():
        if "running" not in key and "num_batches" not in key and "bn" not in key:
            assert torch.equal(value, loaded[key]) or value.ndim == 1, key
    conv = [k for k in loaded if k.endswith("weight") and loaded[k].ndim > 1]
    assert all(torch.equal(task.net.state_dict()[k], loaded[k]) for k in conv)
    assert any(not torch.equal(v, head[k]) for k, v in task.parts.psd.head.state_dict().items())
    # the encoder has its own, lower learning rate
    groups = trainer.optimizers[0].param_groups
    assert groups[0]["lr"] == pytest.approx(0.1 * groups[1]["lr"])

    other = Task({**CNN, "width": 4}, psd, input_shape=SHAPE)
    with pytest.raises(ConfigError, match="width"):
        load_backbone_weights(other, ckpt)


def test_finetuning_warns_when_the_preprocessing_differs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Same window length, other window position: the weights fit, the input does not."""
    source = Task(CNN, {"recon": RECON}, input_shape=SHAPE)
    labelled, _ = _files(tmp_path)
    dm = _dm(labelled, labelled, tmp_path, targets=["low_avse"], seed=0)
    stored = dm.preprocess_record()
    ckpt = tmp_path / "pre.ckpt"
    torch.save(
        {
            "hyper_parameters": dict(source.hparams),
            "state_dict": source.state_dict(),
            "WaveformDataModule": {"preprocess": stored},
        },
        ckpt,
    )
    psd = {"psd": {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}}
    with caplog.at_level("WARNING", logger="psdlab.tasks.pretrained"):
        load_backbone_weights(Task(CNN, psd, input_shape=SHAPE), ckpt, stored)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    moved = {**stored, "window": {**stored["window"], "offset": stored["window"]["offset"] - 20}}
    with caplog.at_level("WARNING", logger="psdlab.tasks.pretrained"):
        load_backbone_weights(Task(CNN, psd, input_shape=SHAPE), ckpt, moved)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "window.offset" in warnings[0]


def test_labelled_subset_is_stratified_and_reproducible(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.random((5000, 2)) < [0.1, 0.6]
    strata = strata_codes(labels)
    positions = np.arange(5000) * 3
    a = stratified_subset(positions, 300, seed=7, strata=strata)
    assert len(a) == 300 and np.array_equal(a, stratified_subset(positions, 300, 7, strata))
    assert not np.array_equal(a, stratified_subset(positions, 300, 8, strata))
    assert set(a) <= set(positions)
    full = np.bincount(strata, minlength=4) / len(strata)
    sub = np.bincount(strata[a // 3], minlength=4) / len(a)
    assert np.all(np.abs(sub - full) <= 1.0 / 300 + 1e-9)

    labelled, _ = _files(tmp_path)
    dm = _dm(labelled, labelled, tmp_path, targets=["low_avse"], seed=1, max_train_events=100)
    dm.setup("fit")
    train_ids = dm.split_metadata("train")["id"]
    assert len(train_ids) == 100 and len(dm.split_metadata("val")["id"]) == 80
    dm2 = _dm(labelled, labelled, tmp_path, targets=["low_avse"], seed=1, max_train_events=100)
    dm2.setup("fit")
    assert np.array_equal(train_ids, dm2.split_metadata("train")["id"])
    full_dm = _dm(labelled, labelled, tmp_path, targets=["low_avse"], seed=1)
    full_dm.setup("fit")
    p_full = full_dm.positive_fraction("low_avse")
    assert abs(dm.positive_fraction("low_avse") - p_full) <= 1.0 / 100 + 1e-9


def test_pretrain_then_finetune_end_to_end(compose_train_cfg, tmp_path: Path) -> None:
    from psdlab.run.train import train

    pre_dir = tmp_path / "pre"
    cfg = compose_train_cfg("task=pretrain", "model=cnn", "debug=limit_batches", run_dir=pre_dir)
    # no targets and no energy part: the data module asks for neither
    assert cfg.data.need_energy is None and not cfg.data.targets
    assert cfg.task.monitor == "val/recon_mse_masked"
    train(cfg)
    metrics = json.loads((pre_dir / "metrics.json").read_text())
    assert metrics["test/recon_mse_masked"] > 0
    assert list((pre_dir / "tensorboard").rglob("events.out.tfevents.*"))

    ft_dir = tmp_path / "ft"
    ckpt = pre_dir / "checkpoints" / "best.ckpt"
    cfg = compose_train_cfg(
        "task=avse",
        "model=cnn",
        "debug=limit_batches",
        f"pretrained={ckpt}",
        "finetune.freeze_epochs=1",
        "data.max_train_events=200",
        run_dir=ft_dir,
    )
    train(cfg)
    hp = torch.load(ft_dir / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert hp["finetune"]["pretrained"] == str(ckpt) and hp["finetune"]["freeze_epochs"] == 1
    assert 0.0 <= json.loads((ft_dir / "metrics.json").read_text())["test/auroc"] <= 1.0


def test_finetuning_with_an_auxiliary_reconstruction_loss(
    compose_train_cfg, tmp_path: Path
) -> None:
    """``+task/parts@task.parts.recon=reconstruction`` adds the masked reconstruction to a label
    task: both losses train, both parts' test metrics are written, the label still selects."""
    from psdlab.run.train import train

    run_dir = tmp_path / "aux"
    cfg = compose_train_cfg(
        "task=avse",
        "model=cnn",
        "debug=limit_batches",
        "+task/parts@task.parts.recon=reconstruction",
        "task.parts.recon.weight=0.3",
        run_dir=run_dir,
    )
    assert cfg.task.monitor == "val/auroc"
    train(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/auroc"] <= 1.0
    assert metrics["test/recon_mse_masked"] > 0
    assert metrics["test/loss_recon"] > 0 and metrics["test/loss_psd"] > 0


def test_finetuning_with_reconstruction_loads_its_decoder_too(tmp_path: Path) -> None:
    """An auxiliary reconstruction part continues from the pre-trained decoder; the label
    head starts fresh; a decoder of another shape is left fresh."""
    source = Task(CNN, {"recon": RECON}, input_shape=SHAPE)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    ckpt = tmp_path / "pre.ckpt"
    torch.save({"hyper_parameters": dict(source.hparams), "state_dict": source.state_dict()}, ckpt)
    psd = {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}
    torch.manual_seed(1)
    task = Task(CNN, {"psd": psd, "recon": RECON}, input_shape=SHAPE)
    fresh_psd = {k: v.clone() for k, v in task.parts.psd.head.state_dict().items()}
    names = load_backbone_weights(task, ckpt)
    decoder = source.parts.recon.head.state_dict()
    assert {f"parts.recon.head.{k}" for k in decoder} <= set(names)
    for key, value in decoder.items():
        assert torch.equal(task.parts.recon.head.state_dict()[key], value), key
    for key, value in task.parts.psd.head.state_dict().items():
        assert torch.equal(value, fresh_psd[key]), key
    # another decoder width: the backbone loads, the decoder stays as it was built
    other = Task(CNN, {"recon": {**RECON, "decoder_hidden": 32}}, input_shape=SHAPE)
    before = {k: v.clone() for k, v in other.parts.recon.head.state_dict().items()}
    names = load_backbone_weights(other, ckpt)
    assert not [n for n in names if n.startswith("parts.")]
    assert all(torch.equal(v, before[k]) for k, v in other.parts.recon.head.state_dict().items())


def test_export_leaves_out_an_auxiliary_reconstruction(tmp_path: Path) -> None:
    """Beside a label the decoder was a training aid: the exported graph maps a pulse to the
    label's score alone. A pre-training task, which has nothing else, exports the decoder."""
    psd = {"_target_": "psdlab.tasks.parts.ClassificationPart", "targets": ["low_avse"]}
    x = torch.rand(3, *SHAPE)
    aux = Task(CNN, {"psd": psd, "recon": RECON}, input_shape=SHAPE).eval()
    assert aux.output_names == ["score_low_avse"]
    traced = torch.jit.load(str(export_torchscript(aux, tmp_path / "aux.ts", SHAPE)))
    with torch.no_grad():
        assert torch.allclose(traced(x), torch.sigmoid(aux(x)["psd"]), atol=1e-6)
    pre = Task(CNN, {"recon": RECON}, input_shape=SHAPE).eval()
    assert len(pre.output_names) == SHAPE[0] * SHAPE[1]
    assert pre.inference_model()(x).shape == (3, SHAPE[0] * SHAPE[1])
