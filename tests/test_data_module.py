"""WaveformDataModule end to end on tiny synthetic files: splits, batches, scaler, NPML."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from psdlab.data import DataError, WaveformDataModule

try:
    from _synthetic import PRE, SCHEMA, quiet_trainer, write_file
except ImportError:  # tests/ imported as a package
    from tests._synthetic import PRE, SCHEMA, quiet_trainer, write_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mjd")
    for i in range(2):
        write_file(d / f"MJD_Train_{i}.hdf5", n=300, seed=i, id_offset=1000 * i, truth=True)
    write_file(d / "MJD_Test_0.hdf5", n=200, seed=7, id_offset=5000)
    write_file(d / "MJD_NPML_0.hdf5", n=100, seed=8, id_offset=9000, labelled=False)
    return d


def make_dm(files, tmp_path, **kw):
    args = {
        "train_files": str(files / "MJD_Train_*.hdf5"),
        "test_files": [str(files / "MJD_Test_0.hdf5")],
        "schema": SCHEMA,
        "targets": ["low_avse", "dcr"],
        "preprocess": PRE,
        "batch_size": 64,
        "cache_dir": tmp_path / "cache",
    }
    args.update(kw)
    return WaveformDataModule(**args)


def test_end_to_end_batches(files, tmp_path):
    dm = make_dm(files, tmp_path, energy_range=[200, 2800])
    dm.setup("fit")
    assert dm.input_shape == (1, 300)
    batch = next(iter(dm.train_dataloader()))
    assert batch["waveform"].shape == (64, 1, 300) and batch["waveform"].dtype == torch.float32
    assert batch["labels"].shape == (64, 2) and batch["labels"].dtype == torch.float32
    assert batch["energy"].shape == (64,) and batch["energy"].dtype == torch.float32
    assert batch["id"].dtype == torch.int64
    assert ((batch["energy"] >= 200) & (batch["energy"] < 2800)).all()
    # labels and energy belong to the event id
    meta = dm.split_metadata("train")
    lookup = {int(i): k for k, i in enumerate(meta["id"])}
    k = [lookup[int(i)] for i in batch["id"]]
    np.testing.assert_array_equal(batch["labels"][:, 0].numpy(), meta["low_avse"][k])
    np.testing.assert_allclose(batch["energy"].numpy(), meta["energy"][k], rtol=1e-6)
    assert {"tp0", "detector", "run_number", "n_sites", "true_energy"} <= set(meta)
    # unshuffled val loader order == split_metadata order; test never overlaps train
    val_ids = torch.cat([b["id"] for b in dm.val_dataloader()]).numpy()
    np.testing.assert_array_equal(val_ids, dm.split_metadata("val")["id"])
    assert not set(val_ids) & set(meta["id"])
    dm.setup("test")
    test_ids = torch.cat([b["id"] for b in dm.test_dataloader()]).numpy()
    assert test_ids.min() >= 5000 and len(test_ids) == len(dm.split_metadata("test")["id"])
    # reshuffled per epoch, reproducible by seed
    s = dm.train_dataloader().sampler
    s.set_epoch(0)
    e0 = s.epoch_indices()
    s.set_epoch(1)
    assert not np.array_equal(e0, s.epoch_indices())
    s2 = make_dm(files, tmp_path, energy_range=[200, 2800]).train_dataloader().sampler
    s2.set_epoch(0)
    np.testing.assert_array_equal(e0[:10], s2.epoch_indices()[:10])


@pytest.mark.parametrize(
    ("pre", "shape"),
    [
        (PRE, (1, 300)),
        ({"window": {"mode": "none"}, "baseline": {"stop": 150}}, (1, 600)),
        ({"window": {"mode": "none"}, "baseline": {"stop": 150}, "downsample": 7}, (1, 85)),
        (dict(PRE, downsample=4), (1, 75)),
        (dict(PRE, current=True), (2, 300)),
        (
            {
                "window": {"mode": "fixed", "start": 100, "length": 301},
                "downsample": 3,
                "current": True,
                "standardize": True,
            },
            (2, 100),
        ),
    ],
)
def test_input_shape_from_config_matches_setup(files, tmp_path, pre, shape):
    # known from the configuration alone: the files need not even exist
    nowhere = make_dm(files, tmp_path, preprocess=pre, train_files=str(tmp_path / "none.hdf5"))
    assert nowhere.input_shape == shape
    dm = make_dm(files, tmp_path, preprocess=pre)
    assert dm.input_shape == shape
    dm.setup("fit")
    assert tuple(dm._sources["train"].cache.meta["shape"]) == shape
    assert tuple(next(iter(dm.train_dataloader()))["waveform"].shape[1:]) == shape
    assert dm.input_shape == shape


def test_input_shape_without_trace_length_after_setup(files, tmp_path):
    pre = {"window": {"mode": "none"}, "baseline": {"stop": 150}, "downsample": 2}
    dm = make_dm(files, tmp_path, preprocess=pre, schema={"trace_length": 0})
    with pytest.raises(RuntimeError, match="trace_length"):
        _ = dm.input_shape
    dm.setup("fit")
    assert dm.input_shape == (1, 300)


def test_stratified_split_and_positive_fraction(files, tmp_path):
    dm = make_dm(files, tmp_path, val_fraction=0.25, in_memory=False)
    dm.setup("fit")
    tr, va = dm.split_metadata("train"), dm.split_metadata("val")
    n = len(tr["id"]) + len(va["id"])
    assert abs(len(va["id"]) / n - 0.25) < 0.02
    for lab in ("low_avse", "dcr"):
        assert abs(tr[lab].mean() - va[lab].mean()) < 0.03
    assert dm.positive_fraction("low_avse") == pytest.approx(tr["low_avse"].mean())
    assert dm.positive_fraction("dcr") == pytest.approx(tr["dcr"].mean())


def test_grouped_split(files, tmp_path):
    dm = make_dm(files, tmp_path, split_group="run_number", val_fraction=0.3)
    dm.setup("fit")
    tr, va = dm.split_metadata("train"), dm.split_metadata("val")
    assert not set(tr["run_number"]) & set(va["run_number"])
    assert 0.1 < len(va["id"]) / (len(va["id"]) + len(tr["id"])) < 0.5


def test_scaler_fit_on_train_only_and_restored(files, tmp_path):
    pre = dict(PRE, standardize=True)
    dm = make_dm(files, tmp_path, preprocess=pre)
    dm.setup("fit")
    dm.train_dataloader()
    src = dm._sources["train"]
    raw = np.asarray(src.waveform[src.rows[dm._positions["train"]]], dtype=np.float64)
    np.testing.assert_allclose(dm.scaler.mean, raw.mean(axis=0), rtol=1e-4, atol=1e-6)
    everything = np.asarray(src.waveform[src.rows], dtype=np.float64)
    assert not np.allclose(dm.scaler.mean, everything.mean(axis=0), rtol=1e-6, atol=1e-7)
    b = next(iter(dm.val_dataloader()))["waveform"]
    assert abs(float(b.mean())) < 0.5
    # eval from a checkpoint: a fresh module takes the saved scaler, not a new fit
    state = dm.state_dict()
    dm2 = make_dm(files, tmp_path, preprocess=pre, val_fraction=0.5, seed=3)
    dm2.setup("test")
    dm2.load_state_dict(state)
    dm2.test_dataloader()
    np.testing.assert_array_equal(dm2.scaler.mean, dm.scaler.mean)


def test_npml_predict_ok_train_error(files, tmp_path):
    dm = make_dm(
        files, tmp_path, predict_files=str(files / "MJD_NPML_0.hdf5"), energy_range=[500, 1000]
    )
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"waveform", "id", "detector"}  # no labels, no energy
    assert len(dm.split_metadata("predict")["id"]) == 100
    bad = make_dm(files, tmp_path, train_files=str(files / "MJD_NPML_0.hdf5"))
    with pytest.raises(DataError, match=r"MJD_NPML_0.hdf5 \[dataset 'psd_label_low_avse'\]"):
        bad.setup("fit")


def test_energy_only_and_other_schema(tmp_path):
    # a non-MJD layout described only through the schema
    import h5py

    rng = np.random.default_rng(0)
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["traces"] = rng.normal(size=(120, 200)).astype(np.float32)
        f["E"] = rng.uniform(10, 100, 120)
        f["t_start"] = np.full(120, 50)
        f["evt"] = np.arange(120)
        f["is_good"] = rng.random(120) < 0.5
    schema = {
        "waveform": "traces",
        "energy": "E",
        "tp0": "t_start",
        "labels": {"good": "is_good"},
        "metadata": {"id": "evt"},
        "trace_length": 200,
        "sampling_period_ns": 4.0,
    }
    pre = {"window": {"mode": "tp0", "offset": -20, "length": 100}, "baseline": {"stop": 30}}
    dm = WaveformDataModule(
        str(path),
        str(path),
        schema=schema,
        targets=[],
        preprocess=pre,
        cache_dir=tmp_path / "c",
        batch_size=32,
    )
    dm.setup("fit")
    b = next(iter(dm.train_dataloader()))
    assert "labels" not in b and b["waveform"].shape == (32, 1, 100)
    dm = WaveformDataModule(
        str(path),
        str(path),
        schema=schema,
        targets=["good"],
        preprocess=pre,
        cache_dir=tmp_path / "c",
        batch_size=32,
    )
    dm.setup("fit")
    assert next(iter(dm.train_dataloader()))["labels"].shape == (32, 1)
    with pytest.raises(KeyError, match="known labels"):
        WaveformDataModule(str(path), schema=schema, targets=["low_avse"])


def _generating_datamodule(tmp_path, **kwargs) -> WaveformDataModule:
    """A data module whose files do not exist yet and are made by ``fake_generate``."""
    out = tmp_path / "sim"
    gen = {"_target_": f"{__name__}.fake_generate", "out_dir": str(out), "n_train_files": 2}
    return WaveformDataModule(
        str(out / "MJD_Train_*.hdf5"),
        str(out / "MJD_Test_*.hdf5"),
        schema=SCHEMA,
        targets=["lq"],
        generate=gen,
        cache_dir=tmp_path / "c",
        **{"preprocess": PRE, **kwargs},
    )


def test_generate_called_when_missing(tmp_path):
    dm = _generating_datamodule(tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.split_metadata("train")["id"]) + len(dm.split_metadata("val")["id"]) == 200


class _ShapeOnly(L.LightningModule):
    """Sized from ``input_shape`` before any setup; reads positive_fraction in setup('fit')."""

    def __init__(self, shape):
        super().__init__()
        self.net = torch.nn.Linear(shape[0] * shape[1], 1)
        self.pos_frac, self.test_ids = None, []

    def setup(self, stage):
        if stage == "fit":
            self.pos_frac = self.trainer.datamodule.positive_fraction("lq")

    def training_step(self, batch, _):
        return self.net(batch["waveform"].flatten(1)).mean()

    def test_step(self, batch, _):
        self.test_ids.append(batch["id"])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_trainer_drives_prepare_and_setup(tmp_path):
    dm = _generating_datamodule(tmp_path, preprocess=dict(PRE, standardize=True), batch_size=50)
    model = _ShapeOnly(dm.input_shape)  # no prepare_data/setup before the Trainer
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    assert model.pos_frac == pytest.approx(dm.split_metadata("train")["lq"].mean())
    assert dm.scaler.fitted
    trainer.test(model, datamodule=dm)
    test_ids = torch.cat(model.test_ids).numpy()
    np.testing.assert_array_equal(test_ids, dm.split_metadata("test")["id"])


def fake_generate(out_dir: str, n_train_files: int) -> None:
    import pathlib

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n_train_files):
        write_file(out / f"MJD_Train_{i}.hdf5", n=100, seed=i, id_offset=100 * i)
    write_file(out / "MJD_Test_0.hdf5", n=50, seed=9, id_offset=900)


def test_hydra_instantiate_from_preset(files, tmp_path):
    import os

    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = os.path.join(os.path.dirname(__file__), "..", "conf")
    with initialize_config_dir(config_dir=os.path.abspath(conf), version_base="1.3"):
        pre = compose(config_name="preprocess/current").preprocess
        data = compose(config_name="data/simulated").data
    cfg = OmegaConf.merge(
        data,
        {
            "train_files": str(files / "MJD_Train_*.hdf5"),
            "test_files": str(files / "MJD_Test_0.hdf5"),
            "targets": ["low_avse"],
            "seed": 0,
            "cache_dir": str(tmp_path / "c"),
            "schema": {"trace_length": 600},
            "generate": None,
            "preprocess": OmegaConf.merge(
                pre, {"baseline": {"stop": 150}, "window": {"offset": -100, "length": 300}}
            ),
        },
    )
    dm = instantiate(cfg, _recursive_=False, _convert_="all")  # as the run layer does
    dm.setup("fit")
    assert dm.input_shape == (2, 300)
    assert next(iter(dm.train_dataloader()))["waveform"].shape == (256, 2, 300)
