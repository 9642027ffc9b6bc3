"""``WaveformDataModule``: HDF5 files in, batches of preprocessed tensors out.

The flow: resolve the file lists (generating simulated files first when configured and
missing), build or reuse one on-disk cache per file set (:mod:`psdlab.data.cache`), select
events (valid, energy window, labels present), split the training events into train/val
(:mod:`psdlab.data.split`), fit the optional standard scaler on the train split only, and
serve batches as slices of in-memory or memory-mapped arrays through an index-batch sampler
(:mod:`psdlab.data.sampler`). Test files are only ever used by the test/predict loaders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import psutil
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, Dataset

from psdlab.data.cache import CachedArrays, load_or_build
from psdlab.data.errors import DataError
from psdlab.data.preprocess import Preprocessor, StandardScaler
from psdlab.data.reader import resolve_files
from psdlab.data.sampler import IndexBatchSampler
from psdlab.data.schema import DataSchema
from psdlab.data.split import split_indices, strata_codes
from psdlab.utils.config import to_plain

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test", "predict")


class BatchDataset(Dataset):
    """Indexed by an int array of split positions; returns one whole batch as a dict."""

    def __init__(
        self,
        waveform: np.ndarray,
        rows: np.ndarray,
        ids: np.ndarray,
        labels: np.ndarray | None,
        energy: np.ndarray | None,
        scaler: StandardScaler | None,
    ) -> None:
        self.waveform, self.rows, self.ids = waveform, rows, ids
        self.labels, self.energy, self.scaler = labels, energy, scaler

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, pos: np.ndarray | int) -> dict[str, torch.Tensor]:
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        pos = np.sort(pos)  # order inside a batch is irrelevant; sorted rows read faster
        wf = self.waveform[self.rows[pos]]
        x = torch.from_numpy(np.ascontiguousarray(wf, dtype=np.float32))
        if self.scaler is not None and self.scaler.fitted:
            x = self.scaler.transform(x)
        batch = {"waveform": x, "id": torch.from_numpy(self.ids[pos])}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[pos])
        if self.energy is not None:
            batch["energy"] = torch.from_numpy(self.energy[pos])
        return batch


@dataclass
class _Source:
    """Selected events of one file set; per-event arrays are compact (position-indexed)."""

    cache: CachedArrays
    waveform: np.ndarray  # backing array (in RAM: compact; memory map: full cache)
    rows: np.ndarray  # position -> row of ``waveform``
    cache_rows: np.ndarray  # position -> row of the cache
    labels: np.ndarray | None  # (n, K) float32 in targets order
    energy: np.ndarray | None


class WaveformDataModule(L.LightningDataModule):
    """Batches of preprocessed waveforms from MJD-layout (or schema-described) HDF5 files.

    See docs/architecture.md for the batch contract and ``conf/data/*.yaml`` for the keys.
    """

    def __init__(
        self,
        train_files: str | Sequence[str] | None = None,
        test_files: str | Sequence[str] | None = None,
        predict_files: str | Sequence[str] | None = None,
        schema: Mapping[str, Any] | DataSchema | None = None,
        targets: Sequence[str] = (),
        preprocess: Preprocessor | Mapping[str, Any] | None = None,
        energy_range: Sequence[float | None] | None = None,
        val_fraction: float = 0.2,
        split_group: str | None = None,
        stratify: bool = True,
        sampling: str = "random",
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
        seed: int = 0,
        cache_dir: str | os.PathLike = "cache",
        cache_dtype: str = "float32",
        in_memory: bool | str = "auto",
        drop_last: bool = False,
        generate: Mapping[str, Any] | None = None,
        on_bad_event: str = "drop",
        balance_target: str | None = None,
        energy_bin_kev: float = 25.0,
        chunk_mb: float = 64.0,
    ) -> None:
        super().__init__()
        schema = to_plain(schema)
        self.schema = schema if isinstance(schema, DataSchema) else DataSchema.from_dict(schema)
        self.targets = list(to_plain(targets) or [])
        for t in self.targets:
            self.schema.label_dataset(t)  # unknown logical label -> clear KeyError now
        self.preprocessor = Preprocessor.from_config(to_plain(preprocess))
        self.train_files, self.test_files = to_plain(train_files), to_plain(test_files)
        self.predict_files = to_plain(predict_files)
        er = to_plain(energy_range)
        if er is not None and (len(er) != 2):
            raise DataError(f"energy_range must be [lo, hi] keV (null = open), got {er}")
        self.energy_range = None if er is None else (er[0], er[1])
        if on_bad_event not in ("drop", "raise"):
            raise DataError(f"on_bad_event must be drop|raise, got '{on_bad_event}'")
        if split_group not in (None, "run_number", "detector"):
            raise DataError(f"split_group must be null|run_number|detector, got '{split_group}'")
        if str(in_memory) not in ("auto", "True", "False", "true", "false"):
            raise DataError(f"in_memory must be auto|true|false, got '{in_memory}'")
        self.val_fraction, self.split_group, self.stratify = val_fraction, split_group, stratify
        self.sampling, self.batch_size = sampling, int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers, self.seed, self.cache_dir = int(num_workers), int(seed), Path(cache_dir)
        self.pin_memory = torch.cuda.is_available() if pin_memory == "auto" else bool(pin_memory)
        self.cache_dtype, self.in_memory, self.drop_last = cache_dtype, in_memory, drop_last
        self.generate = to_plain(generate)
        self.on_bad_event, self.energy_bin_kev, self.chunk_mb = (
            on_bad_event,
            energy_bin_kev,
            chunk_mb,
        )
        self.balance_target = balance_target or (self.targets[0] if self.targets else None)
        self.scaler = StandardScaler() if self.preprocessor.standardize else None
        self._sources: dict[str, _Source] = {}
        self._positions: dict[str, np.ndarray] = {}
        self._input_shape: tuple[int, int] | None = None

    # ------------------------------------------------------------------ files and caches
    def _maybe_generate(self) -> None:
        """Call the ``generate`` target when any train/test file is missing."""
        if not self.generate:
            return
        try:
            resolve_files(self.train_files, "train")
            resolve_files(self.test_files, "test")
            return
        except DataError:
            pass
        from hydra.utils import instantiate

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.cache_dir / "generate.lock")):
            try:  # another process may have generated them while we waited
                resolve_files(self.train_files, "train")
                resolve_files(self.test_files, "test")
                return
            except DataError:
                log.info("input files missing: generating them with %s", self.generate["_target_"])
                instantiate(dict(self.generate))

    def _files(self, role: str) -> list[Path]:
        spec = {"train": self.train_files, "test": self.test_files}.get(role)
        if role == "predict":
            spec = self.predict_files if self.predict_files is not None else self.test_files
        files = resolve_files(spec, role)
        if not files:
            raise DataError(f"no {role} files configured (data.{role}_files)")
        return files

    def _cache(self, role: str) -> CachedArrays:
        return load_or_build(
            self.cache_dir,
            self._files(role),
            self.preprocessor,
            self.schema,
            self.cache_dtype,
            self.chunk_mb,
        )

    def prepare_data(self) -> None:
        """Generate missing simulated files and build the caches once (rank 0)."""
        self._maybe_generate()
        for role in ("train", "test"):
            spec = self.train_files if role == "train" else self.test_files
            if spec is not None:
                self._cache(role)

    # ------------------------------------------------------------------ selection
    def _check_bad(self, cache: CachedArrays) -> None:
        bad = cache.meta["n_nonfinite"] + cache.meta["n_bad_tp0"]
        if not bad:
            return
        parts = []
        for f in cache.meta["files"]:
            if f["n_nonfinite"]:
                parts.append(
                    f"{f['path']} [dataset '{self.schema.waveform}']: {f['n_nonfinite']} events "
                    "with NaN/Inf in the used samples (or non-positive energy)"
                )
            if f["n_bad_tp0"]:
                parts.append(
                    f"{f['path']} [dataset '{self.schema.tp0}']: {f['n_bad_tp0']} events whose "
                    f"tp0 puts the window (offset {self.preprocessor.window.offset}, length "
                    f"{self.preprocessor.window.length}) outside the trace"
                )
        if self.on_bad_event == "raise":
            bad_ids = cache.ids[~cache.valid][:5].tolist()
            raise DataError("; ".join(parts) + f" (first bad ids {bad_ids}; on_bad_event=raise)")
        log.warning("dropping %d bad events: %s", bad, "; ".join(parts))

    def _source(self, role: str, need_labels: bool) -> _Source:
        if role in self._sources:
            return self._sources[role]
        cache = self._cache(role)
        self._check_bad(cache)
        files = cache.meta["files"]
        if need_labels:
            for t in self.targets:
                if t not in cache.labels:
                    lacking = [f["path"] for f in files if t not in f["labels"]]
                    raise DataError(
                        f"{lacking[0]} [dataset '{self.schema.label_dataset(t)}']: label "
                        f"'{t}' needed for {role} but missing (also in {len(lacking) - 1} "
                        "other file(s)); unlabelled files can only be used for prediction"
                    )
            if cache.energy is None:
                lacking = [f["path"] for f in files if not f["has_energy"]]
                raise DataError(
                    f"{lacking[0]} [dataset '{self.schema.energy}']: energy needed for {role} "
                    "but missing; unlabelled files can only be used for prediction"
                )
        sel = cache.valid.copy()
        if self.energy_range is not None:
            if cache.energy is None:
                log.warning("energy_range ignored for %s: files have no energy dataset", role)
            else:
                lo, hi = self.energy_range
                if lo is not None:
                    sel &= cache.energy >= lo
                if hi is not None:
                    sel &= cache.energy < hi
        rows = np.flatnonzero(sel)
        if len(rows) == 0:
            raise DataError(
                f"empty selection for {role}: files {cache.files}; {int(cache.valid.sum())} of "
                f"{len(cache.valid)} events valid, energy_range={self.energy_range} "
                f"[dataset '{self.schema.energy}']"
            )
        have_labels = all(t in cache.labels for t in self.targets) and bool(self.targets)
        labels = (
            np.stack([cache.labels[t][rows] for t in self.targets], axis=1).astype(np.float32)
            if have_labels
            else None
        )
        energy = None if cache.energy is None else np.asarray(cache.energy[rows], np.float32)
        if self._load_in_memory(len(rows), cache):
            wave, wrows = np.ascontiguousarray(cache.waveform[rows]), np.arange(len(rows))
        else:
            wave, wrows = cache.waveform, rows
        self._input_shape = tuple(cache.meta["shape"])
        src = _Source(cache, wave, wrows, rows, labels, energy)
        self._sources[role] = src
        return src

    def _load_in_memory(self, n: int, cache: CachedArrays) -> bool:
        mode = str(self.in_memory).lower()
        if mode in ("true", "false"):
            return mode == "true"
        need = n * int(np.prod(cache.waveform.shape[1:])) * cache.waveform.dtype.itemsize
        return need < 0.5 * psutil.virtual_memory().available

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str | None = None) -> None:
        """Load caches and split; ``fit``/``validate`` need train files, ``test`` test files."""
        self._maybe_generate()
        if stage in (None, "fit", "validate"):
            self._setup_train()
        if stage in (None, "test"):
            self._source("test", need_labels=True)
            self._positions["test"] = np.arange(len(self._sources["test"].rows))
        if stage == "predict":
            src = self._source("predict", need_labels=False)
            self._positions["predict"] = np.arange(len(src.rows))

    def _setup_train(self) -> None:
        if "train" in self._positions:
            return
        src = self._source("train", need_labels=True)
        n = len(src.rows)
        groups = None
        if self.split_group is not None:
            if self.split_group not in src.cache.metadata:
                raise DataError(
                    f"split_group={self.split_group}: dataset "
                    f"'{self.schema.metadata.get(self.split_group, self.split_group)}' missing "
                    f"in {src.cache.files}"
                )
            groups = src.cache.metadata[self.split_group][src.cache_rows]
        strata = strata_codes(src.labels) if self.stratify else None
        tr, va = split_indices(n, self.val_fraction, self.seed, strata, groups)
        if len(tr) == 0:
            raise DataError(f"empty training split (val_fraction={self.val_fraction}, n={n})")
        self._positions["train"], self._positions["val"] = tr, va

    def _ensure_scaler(self) -> None:
        """Fit the scaler lazily, on the train split only (after a checkpoint restore, never)."""
        if self.scaler is None or self.scaler.fitted:
            return
        self._setup_train()
        src = self._sources["train"]
        self.scaler.fit(src.waveform, src.rows[self._positions["train"]])

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return int(trainer.global_rank), int(trainer.world_size)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _dataset(self, split: str) -> BatchDataset:
        if split not in self._positions:
            self.setup({"train": "fit", "val": "fit", "test": "test"}.get(split, split))
        self._ensure_scaler()
        src = self._sources["train" if split == "val" else split]
        pos = self._positions[split]
        return BatchDataset(
            src.waveform,
            src.rows[pos],
            np.ascontiguousarray(src.cache.ids[src.cache_rows[pos]]),
            None if src.labels is None else np.ascontiguousarray(src.labels[pos]),
            None if src.energy is None else np.ascontiguousarray(src.energy[pos]),
            self.scaler,
        )

    def _loader(self, split: str) -> DataLoader:
        ds = self._dataset(split)
        rank, world = self._rank_world()
        train = split == "train"
        bal = None
        if train and self.sampling != "random" and self.balance_target is not None:
            bal = ds.labels[:, self.targets.index(self.balance_target)] > 0.5
        sampler = IndexBatchSampler(
            len(ds),
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=self.drop_last and train,
            rank=rank,
            world_size=world,
            sampling=self.sampling if train else "random",
            labels=bal,
            energy=ds.energy,
            bin_width=self.energy_bin_kev,
        )
        return DataLoader(
            ds,
            batch_size=None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Non-blocking copies (the batch is in pinned memory on GPU machines)."""
        if isinstance(batch, dict):
            return {
                k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # ------------------------------------------------------------------ queries
    @property
    def input_shape(self) -> tuple[int, int]:
        """(channels, length) of ``batch['waveform']``; known after ``setup()``."""
        if self._input_shape is None:
            raise RuntimeError("input_shape is known after setup()")
        return self._input_shape

    def positive_fraction(self, target: str) -> float:
        """Share of True for ``target`` in the training split (for ``pos_weight: auto``)."""
        if target not in self.targets:
            raise KeyError(f"'{target}' is not one of the data targets {self.targets}")
        self._setup_train()
        lab = self._sources["train"].labels[self._positions["train"], self.targets.index(target)]
        return float(lab.mean())

    def pos_weight(self, target: str) -> float:
        """negatives / positives in the training split, for ``BCEWithLogitsLoss(pos_weight)``."""
        p = self.positive_fraction(target)
        return (1.0 - p) / p if p > 0 else 1.0

    def split_metadata(self, split: str) -> dict[str, np.ndarray]:
        """Per-event id, energy, tp0, detector, run_number, labels (logical names) and truth
        fields (their names in the truth group), in the unshuffled dataloader order."""
        if split not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}")
        if split not in self._positions:
            self.setup({"train": "fit", "val": "fit"}.get(split, split))
        src = self._sources["train" if split == "val" else split]
        rows = src.cache_rows[self._positions[split]]
        c = src.cache
        out: dict[str, np.ndarray] = {"id": c.ids[rows], "tp0": c.tp0[rows]}
        if c.energy is not None:
            out["energy"] = np.asarray(c.energy[rows])
        for name, arr in c.metadata.items():
            out[name] = arr[rows]
        for name, arr in c.labels.items():
            out[name] = arr[rows]
        for name, arr in c.truth.items():
            out[name] = arr[rows]
        return out

    def state_dict(self) -> dict[str, Any]:
        """The fitted scaler (tensors) so evaluation from a checkpoint uses the training one."""
        state: dict[str, Any] = {"preprocess": self.preprocessor.to_dict()}
        if self.scaler is not None:
            self._ensure_scaler()
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.scaler is not None and state_dict.get("scaler"):
            self.scaler.load_state_dict(state_dict["scaler"])
