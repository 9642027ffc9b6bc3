"""Calibrations of the classical parameters: energy scale, A/E band, cut thresholds.

These follow how a calibration campaign sets cuts without truth: the energy scale comes
from fitted 228Th line positions; the single-site A/E band is located from the upper side of
the A/E distribution in energy slices (multi-site events only populate the low side); the
low A/E cut is placed so that 90 % of the double-escape peak survives, counting the peak
minus its side bands so that the Compton continuum under the DEP does not bias it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from psdlab.dsp.peaks import peak_fit

TH228_CAL_LINES = (238.6, 583.2, 1592.5, 2614.5)
DEP_KEV = 1592.5
# 228Th lines whose full-energy events are mostly multi-site (not used to locate the band)
MULTI_SITE_LINES = (583.2, 727.3, 860.6, 1620.7, 2103.5, 2614.5)


@dataclass(frozen=True)
class EnergyCalibration:
    """keV = offset + slope * uncalibrated (linear through the fitted 228Th lines)."""

    slope: float
    offset: float = 0.0

    def __call__(self, uncalibrated: np.ndarray) -> np.ndarray:
        return self.offset + self.slope * np.asarray(uncalibrated, dtype=float)

    @classmethod
    def fit(
        cls,
        uncalibrated: np.ndarray,
        lines: Sequence[float] = TH228_CAL_LINES,
        fep: float = 2614.5,
    ) -> EnergyCalibration:
        """Locate the FEP as the dominant high-energy peak, then refine on every line."""
        x = np.asarray(uncalibrated, dtype=float)
        x = x[np.isfinite(x) & (x > 0)]
        hi = x[x > np.quantile(x, 0.9)]
        counts, edges = np.histogram(hi, bins=2000)
        rough = fep / (0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1]))
        mus, kev = [], []
        for line in lines:
            c = line / rough
            try:
                fit = peak_fit(x, c, half_window=max(8.0, 0.006 * line) / rough)
            except RuntimeError:
                continue
            mus.append(fit.mu)
            kev.append(line)
        if len(mus) == 0:
            raise RuntimeError("no calibration line could be fitted")
        if len(mus) == 1:
            return cls(slope=kev[0] / mus[0])
        slope, offset = np.polyfit(mus, kev, 1)
        return cls(slope=float(slope), offset=float(offset))


def _mode(values: np.ndarray) -> float:
    """Most probable value: peak of a smoothed histogram, refined on a zoomed range."""
    lo, hi = np.quantile(values, [0.02, 0.995])
    m = float(np.median(values))
    for _ in range(3):
        counts, edges = np.histogram(values, bins=200, range=(lo, hi))
        sm = np.convolve(counts, np.ones(5) / 5, mode="same")
        k = int(np.argmax(sm))
        m = float(0.5 * (edges[k] + edges[k + 1]))
        above = values[(values > m) & (values < hi)] - m
        if above.size < 20:
            break
        w = float(np.median(above)) / 0.6745
        lo, hi = m - 5 * w, m + 5 * w
    return m


def _centre_width(s: np.ndarray, side: str) -> tuple[float, float]:
    """Band centre and width of one energy slice (see :meth:`BandCorrection.fit`)."""
    med = np.median(s)
    mad = np.median(np.abs(s - med)) * 1.4826
    if side == "upper":
        m = _mode(s)
        above = s[s > m] - m
        return m, (np.median(above) / 0.6745 if above.size > 10 else mad)
    if side == "lower":
        return med, np.median(med - s[s < med]) / 0.6745
    if side == "core":
        q25, q75 = np.quantile(s, [0.25, 0.75])
        return med, (q75 - q25) / 1.349
    q16, q84 = np.quantile(s, [0.16, 0.84])
    return med, 0.5 * (q84 - q16)


@dataclass(frozen=True)
class BandCorrection:
    """Centre and width of the signal-like band of a parameter as functions of energy.

    centre(E) = c0 + c1 E;  width(E) = sqrt(w0^2 + (w1 / E)^2): a constant intrinsic spread
    plus noise, which enters every ratio to E as 1/E. ``classifier`` expresses a value in
    band widths from the centre, so one cut value serves all energies.
    """

    c0: float
    c1: float
    w0: float
    w1: float

    def centre(self, energy: np.ndarray) -> np.ndarray:
        return self.c0 + self.c1 * np.asarray(energy, dtype=float)

    def width(self, energy: np.ndarray) -> np.ndarray:
        e = np.maximum(np.asarray(energy, dtype=float), 1.0)
        return np.sqrt(self.w0**2 + (self.w1 / e) ** 2)

    def classifier(self, energy: np.ndarray, value: np.ndarray) -> np.ndarray:
        return (np.asarray(value, dtype=float) - self.centre(energy)) / self.width(energy)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def fit(
        cls,
        energy: np.ndarray,
        value: np.ndarray,
        side: str = "upper",
        e_range: tuple[float, float] = (100.0, 2700.0),
        n_bins: int = 16,
        exclude: Sequence[float] = MULTI_SITE_LINES,
        exclude_half_width: float = 6.0,
    ) -> BandCorrection:
        """Fit the band from energy slices.

        ``side="upper"`` (A/E): the band is the mode, its width is taken from events above
        the mode, which multi-site events do not reach. ``side="lower"`` (DCR, LQ): the
        background (alphas, slow pulses) lies above, so the width comes from below.
        ``side="both"``: median and half the 16-84 % range. ``side="core"`` (DCR with
        pile-up): median and the interquartile range / 1.349, robust to a tail on either
        side (alphas above, pulses on earlier tails on both sides). Windows around ``exclude``
        (gamma lines whose events are mostly multi-site, e.g. the FEP) are left out: there
        the most probable A/E is the multi-site one, as MJD found when fitting the band in
        the Compton continuum instead.
        """
        e = np.asarray(energy, dtype=float)
        v = np.asarray(value, dtype=float)
        ok = np.isfinite(e) & np.isfinite(v) & (e > e_range[0]) & (e < e_range[1])
        for line in exclude:
            ok &= np.abs(e - line) > exclude_half_width
        e, v = e[ok], v[ok]
        edges = np.quantile(e, np.linspace(0, 1, n_bins + 1))
        ec, cen, wid = [], [], []
        for a, b in itertools.pairwise(edges):
            s = v[(e >= a) & (e < b)]
            if s.size < 50:
                continue
            m, w = _centre_width(s, side)
            ec.append(0.5 * (a + b))
            cen.append(m)
            wid.append(w)
        ec_a, cen_a, wid_a = np.array(ec), np.array(cen), np.array(wid)
        c1, c0 = np.polyfit(ec_a, cen_a, 1)
        # linear least squares in (w0^2, w1^2) on w^2 = w0^2 + w1^2 / E^2
        design = np.stack([np.ones_like(ec_a), 1.0 / ec_a**2], axis=1)
        coef, *_ = np.linalg.lstsq(design, wid_a**2, rcond=None)
        coef = np.clip(coef, 0.0, None)
        return cls(
            c0=float(c0), c1=float(c1), w0=float(np.sqrt(coef[0])), w1=float(np.sqrt(coef[1]))
        )


def sideband_survival(
    energy: np.ndarray,
    passed: np.ndarray,
    peak: float,
    half_width: float,
    sideband_gap: float | None = None,
) -> tuple[float, float]:
    """Fraction of *peak* events passing a cut, continuum removed with side bands.

    Side bands of total width equal to the peak window sit either side, ``sideband_gap``
    away, so their count estimates the continuum under the peak. Returns (fraction, error).
    """
    e = np.asarray(energy, dtype=float)
    p = np.asarray(passed, dtype=bool)
    gap = half_width if sideband_gap is None else sideband_gap
    in_peak = np.abs(e - peak) < half_width
    sb = ((e > peak - gap - 2 * half_width) & (e < peak - gap - half_width)) | (
        (e > peak + gap + half_width) & (e < peak + gap + 2 * half_width)
    )
    # two side bands of width half_width each = one peak window of width 2*half_width
    n_all = in_peak.sum() - sb.sum()
    n_pass = (in_peak & p).sum() - (sb & p).sum()
    if n_all <= 0:
        return float("nan"), float("nan")
    f = n_pass / n_all
    err = np.sqrt(max(f * (1 - f), 1e-6) / max(n_all, 1))
    return float(f), float(err)


def dep_cut_threshold(
    energy: np.ndarray,
    classifier: np.ndarray,
    keep: float = 0.90,
    peak: float = DEP_KEV,
    half_width: float = 4.0,
    upper: bool = False,
) -> float:
    """Cut value keeping ``keep`` of DEP events (peak minus side bands).

    ``upper=False``: events pass when classifier > threshold (low A/E cut);
    ``upper=True``: they pass when classifier < threshold (high A/E, LQ cuts).
    """
    e = np.asarray(energy, dtype=float)
    c = np.asarray(classifier, dtype=float)
    gap = half_width
    in_peak = np.abs(e - peak) < half_width
    sb = ((e > peak - gap - 2 * half_width) & (e < peak - gap - half_width)) | (
        (e > peak + gap + half_width) & (e < peak + gap + 2 * half_width)
    )
    cp, cs = np.sort(c[in_peak]), np.sort(c[sb])
    n_net = cp.size - cs.size
    if n_net <= 10:
        raise RuntimeError("too few DEP events above the continuum to set a cut")

    def kept(t: float) -> float:
        if upper:
            return (np.searchsorted(cp, t) - np.searchsorted(cs, t)) / n_net
        return ((cp.size - np.searchsorted(cp, t)) - (cs.size - np.searchsorted(cs, t))) / n_net

    lo, hi = float(min(cp[0], cs[0] if cs.size else cp[0])), float(cp[-1])
    lo, hi = lo - 1.0, hi + 1.0
    for _ in range(80):  # bisection on the monotone (up to fluctuations) kept fraction
        mid = 0.5 * (lo + hi)
        k = kept(mid)
        if (k > keep) != upper:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
