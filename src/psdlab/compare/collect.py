"""Feature values of one set of files: decay constants first, then every feature.

Two passes over the selected events: the first fits every pulse's tail
(:func:`psdlab.dsp.decay.fit_pulse_decays`) to get each detector's decay constant, per file;
the second pole-zero-corrects each pulse with its detector's constant and computes the
features. One pass would have to pole-zero with a constant not yet known, and a wrong
constant shows up directly as a fake DCR slope and a distorted rise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from psdlab.compare.features import FEATURE_NAMES, band_normalise, pulse_features
from psdlab.compare.sources import FileSelection, iter_selected, select_events
from psdlab.data.errors import DataError
from psdlab.dsp import DSPConfig
from psdlab.dsp.decay import decay_constants_by_detector, fit_pulse_decays

MJD_TAU_US = 72.0  # typical MJD preamplifier constant (mjd-facts.md), used only as last resort


@dataclass
class SetFeatures:
    """All features of one set (arrays aligned over its selected events) and how they came."""

    label: str
    files: list[Path]
    values: dict[str, np.ndarray]
    detector: np.ndarray
    n_available: int
    decay_constants: dict[str, dict] = field(default_factory=dict)
    aoe_median_per_us: dict[int, float] = field(default_factory=dict)  # -1: whole set

    @property
    def n(self) -> int:
        return int(self.detector.size)


def file_decay_constants(
    sel: FileSelection, sampling_period_ns: float, chunk_events: int
) -> tuple[np.ndarray, dict, np.ndarray]:
    """Per-pulse tail fits of a file's selected events and the constants they give.

    Returns ``(per-pulse tau_us, record, per-event tau for pole-zero)``, the record holding
    ``{"detectors": {detector: tau_us}, "file_median_us", "pulses_fitted", "fallback"}``. A
    detector with at least one accepted pulse gets the median of its own pulses (a constant
    from a few pulses beats another setup's: the real file mixes 83 us and 170-900 us
    channels); one without any gets the file's median over all detectors, and a file without any usable
    tail MJD's typical 72 us (``fallback`` true).
    """
    rates = np.full(sel.n, np.nan)
    for where, wf in iter_selected(sel, chunk_events):
        rates[where] = fit_pulse_decays(wf, sampling_period_ns).rate_per_us
    with np.errstate(divide="ignore", invalid="ignore"):
        per_pulse = np.where(rates > 0, 1.0 / rates, np.nan)
    by_det = decay_constants_by_detector(rates, sel.detector, min_pulses=1)
    good = rates[np.isfinite(rates) & (rates > 0)]
    # no usable tail at all (only tiny pulses, say): MJD's typical constant, and say so
    file_tau = 1.0 / float(np.median(good)) if good.size else MJD_TAU_US
    tau = np.array([by_det.get(int(d), file_tau) for d in sel.detector], dtype=np.float64)
    record = {
        "detectors": by_det,
        "file_median_us": file_tau,
        "pulses_fitted": int(good.size),
        "fallback": bool(good.size == 0),
    }
    return per_pulse, record, tau


def _dsp_config(sel: FileSelection, tp0_hint: float) -> DSPConfig:
    """The classical chain's windows for this file's trace length and rising edge."""
    if sel.tp0 is not None and sel.n:
        tp0_hint = float(np.median(sel.tp0))
    return DSPConfig.for_trace(sel.info.trace_length, tp0_hint)


def _file_features(
    sel: FileSelection, sampling_period_ns: float, chunk_events: int
) -> tuple[dict[str, np.ndarray], dict]:
    per_pulse, record, tau = file_decay_constants(sel, sampling_period_ns, chunk_events)
    cfg = None
    out = {k: np.full(sel.n, np.nan) for k in FEATURE_NAMES}
    for where, wf in iter_selected(sel, chunk_events):
        if cfg is None:
            hint = float(np.median(np.argmax(np.diff(wf[:200], axis=1), axis=1)))
            cfg = _dsp_config(sel, hint)
        feats = pulse_features(
            wf,
            tau[where],
            per_pulse[where],
            None if sel.tp0 is None else sel.tp0[where],
            None if sel.energy is None else sel.energy[where],
            sampling_period_ns,
            cfg,
        )
        for k in FEATURE_NAMES:
            out[k][where] = feats[k]
    return out, record


def collect_set(
    paths: Sequence[str | os.PathLike],
    label: str,
    energy_range: tuple[float, float] | None = None,
    max_events: int | None = None,
    seed: int = 0,
    sampling_period_ns: float = 10.0,
    chunk_events: int = 1000,
) -> SetFeatures:
    """Select, read and featurise one set of files (see :func:`select_events`)."""
    sels = select_events(paths, energy_range, max_events, seed)
    per_file, taus = [], {}
    for sel in sels:
        if sel.n == 0:
            continue
        feats, record = _file_features(sel, sampling_period_ns, chunk_events)
        per_file.append(feats)
        taus[str(sel.info.path)] = record
    if not per_file:
        raise DataError(f"set '{label}': no event passes the selection in {len(sels)} file(s)")
    values = {k: np.concatenate([f[k] for f in per_file]) for k in FEATURE_NAMES}
    detector = np.concatenate([s.detector for s in sels])
    values["aoe_band"], aoe_medians = band_normalise(values["aoe_band"], detector)
    per_us = 1000.0 / sampling_period_ns
    return SetFeatures(
        label=label,
        files=[s.info.path for s in sels],
        values=values,
        detector=detector,
        n_available=sum(s.info.n_events for s in sels),
        decay_constants=taus,
        aoe_median_per_us={d: m * per_us for d, m in aoe_medians.items()},
    )
