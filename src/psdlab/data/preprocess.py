"""Vectorised waveform preprocessing: raw (n, L) traces -> network input (n, C, L').

Every step is a config switch so that sweeps can compare them; every step works on a whole
chunk of events with numpy (no per-event Python loop), so preprocessing runs at about the
speed the raw file can be read. Order of the steps:

1. baseline: subtract the mean of pre-trigger samples ``[start, stop)``;
2. pole_zero: undo the preamplifier's exponential decay (tau in us, MJD typically 72 us),
   using the closed form ``y[n] = x[n] + (1 - a) * sum_{k<n} x[k]``, ``a = exp(-dt / tau)``;
3. window: ``fixed`` (samples ``start .. start+length``, the lecture's 500-1500), ``tp0``
   (``tp0+offset .. tp0+offset+length``, aligned on the file's rising-edge estimate), ``rise``
   (the same from the rise point computed from the trace, see :mod:`psdlab.data.alignment`:
   no trigger jitter) or ``none``;
4. normalize: ``minmax`` per waveform (lecture), ``energy`` (divide by the event's energy in
   keV, so amplitude carries no energy scale but shape does) or ``none``;
5. downsample: mean of non-overlapping blocks of ``factor`` samples;
6. current: add a channel with the first difference of the normalised waveform;
7. amplitude_channel: add a channel holding log10 of the pulse height (the baseline-subtracted
   window's max - min, before normalisation), constant along time. Min-max normalisation
   removes the energy, but the A/E band widens at low energy (noise), so the pass/fail
   boundary on the normalised shape depends on it; as a channel every backbone gets it, and
   it comes from the trace, so it exists in unlabelled files too.

The per-sample standard scaler (``standardize`` in the same config group) is *not* a step of
this chain: it must be fitted on the training split only, so the data module takes that switch
for itself, fits :class:`psdlab.data.scaler.StandardScaler` after the split and applies it at
batch time. That also keeps one cache valid for both settings.

An event whose used samples are NaN/Inf, whose energy is not positive (energy
normalisation), whose pulse height is zero (amplitude channel), whose tp0 or rise point puts
the window outside the trace, or without a rise point (rise mode) is flagged invalid; the
data module drops or rejects it according to ``on_bad_event``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from psdlab.data.alignment import check_rise_settings, rise_points
from psdlab.data.errors import DataError
from psdlab.utils.config import to_plain


@dataclass(frozen=True)
class BaselineConfig:
    enabled: bool = True
    start: int = 0
    stop: int = 500


@dataclass(frozen=True)
class PoleZeroConfig:
    enabled: bool = False
    tau_us: float = 72.0


@dataclass(frozen=True)
class WindowConfig:
    mode: str = "tp0"  # tp0 | rise | fixed | none
    start: int = 500  # first sample in fixed mode
    offset: int = -200  # first sample relative to tp0 (tp0 mode) or the rise point (rise)
    length: int = 1000
    # rise mode (psdlab.data.alignment): the point where the smoothed trace reaches
    # rise_fraction of its maximum, searched in [tp0 - before, tp0 + after] (whole trace
    # without tp0)
    rise_fraction: float = 0.5
    rise_smooth: int = 5  # moving-average samples
    rise_search_before: int = 200
    rise_search_after: int = 600


RISE_KEYS = ("rise_fraction", "rise_smooth", "rise_search_before", "rise_search_after")
WINDOW_MODES = ("tp0", "rise", "fixed", "none")


_STEPS: dict[str, type] = {
    "baseline": BaselineConfig,
    "pole_zero": PoleZeroConfig,
    "window": WindowConfig,
}


@dataclass
class ChunkResult:
    """Output of :meth:`Preprocessor.apply` for one chunk."""

    waveform: np.ndarray  # (n, C, L') float32; invalid events are zero
    valid: np.ndarray  # (n,) bool
    n_nonfinite: int
    n_bad_tp0: int  # window not placeable: outside the trace, or no rise point (rise mode)


def _step(value: Any, cls: type) -> Any:
    """One nested step from its config: a mapping, null (defaults) or a bool (``enabled``)."""
    if isinstance(value, cls):
        return value
    if value is None:
        return cls()
    if isinstance(value, bool):
        return cls(enabled=value)  # type: ignore[call-arg]
    return cls(**value)


@dataclass(frozen=True)
class Preprocessor:
    """The configured preprocessing chain; build it with :meth:`from_config`.

    Frozen so that the object the data module builds once is the same one that keys the
    cache, sizes the network input and preprocesses every chunk: nothing can drift between
    those uses.
    """

    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    pole_zero: PoleZeroConfig = field(default_factory=PoleZeroConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    normalize: str = "minmax"
    downsample: int = 1
    current: bool = False
    amplitude_channel: bool = False

    def __post_init__(self) -> None:
        for name, cls in _STEPS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"Preprocessor.{name} must be a {cls.__name__}; use from_config")
        if self.window.mode not in WINDOW_MODES:
            raise DataError(
                f"preprocess.window.mode must be tp0|rise|fixed|none, got '{self.window.mode}'"
            )
        check_rise_settings(*(getattr(self.window, k) for k in RISE_KEYS))
        if self.normalize not in ("minmax", "energy", "none"):
            raise DataError(
                f"preprocess.normalize must be minmax|energy|none, got '{self.normalize}'"
            )
        if self.downsample < 1:
            raise DataError(f"preprocess.downsample must be >= 1, got {self.downsample}")
        if self.window.mode != "none" and self.window.length < 1:
            raise DataError(f"preprocess.window.length must be >= 1, got {self.window.length}")
        if self.baseline.enabled and self.baseline.stop <= self.baseline.start:
            raise DataError("preprocess.baseline needs start < stop")

    @classmethod
    def from_config(cls, cfg: Preprocessor | Mapping[str, Any] | None) -> Preprocessor:
        """The one conversion of a preprocess config (Hydra or plain mapping, None: defaults).

        Keys starting with ``_`` are ignored: configs saved by older runs carry ``_target_``.
        A bool for a step is its ``enabled`` switch; ``normalize: null`` means ``none``.
        """
        if isinstance(cfg, Preprocessor):
            return cfg
        d = {k: v for k, v in (to_plain(cfg) or {}).items() if not str(k).startswith("_")}
        for name, step in _STEPS.items():
            if name in d:
                d[name] = _step(d[name], step)
        if "normalize" in d and d["normalize"] in (None, False):
            d["normalize"] = "none"
        if "downsample" in d:
            d["downsample"] = int(d["downsample"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain settings: the cache key and the data module's checkpoint state use them.

        Settings that change nothing (the rise_* keys outside rise mode, an amplitude
        channel that is off) are left out, so the caches built before they existed keep
        their keys; :meth:`from_config` fills them with their defaults.
        """
        d = asdict(self)
        if self.window.mode != "rise":
            for key in RISE_KEYS:
                del d["window"][key]
        if not self.amplitude_channel:
            del d["amplitude_channel"]
        return d

    @property
    def channels(self) -> int:
        return 1 + int(self.current) + int(self.amplitude_channel)

    def output_length(self, trace_length: int) -> int:
        length = trace_length if self.window.mode == "none" else self.window.length
        return length // self.downsample

    def output_shape(self, trace_length: int) -> tuple[int, int]:
        return self.channels, self.output_length(trace_length)

    def needs_tp0(self) -> bool:
        """Whether every file must have tp0; rise mode uses it when present (search region)."""
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
        n = raw.shape[0]
        baseline = self._baseline(raw)
        start, wlen, bad_tp0 = self._window_starts(raw, baseline, tp0)
        w = self._extract(raw, baseline, start, wlen, sampling_period_ns)
        bad_value = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            amp = _log_span(w) if self.amplitude_channel else None
            w = self._normalize(w, energy, bad_value)
        w = self._downsample(w)
        bad_value |= ~np.isfinite(w).all(axis=1)
        bad_value |= ~np.isfinite(baseline)
        if amp is not None:
            bad_value |= ~np.isfinite(amp)
        out = self._channels(w, amp)
        valid = ~(bad_value | bad_tp0)
        if not valid.all():
            out[~valid] = 0.0
        return ChunkResult(
            waveform=out,
            valid=valid,
            n_nonfinite=int((bad_value & ~bad_tp0).sum()),
            n_bad_tp0=int(bad_tp0.sum()),
        )

    def _baseline(self, raw: np.ndarray, force: bool = False) -> np.ndarray:
        """(n,) float64 mean of the pre-trigger samples (zeros when the step is off, unless
        ``force``: the rise point is measured from it even when it is not subtracted)."""
        bl = self.baseline
        if not (bl.enabled or force):
            return np.zeros(raw.shape[0])
        if bl.stop > raw.shape[1]:
            raise DataError(
                f"preprocess.baseline.stop={bl.stop} exceeds the trace length {raw.shape[1]}"
            )
        return raw[:, bl.start : bl.stop].mean(axis=1, dtype=np.float64)

    def _window_starts(
        self, raw: np.ndarray, baseline: np.ndarray, tp0: np.ndarray | None
    ) -> tuple[np.ndarray, int, np.ndarray]:
        """Each event's first window sample (clipped into the trace), the window length, and
        which events' tp0 or rise point put the window outside the trace, or have no rise
        point (they become invalid)."""
        n, length = raw.shape
        win = self.window
        if win.mode == "rise":
            point, found = rise_points(
                raw,
                baseline if self.baseline.enabled else self._baseline(raw, force=True),
                tp0,
                win.rise_fraction,
                win.rise_smooth,
                win.rise_search_before,
                win.rise_search_after,
            )
            start = point + win.offset
            bad = ~found | (start < 0) | (start + win.length > length)
            return np.clip(start, 0, max(0, length - win.length)), win.length, bad
        if win.mode == "none":
            wlen, start = length, np.zeros(n, dtype=np.int64)
        elif win.mode == "fixed":
            wlen = win.length
            if win.start < 0 or win.start + wlen > length:
                raise DataError(
                    f"preprocess.window [{win.start}, {win.start + wlen}) lies outside "
                    f"the trace of {length} samples"
                )
            start = np.full(n, win.start, dtype=np.int64)
        else:
            wlen = win.length
            if tp0 is None:
                raise DataError("preprocess.window.mode=tp0 needs the tp0 dataset")
            tp0f = np.asarray(tp0, dtype=np.float64)
            start = np.where(np.isfinite(tp0f), tp0f, -(10**9)).astype(np.int64) + win.offset
        bad_tp0 = (start < 0) | (start + wlen > length)
        return np.clip(start, 0, length - wlen), wlen, bad_tp0

    def _extract(
        self,
        raw: np.ndarray,
        baseline: np.ndarray,
        start: np.ndarray,
        wlen: int,
        sampling_period_ns: float,
    ) -> np.ndarray:
        """Baseline-subtracted (and pole-zero corrected) windows, (n, wlen) float32.

        Pole-zero needs every sample before the window (a running sum), so it works on the
        trace up to the last window end in float64; otherwise only the window is copied.
        """
        if not self.pole_zero.enabled:
            w = _gather(raw, start, wlen, self.window.mode).astype(np.float32)
            w -= baseline.astype(np.float32)[:, None]
            return w
        end = int(start.max()) + wlen
        x = raw[:, :end].astype(np.float64) - baseline[:, None]
        a = np.exp(-sampling_period_ns / (self.pole_zero.tau_us * 1000.0))
        cs = np.cumsum(x, axis=1)
        x[:, 1:] += (1.0 - a) * cs[:, :-1]
        return _gather(x, start, wlen, self.window.mode).astype(np.float32)

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

    def _downsample(self, w: np.ndarray) -> np.ndarray:
        """Mean of non-overlapping blocks of ``downsample`` samples (a short tail is dropped)."""
        f = self.downsample
        if f == 1:
            return w
        n, wlen = w.shape
        m = (wlen // f) * f
        return w[:, :m].reshape(n, m // f, f).mean(axis=2, dtype=np.float32)

    def _channels(self, w: np.ndarray, amp: np.ndarray | None = None) -> np.ndarray:
        """(n, L) -> (n, C, L): the waveform, its first difference when ``current``, then
        ``amp`` (n,) as a constant channel when given."""
        if not self.current and amp is None:
            return w[:, None, :]
        chans = [w]
        if self.current:
            cur = np.empty_like(w)
            cur[:, 0] = 0.0
            np.subtract(w[:, 1:], w[:, :-1], out=cur[:, 1:])
            chans.append(cur)
        if amp is not None:
            chans.append(np.broadcast_to(amp.astype(np.float32)[:, None], w.shape))
        return np.stack(chans, axis=1)


def _log_span(w: np.ndarray) -> np.ndarray:
    """log10 of each window's max - min (n,) float64; NaN where the span is not positive."""
    span = w.max(axis=1).astype(np.float64) - w.min(axis=1)
    return np.log10(np.where(span > 0, span, np.nan))


def _gather(x: np.ndarray, start: np.ndarray, wlen: int, mode: str) -> np.ndarray:
    """Per-event windows ``x[i, start[i]:start[i]+wlen]`` as one fancy-indexing copy."""
    if len(start) == 0 or mode in ("fixed", "none") or (start == start[0]).all():
        s = int(start[0]) if len(start) else 0
        return x[:, s : s + wlen]
    view = np.lib.stride_tricks.sliding_window_view(x, wlen, axis=1)
    return view[np.arange(len(start)), start]
