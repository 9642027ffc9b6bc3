"""The classical parameters of every cached event, as targets for self-supervised pre-training.

Masked reconstruction spends most of its loss on the slow parts of a pulse, while a PSD cut
thresholds a few quantities that DSP measures exactly: A/E (the current peak), the tail's
slope (DCR), the late charge (LQ), the drift time. Those quantities need no label: they are
computed from each pulse itself, so an encoder can learn to read them off unlabelled pulses
(real physics runs included) before it is fine-tuned on a few labelled ones, the way masked
feature prediction learns hand-made image descriptors (MaskFeat, arXiv:2112.09133).

The values are the report's own (:func:`psdlab.report.classical.read_parameters`: the dspeed
filters, pole-zero constants per file and detector), read once per cache and stored next to
it (``<cache>.dsp-<hash>.npy``, written atomically under a file lock, so parallel sweep
trials compute them once). A batch carries them standardised (:class:`TargetScaling`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from psdlab.data.cache import CachedArrays
from psdlab.data.errors import DataError
from psdlab.data.schema import DataSchema
from psdlab.utils.io import atomic_path

log = logging.getLogger(__name__)

# parameters a target may name (psdlab.dsp.PARAMETER_NAMES less the bookkeeping ones);
# trap_energy is learnt as its logarithm (the spectrum spans two decades)
DSP_TARGETS = (
    "trap_energy",
    "aoe",
    "dcr",
    "lq",
    "drift_time_ns",
    "t50",
    "t80",
    "t95",
    "t99",
    "baseline_rms",
)
LOG_TARGETS = ("trap_energy",)
DSP_TARGETS_VERSION = 1


def check_dsp_targets(names: Sequence[str]) -> list[str]:
    """The names as a list, or a DataError naming the unknown one."""
    names = list(names)
    unknown = [n for n in names if n not in DSP_TARGETS]
    if unknown:
        raise DataError(f"data.dsp_targets: unknown parameter '{unknown[0]}'; known: {DSP_TARGETS}")
    if len(set(names)) != len(names):
        raise DataError(f"data.dsp_targets: a parameter is named twice in {names}")
    return names


def _sidecar(cache: CachedArrays, names: Sequence[str]) -> Path:
    digest = hashlib.sha256(f"{DSP_TARGETS_VERSION}:{','.join(names)}".encode()).hexdigest()
    return cache.path.parent / f"{cache.path.name}.dsp-{digest[:12]}.npy"


def _compute(cache: CachedArrays, names: Sequence[str], schema: DataSchema) -> np.ndarray:
    """(N, K) float32 of every cache row, NaN where a parameter could not be computed."""
    from psdlab.report.classical import read_parameters

    out = np.full((len(cache.ids), len(names)), np.nan, dtype=np.float32)
    for i, path in enumerate(cache.files):
        rows = np.flatnonzero(np.asarray(cache.file_index) == i)
        if not len(rows):
            continue
        values = read_parameters([path], schema, np.asarray(cache.ids[rows])).values
        if not values:
            raise DataError(f"{path}: none of its cached events found again for data.dsp_targets")
        for k, name in enumerate(names):
            v = np.asarray(values[name], dtype=np.float64)
            if name in LOG_TARGETS:
                with np.errstate(invalid="ignore", divide="ignore"):
                    v = np.where(v > 0, np.log(v), np.nan)
            out[rows, k] = v
    return out


def dsp_target_values(
    cache: CachedArrays, names: Sequence[str], schema: DataSchema
) -> np.ndarray:
    """(N_cache, K) float32 raw targets of every row of ``cache``, computed once and stored."""
    names = check_dsp_targets(names)
    path = _sidecar(cache, names)
    if path.is_file():
        return np.load(path)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return np.load(path)
        log.info("data.dsp_targets: computing %s for %d events of %s", names, len(cache.ids),
                 cache.files)
        values = _compute(cache, names, schema)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, values)
    return values


@dataclass(frozen=True)
class TargetScaling:
    """Robust standardisation per target: (x - median) / (1.4826 MAD), clipped to ``clip``.

    Fitted on the selected events of one file set (the training files for train and
    validation, the test files for test): the targets only have to put every parameter on a
    comparable scale, and the tails of A/E and DCR (multi-site events, alphas) would inflate
    a standard deviation. Unmeasurable values stay NaN; the loss skips them.
    """

    median: np.ndarray
    scale: np.ndarray
    clip: float = 8.0

    @classmethod
    def fit(cls, values: np.ndarray, clip: float = 8.0) -> TargetScaling:
        with np.errstate(all="ignore"):
            med = np.nanmedian(values, axis=0)
            mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=0)
        med = np.where(np.isfinite(med), med, 0.0)
        mad = np.where(np.isfinite(mad) & (mad > 0), mad, 1.0)
        return cls(med.astype(np.float32), mad.astype(np.float32), float(clip))

    def transform(self, values: np.ndarray) -> np.ndarray:
        z = (np.asarray(values, np.float32) - self.median) / self.scale
        return np.clip(z, -self.clip, self.clip).astype(np.float32)
