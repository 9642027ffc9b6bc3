"""``labels=lines``: calibration-line populations from the energy alone.

Real calibration data has no truth, and its labels are the cut. What it does have is lines
whose topology is known on average: the double-escape peak (DEP, 1592.5 keV) is ~90 %
single-site, the single-escape peak (SEP, 2103.5 keV), the 208Tl full-energy peak (FEP,
2614.5 keV) and the 212Bi line (1620.7 keV) are mostly multi-site. Events in a signal-line
window are labelled signal-like (1), events in a background-line window background (0), and
every other event is not trained on. Each population is a mixture (the Compton continuum
under the peak, the line's own minority topology), but a classifier trained between two
mixtures of the same components ranks events like the one trained on pure samples (as long
as the mixtures differ), which is what GERDA's and MJD's calibration-trained PSD rely on.

The side bands of each line estimate the continuum under its window; they are not trained on
but give each population's net peak content in the log and the run record. Because the
populations sit at different energies, a network could learn energy instead of topology; the
protection against that (on by default) is in :mod:`psdlab.data.labels.leakage`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from psdlab.data.cache import CachedArrays
from psdlab.data.errors import DataError
from psdlab.data.labels.base import Assignment, Augment, LabelSource
from psdlab.data.labels.leakage import NoiseMatch
from psdlab.data.preprocess import Preprocessor
from psdlab.data.schema import DataSchema
from psdlab.data.selection import check_energy
from psdlab.utils.config import to_plain

log = logging.getLogger(__name__)

# 228Th defaults (keV): mjd-facts.md line list
SIGNAL_LINES = {"DEP": 1592.5}
BACKGROUND_LINES = {"Bi212": 1620.7, "SEP": 2103.5, "FEP": 2614.5}
HALF_WIDTH_KEV = 4.0  # the report's peak window (psdlab.metrics.physics.PEAK_HALF_WIDTH)
SIDEBANDS_KEV = ((-12.0, -8.0), (8.0, 12.0))  # relative to the line, the report's too
LEAKAGE_DEFAULTS = {
    "noise_match": True,
    "reference_kev": None,
    "min_reference_kev": None,
    "baseline_samples": 150,
}


def _line_table(signal: Mapping[str, float], background: Mapping[str, float]) -> list[tuple]:
    """(name, centre keV, label) of every line, lowest energy first; names must be unique."""
    clash = set(signal) & set(background)
    if clash:
        raise DataError(f"labels.lines: {sorted(clash)} named both signal and background")
    lines = [(n, float(e), 1.0) for n, e in signal.items()]
    lines += [(n, float(e), 0.0) for n, e in background.items()]
    if not any(lab == 1.0 for *_, lab in lines) or not any(lab == 0.0 for *_, lab in lines):
        raise DataError("labels.lines needs at least one signal and one background line")
    return sorted(lines, key=lambda x: x[1])


class LineLabels(LabelSource):
    """Signal = events in the signal-line windows, background = in the background-line windows.

    Args:
        target: the one task target these populations label (the multi-site cut, low_avse).
        signal, background: line name -> centre (keV).
        half_width: half-width (keV) of every line's window.
        sidebands: [lo, hi] offsets (keV) from the centre of the continuum side bands.
        leakage: energy-leakage protection, see :class:`~psdlab.data.labels.leakage.NoiseMatch`
            (``noise_match``, ``reference_kev`` (null: the lowest signal line),
            ``min_reference_kev`` (null: one target energy), ``baseline_samples``).
    """

    name = "lines"

    def __init__(
        self,
        target: str = "low_avse",
        signal: Mapping[str, float] | None = None,
        background: Mapping[str, float] | None = None,
        half_width: float = HALF_WIDTH_KEV,
        sidebands: Sequence[Sequence[float]] = SIDEBANDS_KEV,
        leakage: Mapping[str, Any] | None = None,
    ) -> None:
        self.target = target
        signal = to_plain(signal) or dict(SIGNAL_LINES)
        background = to_plain(background) or dict(BACKGROUND_LINES)
        self.lines = _line_table(signal, background)
        self.half_width = float(half_width)
        self.sidebands = [(float(lo), float(hi)) for lo, hi in to_plain(sidebands)]
        self.leakage = {**LEAKAGE_DEFAULTS, **(to_plain(leakage) or {})}
        unknown = set(self.leakage) - set(LEAKAGE_DEFAULTS)
        if unknown:
            raise DataError(f"labels.leakage: unknown keys {sorted(unknown)}")
        centres = [c for _, c, _ in self.lines]
        if np.any(np.diff(centres) < 2 * self.half_width):
            raise DataError(f"labels.lines: windows of +-{self.half_width} keV overlap: {centres}")

    def check_targets(self, targets: Sequence[str]) -> None:
        if list(targets) != [self.target]:
            raise DataError(
                f"labels=lines labels one target, the multi-site cut '{self.target}'; the task's "
                f"targets are {list(targets)} (use task=avse, or labels=cut/truth)"
            )

    def check(
        self, cache: CachedArrays, role: str, targets: Sequence[str], schema: DataSchema
    ) -> None:
        check_energy(cache, role, schema)

    def windows(self, energy: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """Per-event label and used mask from ``energy`` (keV), and per-line counts."""
        e = np.asarray(energy, dtype=np.float64)
        labels = np.zeros(e.size, np.float32)
        used = np.zeros(e.size, bool)
        sb_width = sum(hi - lo for lo, hi in self.sidebands)
        counts = []
        for name, centre, lab in self.lines:
            inw = np.abs(e - centre) < self.half_width
            sb = np.zeros(e.size, bool)
            for lo, hi in self.sidebands:
                sb |= (e > centre + lo) & (e < centre + hi)
            labels[inw], used[inw] = lab, True
            cont = sb.sum() * 2 * self.half_width / sb_width if sb_width > 0 else 0.0
            counts.append(
                {
                    "line": name,
                    "kev": centre,
                    "label": int(lab),
                    "n_window": int(inw.sum()),
                    "n_sideband": int(sb.sum()),
                    "net_peak": float(inw.sum() - cont),
                }
            )
        return labels, used, counts

    def assign(self, cache: CachedArrays, rows: np.ndarray, targets: Sequence[str]) -> Assignment:
        labels, used, counts = self.windows(cache.energy[rows])
        summary = {
            "source": self.name,
            "n_events": int(rows.size),
            "n_used": int(used.sum()),
            "n_signal": int((used & (labels > 0.5)).sum()),
            "n_background": int((used & (labels < 0.5)).sum()),
            "lines": counts,
        }
        return Assignment(labels[:, None], used, summary)

    def augmentation(
        self, preprocessor: Preprocessor, seed: int, deterministic: bool
    ) -> Augment | None:
        """Noise matching to the lowest signal line (on by default), see leakage.py."""
        if preprocessor.normalize == "none" or preprocessor.amplitude_channel:
            setting = "normalize=none" if preprocessor.normalize == "none" else "amplitude_channel"
            log.warning(
                "labels=lines with preprocess.%s: the network sees the pulse amplitude, i.e. "
                "the energy, and can learn it instead of the topology",
                setting,
            )
        if not self.leakage["noise_match"]:
            return None
        ref = self.leakage["reference_kev"]
        ref = float(ref) if ref is not None else min(c for _, c, lab in self.lines if lab == 1.0)
        n = int(self.leakage["baseline_samples"])
        low = self.leakage["min_reference_kev"]
        low = None if low is None else float(low)
        return NoiseMatch.for_preprocessing(preprocessor, ref, n, seed, deterministic, low)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "lines": {n: [c, int(lab)] for n, c, lab in self.lines},
            "half_width": self.half_width,
            "sidebands": self.sidebands,
            "leakage": dict(self.leakage),
        }
