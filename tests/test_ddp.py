"""The distributed path on a CPU: ``trainer=ddp_sim`` (two gloo processes, spawn) through
``psdlab.run.train.train``, from fit to test and exports, with each rank on its own shard."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import lightning as L
import numpy as np

from psdlab.run.train import train


class ShardProbe(L.Callback):
    """Saves the event ids each rank trains on (``rank<r>_epoch<e>.npy`` in ``out_dir``).

    A module-level class so that the spawned processes can unpickle it.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self._ids: list[np.ndarray] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ids = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._ids.append(batch["id"].cpu().numpy())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        ids = np.concatenate(self._ids) if self._ids else np.array([], dtype=np.int64)
        np.save(out / f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.npy", ids)
        (out / f"rank{trainer.global_rank}_world.txt").write_text(str(trainer.world_size))


def test_ddp_sim_trains_and_tests_with_sharded_data(compose_train_cfg, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    probe = tmp_path / "probe"
    cfg = compose_train_cfg(
        "trainer=ddp_sim",
        "model=mlp",
        "model.width=32",
        "debug=limit_batches",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_test_batches=1.0",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "task.log_figures_every_n_epochs=0",
        "export.model=null",
        f"+callbacks.shard_probe={{_target_:tests.test_ddp.ShardProbe,out_dir:'{probe}'}}",
        run_dir=run_dir,
    )
    score = train(cfg)

    assert score is not None and 0.0 <= score <= 1.0
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/auroc"] <= 1.0
    record = json.loads((run_dir / "run_record.json").read_text())
    assert record["best_val_score"] is not None

    assert (probe / "rank0_world.txt").read_text() == "2"
    ids0 = np.load(probe / "rank0_epoch0.npy")
    ids1 = np.load(probe / "rank1_epoch0.npy")
    assert len(ids0) == len(ids1) == 3 * cfg.data.batch_size  # equal steps on both ranks
    assert not set(ids0.tolist()) & set(ids1.tolist())  # disjoint shards

    # the prediction table holds every test event, both ranks' shards, once and in file order
    with h5py.File(run_dir / "predictions.h5", "r") as f:
        predicted = f["id"][:]
    test_ids = []
    for path in cfg.data.test_files:
        with h5py.File(path, "r") as f:
            test_ids.append(f["id"][:])
    test_ids = np.concatenate(test_ids)
    assert len(predicted) > len(test_ids) // 2  # more than rank 0's shard
    assert np.array_equal(predicted, test_ids[np.isin(test_ids, predicted)])
    assert len(np.unique(predicted)) == len(predicted) >= len(test_ids) - 5  # a few bad events
