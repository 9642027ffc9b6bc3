"""Index-batch sampler: DDP sharding, balanced and energy-matched sampling, Lightning use."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DistributedSampler

from psdlab.data import WaveformDataModule
from psdlab.data.sampler import IndexBatchSampler

try:
    from _synthetic import quiet_trainer, write_file
except ImportError:  # tests/ imported as a package
    from tests._synthetic import quiet_trainer, write_file


def _all(sampler):
    return np.concatenate(list(sampler))


def test_ddp_shards_disjoint_and_cover():
    n = 1003
    for shuffle in (True, False):
        parts = [
            _all(IndexBatchSampler(n, 64, shuffle=shuffle, seed=1, rank=r, world_size=2))
            for r in range(2)
        ]
        assert not set(parts[0]) & set(parts[1])
        union = set(parts[0]) | set(parts[1])
        if shuffle:  # equal shares (DDP steps must match); at most world-1 events left out
            assert len(parts[0]) == len(parts[1]) and len(union) >= n - 1
        else:
            assert union == set(range(n))


def test_batches_are_index_arrays_and_epochs_differ():
    s = IndexBatchSampler(100, 32, shuffle=True, seed=0, drop_last=True)
    batches = list(s)
    assert len(batches) == len(s) == 3 and all(len(b) == 32 for b in batches)
    assert isinstance(s, DistributedSampler)  # Lightning leaves it alone under DDP
    s.set_epoch(1)
    assert not np.array_equal(np.concatenate(batches), _all(s))


def test_balanced_sampling():
    labels = np.zeros(1000, dtype=bool)
    labels[:100] = True
    idx = _all(IndexBatchSampler(1000, 100, shuffle=True, sampling="balanced", labels=labels))
    assert len(idx) == 1000 and labels[idx].sum() == 500


def test_energy_matched_sampling():
    rng = np.random.default_rng(0)
    energy = rng.uniform(0, 500, 4000)
    labels = rng.random(4000) < np.clip(energy / 500, 0.05, 0.95)  # class depends on energy
    idx = _all(
        IndexBatchSampler(
            4000, 128, shuffle=True, sampling="energy_matched", labels=labels, energy=energy
        )
    )
    assert len(np.unique(idx)) == len(idx)
    bins = np.floor(energy[idx] / 25).astype(int)
    for b in np.unique(bins):
        sel = labels[idx][bins == b]
        assert sel.sum() == (~sel).sum()
    # as many as possible: the rarer class count per bin
    allbins = np.floor(energy / 25).astype(int)
    expect = sum(
        2 * min(labels[allbins == b].sum(), (~labels[allbins == b]).sum())
        for b in np.unique(allbins)
    )
    assert len(idx) == expect


class _Tiny(L.LightningModule):
    def __init__(self, shape):
        super().__init__()
        self.net = torch.nn.Linear(shape[0] * shape[1], 1)
        self.seen = []

    def training_step(self, batch, _):
        self.seen.append(batch["id"])
        x = batch["waveform"].flatten(1)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            self.net(x)[:, 0], batch["labels"][:, 0]
        )

    def validation_step(self, batch, _):
        self.log("val/loss", self.net(batch["waveform"].flatten(1)).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_fit_with_balanced_sampling(tmp_path):
    f = write_file(tmp_path / "MJD_Train_0.hdf5", n=300)
    dm = WaveformDataModule(
        str(f),
        str(f),
        schema={"trace_length": 600},
        targets=["dcr"],
        preprocess={"window": {"mode": "fixed", "start": 100, "length": 200}},
        cache_dir=tmp_path / "c",
        batch_size=40,
        sampling="balanced",
    )
    dm.setup("fit")
    model = _Tiny(dm.input_shape)
    trainer = quiet_trainer(max_epochs=2)
    trainer.fit(model, datamodule=dm)
    assert len(model.seen) == 2 * 6  # 240 train events / 40, both epochs
    meta = dm.split_metadata("train")
    lab = dict(zip(meta["id"].tolist(), meta["dcr"].tolist()))
    ep = [torch.cat(model.seen[i * 6 : (i + 1) * 6]).tolist() for i in range(2)]
    assert ep[0] != ep[1]
    assert abs(np.mean([lab[i] for i in ep[0]]) - 0.5) < 0.01
