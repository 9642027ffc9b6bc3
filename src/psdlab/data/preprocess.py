"""Vectorised waveform preprocessing: raw (n, L) traces -> network input (n, C, L').

Every step is a config switch so that sweeps can compare them; every step works on a whole
chunk of events with numpy (no per-event Python loop), so preprocessing runs at about the
speed the raw file can be read. Order of the steps:

1. baseline: subtract the mean of pre-trigger samples ``[start, stop)``;
2. pole_zero: undo the preamplifier's exponential decay (tau in us, MJD typically 72 us),
   using the closed form ``y[n] = x[n] + (1 - a) * sum_{k<n} x[k]``, ``a = exp(-dt / tau)``;
3. window: ``fixed`` (samples ``start .. start+length``, the lecture's 500-1500), ``tp0``
   (``tp0+offset .. tp0+offset+length``, aligned on the rising edge) or ``none``;
4. normalize: ``minmax`` per waveform (lecture), ``energy`` (divide by the event's energy in
   keV, so amplitude carries no energy scale but shape does) or ``none``;
5. downsample: mean of non-overlapping blocks of ``factor`` samples;
6. current: add a second channel with the first difference of the normalised waveform.

The per-sample standard scaler (``standardize``) is *not* applied here: it must be fitted on
the training split only, so the data module fits it after the split and applies it at batch
time (see :class:`StandardScaler`). That also keeps one cache valid for both settings.

An event whose used samples are NaN/Inf, whose energy is not positive (energy
normalisation), or whose tp0 puts the window outside the trace is flagged invalid; the data
module drops or rejects it according to ``on_bad_event``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from psdlab.data.errors import DataError


@dataclass
class BaselineConfig:
    enabled: bool = True
    start: int = 0
    stop: int = 500


@dataclass
class PoleZeroConfig:
    enabled: bool = False
    tau_us: float = 72.0


@dataclass
class WindowConfig:
    mode: str = "tp0"  # tp0 | fixed | none
    start: int = 500  # first sample in fixed mode
    offset: int = -200  # first sample relative to tp0 in tp0 mode
    length: int = 1000


@dataclass
class ChunkResult:
    """Output of :meth:`Preprocessor.apply` for one chunk."""

    waveform: np.ndarray  # (n, C, L') float32; invalid events are zero
    valid: np.ndarray  # (n,) bool
    n_nonfinite: int
    n_bad_tp0: int


def _sub(cfg: Any, cls: type) -> Any:
    if isinstance(cfg, cls):
        return cfg
    if cfg is None:
        return cls()
    if isinstance(cfg, bool):
        return cls(enabled=cfg)  # type: ignore[call-arg]
    return cls(**dict(cfg))


@dataclass
class Preprocessor:
    """Configured preprocessing chain; construct from Hydra (``conf/preprocess/*.yaml``)."""

    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    pole_zero: PoleZeroConfig = field(default_factory=PoleZeroConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    normalize: str = "minmax"
    downsample: int = 1
    current: bool = False
    standardize: bool = False

    def __post_init__(self) -> None:
        self.baseline = _sub(self.baseline, BaselineConfig)
        self.pole_zero = _sub(self.pole_zero, PoleZeroConfig)
        self.window = _sub(self.window, WindowConfig)
        if self.window.mode not in ("tp0", "fixed", "none"):
            raise DataError(
                f"preprocess.window.mode must be tp0|fixed|none, got '{self.window.mode}'"
            )
        if self.normalize in (None, False):
            self.normalize = "none"
        if self.normalize not in ("minmax", "energy", "none"):
            raise DataError(
                f"preprocess.normalize must be minmax|energy|none, got '{self.normalize}'"
            )
        if int(self.downsample) < 1:
            raise DataError(f"preprocess.downsample must be >= 1, got {self.downsample}")
        self.downsample = int(self.downsample)
        if self.window.mode != "none" and self.window.length < 1:
            raise DataError(f"preprocess.window.length must be >= 1, got {self.window.length}")
        if self.baseline.enabled and self.baseline.stop <= self.baseline.start:
            raise DataError("preprocess.baseline needs start < stop")

    @classmethod
    def from_config(cls, cfg: Preprocessor | Mapping[str, Any] | None) -> Preprocessor:
        """Accept an instance, a (Hydra) mapping with or without ``_target_``, or None."""
        if isinstance(cfg, Preprocessor):
            return cfg
        d = {k: v for k, v in dict(cfg or {}).items() if not str(k).startswith("_")}
        for key in ("baseline", "pole_zero", "window"):
            if key in d and isinstance(d[key], Mapping):
                d[key] = dict(d[key])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cache_config(self) -> dict[str, Any]:
        """The settings that change the cached arrays (standardize is applied at batch time)."""
        d = self.to_dict()
        d.pop("standardize")
        return d

    @property
    def channels(self) -> int:
        return 2 if self.current else 1

    def output_length(self, trace_length: int) -> int:
        length = trace_length if self.window.mode == "none" else self.window.length
        return length // self.downsample

    def output_shape(self, trace_length: int) -> tuple[int, int]:
        return self.channels, self.output_length(trace_length)

    def needs_tp0(self) -> bool:
        return self.window.mode == "tp0"

    def needs_energy(self) -> bool:
        return self.normalize == "energy"

    def apply(
        self,
        raw: np.ndarray,
        tp0: np.ndarray | None = None,
        energy: np.ndarray | None = None,
        sampling_period_ns: float = 10.0,
    ) -> ChunkResult:
        """Preprocess a chunk of raw traces (n, L); see the module docstring for the steps."""
        n, length = raw.shape
        bl_cfg, win = self.baseline, self.window
        if bl_cfg.enabled:
            if bl_cfg.stop > length:
                raise DataError(
                    f"preprocess.baseline.stop={bl_cfg.stop} exceeds the trace length {length}"
                )
            baseline = raw[:, bl_cfg.start : bl_cfg.stop].mean(axis=1, dtype=np.float64)
        else:
            baseline = np.zeros(n)

        if win.mode == "none":
            wlen = length
            start = np.zeros(n, dtype=np.int64)
        else:
            wlen = win.length
            if win.mode == "fixed":
                if win.start < 0 or win.start + wlen > length:
                    raise DataError(
                        f"preprocess.window [{win.start}, {win.start + wlen}) lies outside "
                        f"the trace of {length} samples"
                    )
                start = np.full(n, win.start, dtype=np.int64)
            else:
                if tp0 is None:
                    raise DataError("preprocess.window.mode=tp0 needs the tp0 dataset")
                tp0f = np.asarray(tp0, dtype=np.float64)
                start = np.where(np.isfinite(tp0f), tp0f, -(10**9)).astype(np.int64) + win.offset
        bad_tp0 = (start < 0) | (start + wlen > length)
        start = np.clip(start, 0, length - wlen)

        if self.pole_zero.enabled:
            end = int(start.max()) + wlen
            x = raw[:, :end].astype(np.float64) - baseline[:, None]
            a = np.exp(-sampling_period_ns / (self.pole_zero.tau_us * 1000.0))
            cs = np.cumsum(x, axis=1)
            x[:, 1:] += (1.0 - a) * cs[:, :-1]
            w = _gather(x, start, wlen, win.mode).astype(np.float32)
        else:
            w = _gather(raw, start, wlen, win.mode).astype(np.float32)
            w -= baseline.astype(np.float32)[:, None]

        bad_value = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            w = self._normalize(w, energy, bad_value)

        if self.downsample > 1:
            f = self.downsample
            m = (wlen // f) * f
            w = w[:, :m].reshape(n, m // f, f).mean(axis=2, dtype=np.float32)

        bad_value |= ~np.isfinite(w).all(axis=1)
        bad_value |= ~np.isfinite(baseline)
        if self.current:
            cur = np.empty_like(w)
            cur[:, 0] = 0.0
            np.subtract(w[:, 1:], w[:, :-1], out=cur[:, 1:])
            out = np.stack([w, cur], axis=1)
        else:
            out = w[:, None, :]
        valid = ~(bad_value | bad_tp0)
        if not valid.all():
            out[~valid] = 0.0
        return ChunkResult(
            waveform=out,
            valid=valid,
            n_nonfinite=int((bad_value & ~bad_tp0).sum()),
            n_bad_tp0=int(bad_tp0.sum()),
        )

    def _normalize(self, w: np.ndarray, energy: np.ndarray | None, bad: np.ndarray) -> np.ndarray:
        """In place on ``w`` (n, L) float32; marks events with unusable energy in ``bad``."""
        if self.normalize == "minmax":
            lo = w.min(axis=1, keepdims=True)
            span = w.max(axis=1, keepdims=True) - lo
            span[span == 0] = 1.0
            w -= lo
            w /= span
        elif self.normalize == "energy":
            if energy is None:
                raise DataError("preprocess.normalize=energy needs the energy dataset")
            e = np.asarray(energy, dtype=np.float64)
            bad |= ~(np.isfinite(e) & (e > 0))
            w /= np.where(bad, 1.0, e).astype(np.float32)[:, None]
        return w


def _gather(x: np.ndarray, start: np.ndarray, wlen: int, mode: str) -> np.ndarray:
    """Per-event windows ``x[i, start[i]:start[i]+wlen]`` as one fancy-indexing copy."""
    if mode != "tp0" or (start == start[0]).all():
        s = int(start[0]) if len(start) else 0
        return x[:, s : s + wlen]
    view = np.lib.stride_tricks.sliding_window_view(x, wlen, axis=1)
    return view[np.arange(len(start)), start]


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
