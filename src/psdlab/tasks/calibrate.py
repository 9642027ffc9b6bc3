"""Linear recalibration of a network's energy on the 228Th lines, per channel.

A spectroscopist never takes an energy estimator's scale on trust: every channel is
calibrated on the calibration source's lines, and what is left (bias vs energy) is the
residual nonlinearity. A network that sees ADC traces cannot know a channel's gain (keV per
ADC: 0.38-0.42 in MJD and in the simulator), so its raw output carries the spread of the
gains (~3 %); a linear map per channel fitted on its own line positions removes it, exactly as
the trap filter's per-channel calibration does. The line fits are
:class:`psdlab.dsp.EnergyCalibration`'s (locate 2614.5 keV, then refine on every line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from psdlab.dsp import EnergyCalibration

RECAL_LINES = (238.6, 583.2, 860.6, 1592.5, 2614.5)


@dataclass(frozen=True)
class LineRecalibration:
    """keV = offset_g + slope_g * E_net for each group g (a channel); others unchanged.

    ``default`` applies to groups that had no calibration (too few events, unseen channel).
    """

    groups: dict[int, EnergyCalibration] = field(default_factory=dict)
    default: EnergyCalibration = field(default_factory=lambda: EnergyCalibration(1.0, 0.0))

    def __call__(self, energy: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
        e = np.asarray(energy, dtype=float)
        if group is None:
            return self.default(e)
        g = np.asarray(group)
        out = self.default(e)
        for key, cal in self.groups.items():
            m = g == key
            out[m] = cal(e[m])
        return out

    def to_dict(self) -> dict[str, dict[str, float]]:
        """Plain numbers (for report.json): group -> slope/offset; ``default`` too."""
        rows = {str(k): {"slope": c.slope, "offset": c.offset} for k, c in self.groups.items()}
        rows["default"] = {"slope": self.default.slope, "offset": self.default.offset}
        return rows


def fit_recalibration(
    energy: np.ndarray,
    group: np.ndarray | None = None,
    lines: Sequence[float] = RECAL_LINES,
    min_events: int = 500,
) -> LineRecalibration:
    """Fit one linear calibration per group (and one over all events as the default).

    ``energy`` must be roughly in keV already (within ~1 % so the lines are found where
    expected); groups with fewer than ``min_events`` events, or whose lines cannot be
    fitted, use the default.
    """
    e = np.asarray(energy, dtype=float)
    default = _fit_or_identity(e, lines)
    if group is None:
        return LineRecalibration({}, default)
    g = np.asarray(group)
    cals: dict[int, EnergyCalibration] = {}
    for key in np.unique(g[np.isfinite(e)]):
        m = g == key
        if m.sum() >= min_events:
            cal = _fit_or_identity(e[m], lines)
            if cal.slope != 1.0 or cal.offset != 0.0:
                cals[int(key)] = cal
    return LineRecalibration(cals, default)


def _fit_or_identity(e: np.ndarray, lines: Sequence[float]) -> EnergyCalibration:
    """EnergyCalibration.fit on the events, the identity when it fails or is absurd."""
    try:
        cal = EnergyCalibration.fit(e, lines=lines)
    except (RuntimeError, ValueError, IndexError):
        return EnergyCalibration(1.0, 0.0)
    if not (np.isfinite(cal.slope) and 0.8 < cal.slope < 1.25 and abs(cal.offset) < 100):
        return EnergyCalibration(1.0, 0.0)
    return cal
