"""Label sources (cut, truth, lines) and the energy-leakage protection of ``labels=lines``.

Every source is checked on a constructed file whose right answer is known event by event;
the protection is checked on a constructed example where energy alone (through the
signal-to-noise ratio) separates the populations, so a network can only learn energy.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from psdlab.data import DataError, WaveformDataModule
from psdlab.data.labels import LineLabels, NoiseMatch, make_label_source, score_energy_correlation

try:
    from _synthetic import PRE, SCHEMA, make_arrays
    from conftest import compose_config
except ImportError:  # tests/ imported as a package
    from tests._synthetic import PRE, SCHEMA, make_arrays
    from tests.conftest import compose_config

# energies (keV) cycled over the events: in the DEP, Bi212, SEP, FEP windows, in a DEP side
# band, and outside every window
ENERGIES = np.array([1592.5, 1620.0, 2103.0, 2614.5, 1582.0, 1000.0, 2400.0, 500.0])
IN_WINDOW = np.array([True, True, True, True, False, False, False, False])
LINE_LABEL = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)


def write_constructed(
    path: Path, n: int, seed: int, id_offset: int, truth: bool = True, labelled: bool = True
) -> dict[str, np.ndarray]:
    """A file with the ENERGIES pattern and known truth; returns what was written."""
    d = make_arrays(n, 600, seed, id_offset)
    d["energy_label"] = np.resize(ENERGIES, n)
    rng = np.random.default_rng(seed + 10)
    tr = {
        "single_site": rng.random(n) < 0.5,
        "event_class": rng.integers(0, 5, n).astype(np.int64),
        "surface_alpha": rng.random(n) < 0.2,
    }
    with h5py.File(path, "w") as f:
        for k, v in d.items():
            if labelled or not k.startswith("psd_label_"):
                f.create_dataset(k, data=v)
        if truth:
            for k, v in tr.items():
                f.create_dataset(f"truth/{k}", data=v)
    return {**d, **{f"truth/{k}": v for k, v in tr.items()}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    written = {
        "train": write_constructed(d / "train.hdf5", 320, 1, 0),
        "test": write_constructed(d / "test.hdf5", 160, 2, 10_000),
    }
    write_constructed(d / "real.hdf5", 160, 3, 20_000, truth=False)
    write_constructed(d / "npml.hdf5", 160, 4, 30_000, truth=False, labelled=False)
    return d, written


def make_dm(d: Path, tmp_path: Path, labels, targets=("low_avse",), **kw) -> WaveformDataModule:
    args = {
        "train_files": str(d / "train.hdf5"),
        "test_files": str(d / "test.hdf5"),
        "schema": SCHEMA,
        "targets": list(targets),
        "preprocess": PRE,
        "batch_size": 32,
        "cache_dir": tmp_path / "cache",
        "labels": labels,
        "seed": 0,
    }
    args.update(kw)
    return WaveformDataModule(**args)


def by_id(written: dict, ids: np.ndarray, key: str, offset: int) -> np.ndarray:
    return np.asarray(written[key])[ids - offset]


def test_cut_is_the_files_labels(files, tmp_path):
    d, written = files
    dm = make_dm(d, tmp_path, None, targets=("low_avse", "dcr"))
    assert make_label_source(None).name == "cut"
    for split in ("train", "val"):
        ds = dm._dataset(split)
        for k, t in enumerate(("low_avse", "dcr")):
            want = by_id(written["train"], ds.ids, f"psd_label_{t}", 0)
            np.testing.assert_array_equal(ds.labels[:, k], want.astype(np.float32))
        assert ds.weight is None and ds.augment is None
    batch = next(iter(dm.test_dataloader()))
    assert "weight" not in batch


def test_truth_labels_each_target(files, tmp_path):
    d, written = files
    targets = ("low_avse", "high_avse", "dcr", "lq")
    dm = make_dm(d, tmp_path, {"name": "truth"}, targets=targets)
    ds = dm._dataset("train")
    tr = {
        k: by_id(written["train"], ds.ids, f"truth/{k}", 0)
        for k in ("single_site", "event_class", "surface_alpha")
    }
    want = np.stack(
        [tr["single_site"], tr["event_class"] != 2, ~tr["surface_alpha"], tr["event_class"] != 4],
        axis=1,
    )
    np.testing.assert_array_equal(ds.labels, want.astype(np.float32))
    test = dm._dataset("test")  # every test event, truth labels, no weights
    assert len(test) == 160 and test.weight is None


def test_truth_on_a_file_without_truth_names_the_file(files, tmp_path):
    d, _ = files
    dm = make_dm(d, tmp_path, "truth", test_files=str(d / "real.hdf5"))
    with pytest.raises(DataError) as err:
        dm.setup("test")
    msg = str(err.value)
    assert "real.hdf5" in msg and "truth" in msg and "\n" not in msg


def test_lines_labels_windows_and_weights(files, tmp_path):
    d, _ = files
    dm = make_dm(d, tmp_path, {"name": "lines", "leakage": {"noise_match": False}})
    dm.setup("fit")
    n_used = int(IN_WINDOW.sum()) * 320 // len(ENERGIES)
    ids = np.concatenate([dm._dataset(s).ids for s in ("train", "val")])
    labels = np.concatenate([dm._dataset(s).labels[:, 0] for s in ("train", "val")])
    assert len(ids) == n_used  # events outside every window are not trained on
    kind = ids % len(ENERGIES)
    assert IN_WINDOW[kind].all()
    np.testing.assert_array_equal(labels, LINE_LABEL[kind])
    summary = dm.label_summary["train"]
    assert summary["n_used"] == n_used and summary["n_events"] == 320
    assert summary["n_signal"] == 40 and summary["n_background"] == 120
    dep = next(c for c in summary["lines"] if c["line"] == "DEP")
    assert (
        dep["n_window"] == 40 and dep["n_sideband"] == 40 and dep["net_peak"] == 0.0
    )  # side bands as wide as the window
    # testing scores every event; the unlabelled ones carry weight 0
    test = dm._dataset("test")
    assert len(test) == 160
    kind = (test.ids - 10_000) % len(ENERGIES)
    np.testing.assert_array_equal(test.weight, IN_WINDOW[kind].astype(np.float32))
    np.testing.assert_array_equal(test.labels[:, 0], LINE_LABEL[kind])
    batch = next(iter(dm.test_dataloader()))
    assert batch["weight"].shape == batch["id"].shape


def test_lines_needs_only_energies_and_the_multisite_target(files, tmp_path):
    d, _ = files
    dm = make_dm(d, tmp_path, "lines", train_files=str(d / "npml.hdf5"))
    dm.setup("fit")  # no psd_label_* and no truth in the file: fine
    assert len(dm._dataset("train")) + len(dm._dataset("val")) == 80
    with pytest.raises(DataError, match="one target"):
        make_dm(d, tmp_path, "lines", targets=("low_avse", "dcr"))
    with pytest.raises(DataError, match="overlap"):
        LineLabels(half_width=20.0)
    with pytest.raises(DataError, match=r"labels\.name"):
        make_label_source({"name": "oracle"})


def test_weighted_loss_ignores_unlabelled_events():
    from psdlab.tasks.losses import binary_loss

    logits = torch.tensor([[2.0], [-1.0], [5.0]])
    y = torch.tensor([[1.0], [0.0], [0.0]])
    w = torch.tensor([1.0, 1.0, 0.0])
    for form in ("bce", "bce_logits"):
        want = binary_loss(logits[:2], y[:2], form)
        torch.testing.assert_close(binary_loss(logits, y, form, sample_weight=w), want)


def test_noise_match_brings_every_event_to_the_reference_snr():
    rng = np.random.default_rng(0)
    energy = np.array([1000.0, 1592.5, 2614.5, 5000.0] * 50)
    sigma = 0.01 * 1592.5 / energy  # minmax-normalised pulses: noise ~ 1 / energy
    x = (rng.standard_normal((200, 1, 400)) * sigma[:, None, None]).astype(np.float32)
    x[..., 100:] += 1.0
    match = NoiseMatch(1592.5, 80, seed=0, deterministic=False, minmax=False)
    out = match(x, energy, np.arange(200))
    noise = out[..., :100].std(axis=-1)[:, 0]
    for e in (1592.5, 2614.5, 5000.0):
        assert noise[energy == e].mean() == pytest.approx(0.01, rel=0.05)
    np.testing.assert_array_equal(out[energy <= 1592.5], x[energy <= 1592.5])
    val = NoiseMatch(1592.5, 80, seed=0, deterministic=True, minmax=False)
    np.testing.assert_array_equal(val(x, energy, np.arange(200)), val(x, energy, np.arange(200)))


def test_noise_match_over_a_range_of_target_energies():
    rng = np.random.default_rng(1)
    energy = np.full(4000, 2614.5)
    x = (rng.standard_normal((4000, 1, 300)) * 0.01 * 1592.5 / 2614.5).astype(np.float32)
    match = NoiseMatch(
        1592.5, 100, seed=0, deterministic=False, minmax=False, min_reference_kev=500.0
    )
    noise = match(x, energy, np.arange(4000))[..., :100].std(axis=-1)[:, 0]
    # relative noise of pulses between 500 and 1592.5 keV: 0.01 .. 0.0318
    lo, hi = np.percentile(noise, [2, 98])
    assert lo == pytest.approx(0.0102, rel=0.1) and hi == pytest.approx(0.031, rel=0.1)
    with pytest.raises(DataError):
        NoiseMatch(1592.5, 100, seed=0, deterministic=False, min_reference_kev=2000.0)


def _snr_only_file(path: Path, n: int, seed: int, id_offset: int) -> None:
    """DEP and FEP events with the same pulse shape: only the noise/amplitude differs."""
    rng = np.random.default_rng(seed)
    energy = np.where(np.arange(n) % 2 == 0, 1592.5, 2614.5) + rng.uniform(-1, 1, n)
    t = np.arange(600)
    pulse = 2.5 * energy[:, None] / (1 + np.exp(-np.clip((t - 250) / 10.0, -50, 50)))
    wf = 1000.0 + pulse + rng.normal(0, 150.0, (n, 600))
    with h5py.File(path, "w") as f:
        f["raw_waveform"] = wf
        f["energy_label"] = energy
        f["tp0"] = np.full(n, 200, np.int64)
        f["id"] = np.arange(id_offset, id_offset + n, dtype=np.int64)


def _train_and_score(dm: WaveformDataModule, epochs: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A small CNN trained on the data module's batches; (test scores, test energies)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(1, 8, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 1)
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-2)
    for epoch in range(epochs):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(batch["waveform"])[:, 0], batch["labels"][:, 0]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    scores, energies = [], []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            scores.append(torch.sigmoid(net(batch["waveform"])[:, 0]).numpy())
            energies.append(batch["energy"].numpy())
    return np.concatenate(scores), np.concatenate(energies)


def test_noise_match_reduces_score_energy_correlation(tmp_path):
    _snr_only_file(tmp_path / "train.hdf5", 600, 0, 0)
    _snr_only_file(tmp_path / "test.hdf5", 400, 1, 10_000)
    corr = {}
    for protect in (False, True):
        dm = make_dm(
            tmp_path,
            tmp_path,
            {"name": "lines", "leakage": {"noise_match": protect}},
            val_fraction=0.0,
        )
        score, energy = _train_and_score(dm)
        corr[protect] = abs(score_energy_correlation(score, energy))
    assert corr[False] > 0.5  # energy (via the SNR) alone separates the populations
    assert corr[True] < 0.5 * corr[False]


@pytest.mark.parametrize("option", ["cut", "truth", "lines"])
def test_labels_group_composes_into_the_data_module(tmp_path, option):
    paths = {"output_dir": tmp_path / "run", "data_dir": tmp_path / "data"}
    cfg = compose_config("train", [f"labels={option}"], paths)
    assert cfg.data.labels.name == option
    dm = instantiate(cfg.data, _recursive_=False, _convert_="all")
    assert dm.label_source.name == option


def test_energy_leakage_tells_an_energy_score_from_a_topology_score():
    """A score that is the energy leaks (energy AUC 1, uneven SS acceptance); one that is
    the topology plus noise does not (AUC 0.5, flat acceptance); the report carries both."""
    from psdlab.data.labels import energy_leakage
    from psdlab.report.psd import psd_section

    rng = np.random.default_rng(11)
    n = 20000
    energy = rng.uniform(1000, 2700, n)
    single = rng.random(n) < 0.5
    topology = single + rng.normal(0, 0.5, n)
    by_energy = -energy + rng.normal(0, 1, n)
    cut = np.quantile(topology, 0.3)
    flat = energy_leakage(topology, energy, single, passed=topology > cut)
    leaky = energy_leakage(by_energy, energy, single, passed=by_energy > -1850)
    assert abs(flat["single_site"]) < 0.05 and abs(flat["energy_auc_single_site"] - 0.5) < 0.03
    assert leaky["single_site"] < -0.95 and leaky["energy_auc_single_site"] < 0.01
    bins = [k for k in flat if k.startswith("ss_kept_")]
    assert len(bins) == 4
    assert np.ptp([flat[k] for k in bins]) < 0.05
    assert leaky["ss_kept_1000_1400"] == 1.0 and leaky["ss_kept_2200_2700"] == 0.0

    sec, _ = psd_section("low_avse", topology, None, by_energy, energy, {"single_site": single})
    report = sec["truth"]["energy_leakage"]
    assert report["network"]["energy_auc_single_site"] == pytest.approx(
        flat["energy_auc_single_site"]
    )
    assert report["classical"]["single_site"] < -0.95
