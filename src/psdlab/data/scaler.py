"""Per-sample standardisation, fitted on the training split only.

The preprocess config's ``standardize`` switch is the data module's: unlike the cached
preprocessing chain, the scaler's statistics depend on the train/validation split, so the data
module fits it after the split (streaming over the cache, never over validation or test
events), applies it to each batch and saves it in its checkpoint state so evaluation uses the
training statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from psdlab.data.errors import DataError
from psdlab.utils.config import to_plain


def split_standardize(preprocess: Any) -> tuple[Any, bool]:
    """Take the ``standardize`` switch out of a preprocess config group.

    Returns (the rest, as a plain dict for :meth:`Preprocessor.from_config`, the switch). The
    group keeps the switch so ``preprocess=standardize`` stays one choice for the user, but the
    cached chain never sees it. Anything that is not a mapping (a built Preprocessor, None)
    passes through with the switch off.
    """
    if not isinstance(preprocess, Mapping):
        return preprocess, False
    rest = to_plain(preprocess)
    return rest, bool(rest.pop("standardize", False))


class StandardScaler:
    """Per-channel, per-sample mean and std (the lecture's sklearn StandardScaler on (n, L)).

    Fitted by streaming over the training split's rows in blocks (float64 accumulators), so
    it never needs the split in memory and never sees validation or test events. Applied to
    batches as torch ops.
    """

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        self._tmean: torch.Tensor | None = None
        self._tstd: torch.Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, waveform: np.ndarray, rows: np.ndarray, block: int = 8192) -> StandardScaler:
        """Fit on ``waveform[rows]`` (rows sorted for memory-map locality)."""
        rows = np.sort(np.asarray(rows))
        if len(rows) == 0:
            raise DataError("cannot fit the standard scaler on an empty training split")
        s = np.zeros(waveform.shape[1:], dtype=np.float64)
        s2 = np.zeros_like(s)
        for i in range(0, len(rows), block):
            x = np.asarray(waveform[rows[i : i + block]], dtype=np.float64)
            s += x.sum(axis=0)
            s2 += np.square(x).sum(axis=0)
        n = len(rows)
        mean = s / n
        var = np.maximum(s2 / n - mean**2, 0.0)
        std = np.sqrt(var)
        std[std == 0] = 1.0  # as sklearn: constant features are left unscaled
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self._tmean = self._tstd = None
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        if self._tmean is None:
            self._tmean = torch.from_numpy(self.mean)
            self._tstd = torch.from_numpy(self.std)
        return (x - self._tmean) / self._tstd

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.mean is None:
            return {}
        return {
            "mean": torch.from_numpy(self.mean.copy()),
            "std": torch.from_numpy(self.std.copy()),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not state:
            return
        self.mean = np.asarray(torch.as_tensor(state["mean"]).numpy(), dtype=np.float32)
        self.std = np.asarray(torch.as_tensor(state["std"]).numpy(), dtype=np.float32)
        self._tmean = self._tstd = None
