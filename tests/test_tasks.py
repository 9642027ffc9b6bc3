"""Task LightningModules: every backbone x task trains, learns, reloads and exports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from psdlab.run.artifacts import save_predictions_h5, write_figures
from psdlab.tasks import Task, export_onnx, export_torchscript, load_task

L = pytest.importorskip("lightning")

LENGTH = 160
PSD = ["low_avse", "high_avse", "dcr", "lq"]
TINY = {
    "mlp": {"_target_": "psdlab.models.MLP", "depth": 2, "width": 32, "last_width": 16},
    "cnn": {"_target_": "psdlab.models.CNN", "depth": 2, "width": 8, "head_width": 16},
    "gru": {"_target_": "psdlab.models.GRU", "depth": 1, "width": 8, "target_steps": 20},
    "transformer": {
        "_target_": "psdlab.models.Transformer",
        "depth": 1,
        "width": 16,
        "heads": 2,
        "patch_size": 16,
    },
    "resnet": {"_target_": "psdlab.models.ResNet1D", "depth": 2, "width": 8, "head_width": 16},
    "inception": {
        "_target_": "psdlab.models.InceptionTime",
        "depth": 2,
        "width": 4,
        "kernel_sizes": [5, 9],
        "head_width": 16,
    },
}
PSD_PART = {"_target_": "psdlab.tasks.parts.ClassificationPart"}
ENERGY_PART = {"_target_": "psdlab.tasks.parts.EnergyPart"}
TASKS = {
    "avse": {"psd": {**PSD_PART, "targets": ["low_avse"]}},
    "psd_all": {"psd": {**PSD_PART, "targets": PSD}},
    "energy": {"energy": ENERGY_PART},
    "multitask": {"psd": {**PSD_PART, "targets": PSD}, "energy": ENERGY_PART},
}
TASK_KEYS = {"scheduler", "compile", "n_example_waveforms", "monitor", "monitor_mode"}


class PulseSet(Dataset):
    """Toy pulses: signal (label 1) rises fast, background rises slowly; amplitude = E/1000.

    Every label is the same "fast rise" bit, so the task is separable by pulse shape.
    """

    def __init__(self, n: int, k: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        signal = torch.rand(n, generator=g) < 0.5
        energy = 200 + 2600 * torch.rand(n, generator=g)
        t = torch.arange(LENGTH, dtype=torch.float32)
        t0 = 60 + 10 * torch.rand(n, 1, generator=g)
        rise = torch.where(signal, 2.0, 12.0).unsqueeze(1)
        shape = torch.sigmoid((t - t0) / rise)
        wf = energy.unsqueeze(1) / 1000 * shape + 0.01 * torch.randn(n, LENGTH, generator=g)
        self.wf = wf.unsqueeze(1).float()
        self.labels = signal.float().unsqueeze(1).repeat(1, max(k, 1))
        self.energy = energy.float()
        self.k = k

    def __len__(self) -> int:
        return len(self.energy)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"waveform": self.wf[i], "energy": self.energy[i], "id": torch.tensor(i)}
        if self.k:
            item["labels"] = self.labels[i]
        return item


def make_task(task: str, model: str, **kw):
    """A Task with the parts of ``task``; task-level keys go to the Task, the rest to its
    first part (e.g. ``loss``, ``pos_weight``)."""
    parts = {name: dict(spec) for name, spec in TASKS[task].items()}
    task_kw = {k: v for k, v in kw.items() if k in TASK_KEYS}
    next(iter(parts.values())).update({k: v for k, v in kw.items() if k not in TASK_KEYS})
    net = dict(TINY[model], in_channels=1, input_length=LENGTH)
    opt = {"_target_": "torch.optim.Adam", "lr": 3e-3}
    return Task(net=net, parts=parts, optimizer=opt, **task_kw)


def n_targets(task: str) -> int:
    return len(TASKS[task].get("psd", {}).get("targets", []))


def trainer(tmp_path, **kw):
    args = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    args.update(kw)
    return L.Trainer(**args)


@pytest.mark.parametrize("model", list(TINY))
@pytest.mark.parametrize("task", list(TASKS))
def test_backbone_task_trains(task, model, tmp_path):
    torch.manual_seed(0)
    module = make_task(task, model)
    data = PulseSet(64, n_targets(task))
    loader = DataLoader(data, batch_size=32)
    trainer(tmp_path, max_steps=2, limit_val_batches=1, num_sanity_val_steps=0).fit(
        module, loader, loader
    )
    out = trainer(tmp_path).predict(module, DataLoader(data, batch_size=32))
    first = out[0]
    assert first["id"].shape == (32,)
    if n_targets(task):
        assert first["score"].shape == (32, n_targets(task))
        assert ((first["score"] >= 0) & (first["score"] <= 1)).all()
    if task in ("energy", "multitask"):
        assert first["energy_pred"].shape == (32,)


def _fit_and_validate(module, k, tmp_path, epochs=5):
    train = DataLoader(PulseSet(256, k, seed=1), batch_size=32, shuffle=True)
    val = DataLoader(PulseSet(128, k, seed=2), batch_size=128)
    tr = trainer(tmp_path, max_epochs=epochs, num_sanity_val_steps=0)
    before = tr.validate(module, val, verbose=False)[0]
    tr.fit(module, train, val)
    after = tr.validate(module, val, verbose=False)[0]
    return before, after


@pytest.mark.parametrize("loss", ["bce", "bce_logits", "cross_entropy", "focal"])
def test_classifier_learns_separable_pulses(loss, tmp_path):
    torch.manual_seed(0)
    module = make_task("avse", "mlp", loss=loss, pos_weight=1.5)
    before, after = _fit_and_validate(module, 1, tmp_path)
    assert after["val/loss"] < before["val/loss"]
    assert after["val/auroc"] > max(before["val/auroc"], 0.9)
    assert after["val/bkg_rej_at_90"] > 0.5


def test_energy_regressor_learns(tmp_path):
    torch.manual_seed(0)
    module = make_task("energy", "mlp", loss="smooth_l1")
    before, after = _fit_and_validate(module, 0, tmp_path, epochs=8)
    assert after["val/loss"] < before["val/loss"]
    assert after["val/mae"] < 0.5 * before["val/mae"]
    assert {"val/rmse", "val/bias", "val/resolution", "val/bias_500_1000", "val/fwhm_2614"} <= set(
        after
    )


def test_psd_all_logs_per_label_and_combined(tmp_path):
    torch.manual_seed(0)
    module = make_task("psd_all", "cnn")
    val = DataLoader(PulseSet(128, 4, seed=2), batch_size=64)
    metrics = trainer(tmp_path).validate(module, val, verbose=False)[0]
    for name in PSD:
        assert f"val/auroc_{name}" in metrics
        assert f"val/bkg_rej_at_90_{name}" in metrics
    assert math.isclose(
        metrics["val/auroc"], np.mean([metrics[f"val/auroc_{n}"] for n in PSD]), rel_tol=1e-5
    )
    assert "val/auroc_all_cuts" in metrics and "val/auroc_all_cuts_min" in metrics


def test_pos_weight_auto_resolved_from_datamodule(tmp_path):
    class DM(L.LightningDataModule):
        def positive_fraction(self, target):
            return 0.2

        def train_dataloader(self):
            return DataLoader(PulseSet(32, 1), batch_size=16)

    module = make_task("avse", "mlp", pos_weight="auto")
    trainer(tmp_path, max_steps=1).fit(module, datamodule=DM())
    assert torch.allclose(module.parts["psd"].pos_weight, torch.tensor([4.0]))


@pytest.mark.parametrize("task", list(TASKS))
def test_checkpoint_roundtrip_weights_only(task, tmp_path):
    module = make_task(
        task,
        "cnn",
        scheduler={"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "T_max": None},
    )
    loader = DataLoader(PulseSet(32, n_targets(task)), batch_size=16)
    tr = trainer(tmp_path, max_steps=2, enable_checkpointing=True)
    tr.fit(module, loader)
    path = tmp_path / "m.ckpt"
    tr.save_checkpoint(path)
    torch.load(path, weights_only=True)  # only primitives in the checkpoint
    loaded = Task.load_from_checkpoint(path)  # Lightning's default (weights_only) loading
    x = PulseSet(4, 0).wf
    module.eval()
    loaded.eval()
    with torch.no_grad():
        for key, value in module(x).items():
            assert torch.allclose(loaded(x)[key], value)
    assert loaded.hparams.net["_target_"] == "psdlab.models.CNN"


@pytest.mark.parametrize("scheduler", ["cosine", "plateau", "onecycle"])
def test_schedulers_configure(scheduler, tmp_path):
    cfgs = {
        "cosine": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "T_max": None},
        "plateau": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "mode": None},
        "onecycle": {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "max_lr": None},
    }
    module = make_task("avse", "mlp", scheduler=cfgs[scheduler])
    loader = DataLoader(PulseSet(32, 1), batch_size=16)
    trainer(tmp_path, max_epochs=2).fit(module, loader, loader)


@pytest.mark.parametrize("model", list(TINY))
def test_export_roundtrip(model, tmp_path):
    module = make_task("multitask", model).eval()
    x = PulseSet(5, 0).wf
    with torch.no_grad():
        expected = module.inference_model()(x)
    assert expected.shape == (5, len(PSD) + 1)
    ts = export_torchscript(module, tmp_path / "model.ts", (1, LENGTH))
    assert torch.allclose(torch.jit.load(str(ts))(x), expected, rtol=1e-5, atol=1e-5)
    onnx_path = export_onnx(module, tmp_path / "model.onnx", (1, LENGTH))
    from onnx.reference import ReferenceEvaluator

    got = ReferenceEvaluator(str(onnx_path)).run(None, {"waveform": x.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_test_predictions_export(tmp_path):
    module = make_task("multitask", "cnn", n_example_waveforms=4)
    data = PulseSet(48, 4)
    trainer(tmp_path).test(module, DataLoader(data, batch_size=16), verbose=False)
    table = module.test_predictions()
    assert table["id"].shape == (48,)
    assert table["score_low_avse"].shape == (48,)
    assert table["label_all_cuts"].dtype == bool
    assert table["energy_pred"].shape == (48,)
    assert table["example_waveform"].shape == (4, 1, LENGTH)
    h5py = pytest.importorskip("h5py")
    path = save_predictions_h5(tmp_path / "pred.h5", table, attrs={"targets": PSD})
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["id"][:], table["id"])
        assert list(f.attrs["targets"]) == PSD
    assert not list(tmp_path.glob("*.tmp"))
    pngs = write_figures(table, tmp_path / "figures")
    names = {p.stem for p in pngs}
    assert {"roc", "score_distributions", "confusion_matrix", "energy_spectrum"} <= names
    assert {"energy_pred_vs_true", "energy_residuals", "example_waveforms"} <= names
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_tensorboard_images_and_hparams(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(tmp_path, name="tb", default_hp_metric=False)
    module = make_task("multitask", "mlp")
    loader = DataLoader(PulseSet(64, 4), batch_size=32)
    tr = trainer(tmp_path, logger=logger, max_epochs=1, num_sanity_val_steps=0, log_every_n_steps=1)
    tr.fit(module, loader, loader)
    tr.test(module, loader, verbose=False)
    logger.experiment.flush()
    acc = EventAccumulator(logger.log_dir, size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    images = set(acc.Tags()["images"])
    assert {"val/roc", "val/score_distributions", "val/confusion_matrix"} <= images
    assert {"val/energy_spectrum", "val/example_waveforms", "test/roc"} <= images
    scalars = set(acc.Tags()["scalars"])
    assert {"train/loss_step", "val/auroc", "val/mae", "hp/val_best", "hp/test_auroc"} <= scalars
    plugin = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugin
    from tensorboard.plugins.hparams import plugin_data_pb2

    assert "_hparams_/experiment" not in plugin  # TensorBoard builds it from the sessions
    start = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["model"].string_value == "MLP"
    assert {"hp/val_best", "hp/test_auroc", "hp/test_mae"} <= scalars


@pytest.mark.parametrize("every", [1, 3])
def test_training_loss_logging(every, tmp_path):
    """Step losses reach the logger every ``log_every_n_steps`` steps; the epoch mean covers
    every step (batch-size weighted) and multi-part tasks also log each part's mean."""
    import csv

    from lightning.pytorch.loggers import CSVLogger

    torch.manual_seed(0)
    module = make_task("multitask", "mlp")
    loader = DataLoader(
        PulseSet(70, n_targets("multitask")), batch_size=16
    )  # 5 steps, the last one of 6 events
    steps: list[tuple[float, int]] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx):
            steps.append((float(outputs["loss"]), len(batch["energy"])))

    logger = CSVLogger(tmp_path, name="csv")
    tr = trainer(tmp_path, logger=logger, max_epochs=1, num_sanity_val_steps=0)
    tr.log_every_n_steps = every
    tr.callbacks.append(Record())
    tr.fit(module, loader, loader)
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = [(int(r["step"]), float(r["train/loss_step"])) for r in rows if r["train/loss_step"]]
    assert [s for s, _ in logged] == [k for k in range(5) if (k + 1) % every == 0]
    for k, value in logged:
        assert value == pytest.approx(steps[k][0], rel=1e-5)
    epoch = [float(r["train/loss_epoch"]) for r in rows if r["train/loss_epoch"]]
    weights = np.array([n for _, n in steps], dtype=float)
    expected = np.average([v for v, _ in steps], weights=weights)
    assert epoch == [pytest.approx(expected, rel=1e-5)]
    assert any(r.get("train/loss_psd") for r in rows)
    assert any(r.get("train/loss_energy") for r in rows)


@pytest.mark.parametrize(
    "task", ["avse", "high_avse", "dcr", "lq", "psd_all", "energy", "multitask"]
)
def test_task_yaml_instantiates_with_interpolations(task):
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf), version_base="1.3"):
        composed = compose("train", overrides=[f"task={task}", "model=cnn", "optimizer=adamw"])
    GlobalHydra.instance().clear()
    cfg = OmegaConf.create(
        {
            k: OmegaConf.to_container(composed[k])
            for k in ("model", "optimizer", "scheduler", "task")
        }
    )
    # what train.py does: fill the input shape into the backbone config, then instantiate
    cfg.model.in_channels, cfg.model.input_length = 1, LENGTH
    module = instantiate(cfg.task, _recursive_=False, _convert_="all")
    assert module.hparams.monitor == cfg.task.monitor
    assert isinstance(module.hparams.net, dict) and module.hparams.net["input_length"] == LENGTH
    assert module.hparams.optimizer["_target_"] == "torch.optim.AdamW"
    out = module(torch.randn(2, 1, LENGTH))
    assert set(out) <= {"psd", "energy"}
    # alternative: leave the model config untouched and pass input_shape
    cfg.model.in_channels = cfg.model.input_length = None
    module = instantiate(cfg.task, input_shape=[1, LENGTH], _recursive_=False, _convert_="all")
    assert module.net.out_features == 32


LEGACY = {
    "avse": ("psdlab.tasks.PSDClassifier", {"targets": ["low_avse"], "loss": "bce_logits"}),
    "energy": (
        "psdlab.tasks.EnergyRegressor",
        {"targets": [], "loss": "l1", "target_scale": 500.0},
    ),
    "multitask": (
        "psdlab.tasks.MultiTaskModule",
        {"targets": PSD, "loss": "bce", "energy_loss": "l1", "psd_weight": 2.0},
    ),
}


@pytest.mark.parametrize("task", list(LEGACY))
def test_legacy_checkpoint_loads(task, tmp_path):
    """Checkpoints of the former PSDClassifier/EnergyRegressor/MultiTaskModule (flat part
    settings in their hyperparameters) load as a Task with the same parts and weights."""
    _, flat = LEGACY[task]
    module = make_task(task, "mlp")
    path = tmp_path / "legacy.ckpt"
    hp = {k: v for k, v in dict(module.hparams).items() if k != "parts"}
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": {**hp, **flat}}
    torch.save(checkpoint, path)
    loaded = load_task(path)
    assert set(loaded.parts) == set(module.parts)
    if "psd" in loaded.parts:
        assert loaded.parts["psd"].loss_name == flat["loss"]
        assert loaded.parts["psd"].targets == flat["targets"]
    if "energy" in loaded.parts:
        energy_loss = flat.get("energy_loss", flat["loss"])
        assert loaded.parts["energy"].loss_name == energy_loss
        assert loaded.parts["energy"].head.target_scale == flat.get("target_scale", 1000.0)
    if task == "multitask":
        assert loaded.parts["psd"].weight == 2.0
    x = PulseSet(4, 0).wf
    with torch.no_grad():
        got, want = loaded.eval()(x), module.eval()(x)
    for key in want:
        assert torch.allclose(got[key], want[key])


def test_part_weights_sum_the_loss():
    """The total loss is the weighted sum of the parts' losses (multi-output training)."""
    module = make_task("multitask", "mlp")
    module.parts["energy"].weight = 0.25
    data = PulseSet(8, 4)
    batch = {"waveform": data.wf, "labels": data.labels, "energy": data.energy}
    total, parts = module._loss(module(batch["waveform"]), batch)
    assert torch.isclose(total, parts["psd"] + 0.25 * parts["energy"])
    with pytest.raises(KeyError, match="no targets"):
        module._loss(module(batch["waveform"]), {"waveform": data.wf})


@pytest.mark.slow
def test_compile_keeps_state_dict_names(tmp_path):
    """torch.compile wraps only the backbone; checkpoints keep the uncompiled key names."""
    module = make_task("avse", "mlp", compile=True)
    assert all(not k.startswith("_net_fn") and "_orig_mod" not in k for k in module.state_dict())
    loader = DataLoader(PulseSet(32, 1), batch_size=16, drop_last=True)
    trainer(tmp_path, max_steps=2).fit(module, loader)


def test_focal_loss():
    """gamma=0 is bce_logits (with pos_weight and sample weights too); gamma>0 shrinks the
    terms of confidently right events far more than those of wrong ones."""
    from psdlab.tasks.losses import binary_loss
    from psdlab.tasks.parts import ClassificationPart

    torch.manual_seed(0)
    logits, y = torch.randn(32, 2) * 3, (torch.rand(32, 2) > 0.4).float()
    pw, w = torch.tensor([2.0, 0.5]), torch.rand(32)
    for kw in (
        {},
        {"pos_weight": pw},
        {"sample_weight": w},
        {"pos_weight": pw, "sample_weight": w},
    ):
        want = binary_loss(logits, y, "bce_logits", **kw)
        torch.testing.assert_close(binary_loss(logits, y, "focal", focal_gamma=0.0, **kw), want)
    ones = torch.ones(1, 1)
    easy, hard = torch.full((1, 1), 4.0), torch.full((1, 1), -1.0)  # both events signal
    ratio = {}
    for name, x in (("easy", easy), ("hard", hard)):
        ratio[name] = binary_loss(x, ones, "focal", focal_gamma=2.0) / binary_loss(
            x, ones, "bce_logits"
        )
    assert ratio["easy"] < 1e-3 and ratio["hard"] > 0.5  # (1 - p_t)**2
    # pos_weight multiplies the signal terms of the focal form as of the others
    no_pw = binary_loss(hard, ones, "focal")
    torch.testing.assert_close(binary_loss(hard, ones, "focal", pos_weight=pw[:1]), 2.0 * no_pw)
    torch.testing.assert_close(
        binary_loss(hard, 1 - ones, "focal", pos_weight=pw[:1]),
        binary_loss(hard, 1 - ones, "focal"),
    )
    part = ClassificationPart(8, loss="focal", focal_gamma=1.0)
    assert part.head.linear.out_features == 1 and part.focal_gamma == 1.0
    with pytest.raises(ValueError, match="focal_gamma"):
        ClassificationPart(8, loss="focal", focal_gamma=-1.0)
