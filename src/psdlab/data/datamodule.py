"""``WaveformDataModule``: HDF5 files in, batches of preprocessed tensors out.

The flow: resolve the file lists (generating simulated files first when configured and
missing), build or reuse one on-disk cache per file set (:mod:`psdlab.data.cache`), select
events (valid, energy window, labels present: :mod:`psdlab.data.selection`), split the
training events into train/val (:mod:`psdlab.data.split`), label them with the configured
label source (:mod:`psdlab.data.labels`: the cut, the truth or calibration-line populations;
events a source leaves unlabelled are not trained on but are still tested), fit the optional
standard scaler
on the train split only (:mod:`psdlab.data.scaler`), and serve batches as slices of in-memory
or memory-mapped arrays (:mod:`psdlab.data.dataset`) through an index-batch sampler
(:mod:`psdlab.data.sampler`). Test files are only ever used by the test/predict loaders.

The preprocess config is turned into one frozen :class:`Preprocessor` in ``__init__``; that
object keys the caches, preprocesses them, and gives ``input_shape`` without reading a file.
Instantiate from Hydra with ``instantiate(cfg.data, _recursive_=False, _convert_="all")``:
``preprocess`` and ``generate`` stay configs, built by this module (generation lazily).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from psdlab.data.cache import CachedArrays, load_or_build
from psdlab.data.dataset import BatchDataset
from psdlab.data.dsp_targets import TargetScaling, check_dsp_targets, dsp_target_values
from psdlab.data.errors import DataError
from psdlab.data.generate import generate_missing
from psdlab.data.labels import label_rows, make_label_source
from psdlab.data.preprocess import Preprocessor
from psdlab.data.reader import resolve_files
from psdlab.data.sampler import IndexBatchSampler
from psdlab.data.scaler import StandardScaler, split_standardize
from psdlab.data.schema import DataSchema
from psdlab.data.selection import (
    Source,
    check_bad_events,
    check_choices,
    file_labels,
    make_source,
    parse_energy_range,
    select_rows,
)
from psdlab.data.split import split_indices, strata_codes, stratified_subset
from psdlab.utils.config import to_plain

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test", "predict")


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
        labels: Mapping[str, Any] | str | None = None,
        max_train_events: int | None = None,
        need_energy: bool | str | None = True,
        dsp_targets: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self._set_labels(schema, targets, labels)
        pre_cfg, standardize = split_standardize(preprocess)
        self.preprocessor = Preprocessor.from_config(pre_cfg)
        self.scaler = StandardScaler() if standardize else None
        self.train_files, self.test_files = to_plain(train_files), to_plain(test_files)
        self.predict_files, self.generate = to_plain(predict_files), to_plain(generate)
        self.energy_range = parse_energy_range(energy_range)
        check_choices(on_bad_event, split_group, in_memory)
        self.val_fraction, self.split_group, self.stratify = val_fraction, split_group, stratify
        self.sampling, self.batch_size = sampling, int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers, self.seed, self.cache_dir = int(num_workers), int(seed), Path(cache_dir)
        self.pin_memory = torch.cuda.is_available() if pin_memory == "auto" else bool(pin_memory)
        self.cache_dtype, self.in_memory, self.drop_last = cache_dtype, in_memory, drop_last
        self.on_bad_event, self.chunk_mb = on_bad_event, chunk_mb
        self.balance_target = balance_target or (self.targets[0] if self.targets else None)
        self.energy_bin_kev = energy_bin_kev
        # label-efficiency studies: a stratified, seeded subset of the train split
        self.max_train_events = None if max_train_events is None else int(max_train_events)
        # train/test need labels (and energy) only when the task trains on them: a task
        # without targets and without an energy part (pre-training) reads unlabelled files
        self.need_labels = bool(self.targets) or bool(need_energy)
        # classical parameters each batch carries for a DSP pre-training part (none: no DSP)
        self.dsp_targets = check_dsp_targets(to_plain(dsp_targets) or [])
        self._sources: dict[str, Source] = {}
        self.label_summary: dict[str, dict[str, Any]] = {}
        self._positions: dict[str, np.ndarray] = {}
        self._input_shape = self._configured_shape()

    def _set_labels(
        self, schema: Any, targets: Sequence[str], labels: Mapping[str, Any] | str | None
    ) -> None:
        """Schema, targets and label source, each checked against the others now."""
        schema = to_plain(schema)
        self.schema = schema if isinstance(schema, DataSchema) else DataSchema.from_dict(schema)
        self.targets = list(to_plain(targets) or [])
        for t in self.targets:
            self.schema.label_dataset(t)  # unknown logical label -> clear KeyError now
        self.label_source = make_label_source(labels)
        if self.targets:
            self.label_source.check_targets(self.targets)

    def _configured_shape(self) -> tuple[int, int] | None:
        """(C, L) from the preprocessing and the schema's trace length; None when a schema
        without ``trace_length`` leaves the unwindowed length to the files."""
        if self.preprocessor.window.mode == "none" and not self.schema.trace_length:
            return None
        return self.preprocessor.output_shape(self.schema.trace_length)

    # ------------------------------------------------------------------ files and caches
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
        generate_missing(self.generate, self.train_files, self.test_files, self.cache_dir)
        for role in ("train", "test"):
            spec = self.train_files if role == "train" else self.test_files
            if spec is not None:
                self._cache(role)

    def _source(self, role: str, need_labels: bool) -> Source:
        """The role's selected events, loaded once (see :mod:`psdlab.data.selection`).

        Labelled roles get the label source's labels; events it leaves unlabelled are dropped
        from training and kept, with weight 0, in the test split (every event is scored).
        """
        if role in self._sources:
            return self._sources[role]
        cache = self._cache(role)
        check_bad_events(cache, self.schema, self.preprocessor.window, self.on_bad_event)
        if need_labels:
            self.label_source.check(cache, role, self.targets, self.schema)
        rows = select_rows(cache, role, self.energy_range, self.schema)
        if self._input_shape is None:
            self._input_shape = (int(cache.meta["shape"][0]), int(cache.meta["shape"][1]))
        labels = weight = None
        if need_labels and self.targets:
            rows, a = label_rows(self.label_source, cache, rows, role, self.targets)
            self.label_summary[role] = a.summary
            labels, weight = a.labels, a.weight
        else:
            labels = file_labels(cache, rows, self.targets)
        src = make_source(cache, rows, labels, self.in_memory, weight)
        if self.dsp_targets and role != "predict":
            values = dsp_target_values(cache, self.dsp_targets, self.schema)[rows]
            src.dsp = TargetScaling.fit(values).transform(values)
        self._sources[role] = src
        return src

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str | None = None) -> None:
        """Load caches and split; ``fit``/``validate`` need train files, ``test`` test files."""
        generate_missing(self.generate, self.train_files, self.test_files, self.cache_dir)
        if stage in (None, "fit", "validate"):
            self._setup_train()
        if stage in (None, "test"):
            self._source("test", need_labels=self.need_labels)
            self._positions["test"] = np.arange(len(self._sources["test"].rows))
        if stage == "predict":
            src = self._source("predict", need_labels=False)
            self._positions["predict"] = np.arange(len(src.rows))

    def _setup_train(self) -> None:
        if "train" in self._positions:
            return
        src = self._source("train", need_labels=self.need_labels)
        groups = None
        if self.split_group is not None:
            groups = src.metadata_column(self.split_group, self.schema)
        strata = strata_codes(src.labels) if self.stratify else None
        tr, va = split_indices(len(src.rows), self.val_fraction, self.seed, strata, groups)
        if len(tr) == 0:
            raise DataError(
                f"empty training split (val_fraction={self.val_fraction}, n={len(src.rows)})"
            )
        if self.max_train_events is not None:
            tr = stratified_subset(
                tr, self.max_train_events, self.seed, None if strata is None else strata[tr]
            )
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
        augment = None
        if split in ("train", "val") and self.targets:
            augment = self.label_source.augmentation(self.preprocessor, self.seed, split == "val")
        return BatchDataset.from_source(src, self._positions[split], self.scaler, augment)

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
        """(channels, length) of ``batch['waveform']``, known right after construction.

        It follows from the preprocessing (window length, downsampling, current channel) and
        the schema's trace length, so the backbone can be sized before any file is read; the
        files must match ``schema.trace_length`` or the cache build stops with a DataError.
        """
        if self._input_shape is None:
            raise RuntimeError(
                "input_shape with preprocess.window.mode=none needs schema.trace_length "
                "(or setup())"
            )
        return self._input_shape

    def positive_fraction(self, target: str) -> float:
        """Share of True for ``target`` in the training split: the classification part's
        ``pos_weight: auto`` turns it into negatives / positives."""
        if target not in self.targets:
            raise KeyError(f"'{target}' is not one of the data targets {self.targets}")
        self._setup_train()
        lab = self._sources["train"].labels[self._positions["train"], self.targets.index(target)]
        return float(lab.mean())

    def split_metadata(self, split: str) -> dict[str, np.ndarray]:
        """Per-event id, energy, tp0, detector, run_number, labels (logical names) and truth
        fields (their names in the truth group), in the unshuffled dataloader order."""
        if split not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}")
        if split not in self._positions:
            self.setup({"train": "fit", "val": "fit"}.get(split, split))
        src = self._sources["train" if split == "val" else split]
        return src.metadata(self._positions[split])

    def preprocess_record(self) -> dict[str, Any]:
        """The preprocessing as checkpoints record it (compared when fine-tuning)."""
        return {**self.preprocessor.to_dict(), "standardize": self.scaler is not None}

    def state_dict(self) -> dict[str, Any]:
        """The fitted scaler (tensors) so evaluation from a checkpoint uses the training one."""
        state: dict[str, Any] = {"preprocess": self.preprocess_record()}
        if self.scaler is not None:
            self._ensure_scaler()
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.scaler is not None and state_dict.get("scaler"):
            self.scaler.load_state_dict(state_dict["scaler"])
