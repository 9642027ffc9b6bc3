"""Keeping a line-trained network from learning energy instead of topology.

The line populations sit at different energies (DEP 1592.5 keV against FEP 2614.5 keV), and
with amplitude-normalised pulses the energy still shows in the signal-to-noise ratio: the
noise of a 2614.5 keV pulse is 1.6 times smaller relative to its amplitude than a DEP pulse's.
A network can separate the populations by that alone, and then "rejects" high-energy events
whatever their topology.

``NoiseMatch`` removes that handle: each training (and validation) event above the reference
energy gets white Gaussian noise so that its noise-to-amplitude ratio equals that of a pulse
at the reference energy (the DEP). The event's own noise level is measured on its pre-trigger
samples (from first differences, so a sloping baseline does not count as noise), so nothing
about the detector's noise is assumed. Test and prediction events are never altered.
``score_energy_correlation`` measures what is left of the leakage.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import spearmanr

from psdlab.data.errors import DataError
from psdlab.data.preprocess import Preprocessor

log = logging.getLogger(__name__)


def baseline_samples_for(preprocessor: Preprocessor, wanted: int) -> int:
    """Pre-trigger samples of the preprocessed window usable to measure the noise.

    With the tp0- or rise-aligned window the rising edge starts about ``-offset`` samples in
    (divided by the downsampling); three quarters of that are taken at most, leaving room for
    tp0 jitter and, in rise mode, the part of the rise before the rise point.
    """
    w = preprocessor.window
    if w.mode not in ("tp0", "rise"):
        return wanted
    pre = -int(w.offset) // max(1, int(preprocessor.downsample))
    if pre < 8:
        raise DataError(
            f"labels.leakage.noise_match needs pre-trigger samples in the window "
            f"(preprocess.window.offset={w.offset}); set noise_match=false or a negative offset"
        )
    n = min(wanted, int(0.75 * pre))
    if n < wanted:
        log.info("noise matching measures the noise on %d pre-trigger samples", n)
    return n


class NoiseMatch:
    """Add white noise so every event's noise/amplitude equals that at ``reference_kev``.

    An event at energy E > E_ref with baseline rms s (in the preprocessed units) gets noise of
    rms ``s * sqrt((E / E_ref)^2 - 1)`` on every sample: its total rms becomes s E / E_ref,
    the relative noise of a pulse at E_ref. Events at or below E_ref are unchanged. Min-max
    normalisation is applied again afterwards (it is affine-invariant, so this equals adding
    the noise to the raw trace before preprocessing: the noise extremes set the min and max,
    and leaving them as they were would leave the SNR visible in the baseline and plateau
    levels), and the current channel is recomputed from the noisy waveform.

    With ``min_reference_kev`` the target energy is drawn per event, log-uniformly between
    it and ``reference_kev``: every population then shows the same spread of signal-to-noise
    ratios, and the network learns to rank pulses over that whole range (the lower-energy
    events it is applied to later are noisier than any DEP pulse).

    Args:
        reference_kev: energy whose signal-to-noise every event is brought down to.
        baseline_samples: leading samples of the window that hold only noise.
        seed: seed of the noise.
        deterministic: the same noise for the same batch every epoch (validation), else a
            fresh draw each call (training).
        minmax: the waveform channel is min-max normalised (preprocess.normalize=minmax).
        current: channel 1 is the first difference of channel 0 (preprocess.current).
        min_reference_kev: lower end of the per-event target energies (None: always
            ``reference_kev``).
    """

    def __init__(
        self,
        reference_kev: float,
        baseline_samples: int,
        seed: int,
        deterministic: bool,
        minmax: bool = True,
        current: bool = False,
        min_reference_kev: float | None = None,
    ) -> None:
        if reference_kev <= 0 or not 0 < (min_reference_kev or reference_kev) <= reference_kev:
            raise DataError(
                "labels.leakage: need 0 < min_reference_kev <= reference_kev, got "
                f"{min_reference_kev} and {reference_kev}"
            )
        self.min_reference_kev = None if min_reference_kev is None else float(min_reference_kev)
        self.reference_kev, self.baseline_samples = float(reference_kev), int(baseline_samples)
        self.seed, self.deterministic = int(seed), deterministic
        self.minmax, self.current = minmax, current
        self._rng = np.random.default_rng([self.seed, 1])

    @classmethod
    def for_preprocessing(
        cls,
        pre: Preprocessor,
        reference_kev: float,
        wanted: int,
        seed: int,
        deterministic: bool,
        min_reference_kev: float | None = None,
    ) -> NoiseMatch:
        """The noise matching that fits the preprocessing's window, normalisation, channels."""
        n = baseline_samples_for(pre, wanted)
        minmax = pre.normalize == "minmax"
        return cls(reference_kev, n, seed, deterministic, minmax, pre.current, min_reference_kev)

    def _targets(self, n: int, rng: np.random.Generator) -> np.ndarray | float:
        """Per-event target energies (keV): log-uniform in [min_reference, reference]."""
        if self.min_reference_kev is None:
            return self.reference_kev
        lo, hi = np.log(self.min_reference_kev), np.log(self.reference_kev)
        return np.exp(rng.uniform(lo, hi, n))

    def __call__(self, x: np.ndarray, energy: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Noise-matched copy of a batch ``x`` (B, C, L) float32 of events at ``energy``."""
        rng = self._rng
        if self.deterministic:
            rng = np.random.default_rng([self.seed, 2, int(positions[0]) if len(positions) else 0])
        target = self._targets(len(x), rng)
        f2 = np.clip((np.asarray(energy, np.float64) / target) ** 2 - 1.0, 0, None)
        if not f2.any():
            return x
        w = x[:, 0]
        # rms of the pre-trigger noise from first differences (/sqrt 2 for white noise): a
        # sloping baseline (the tail of an earlier pulse) does not inflate it
        sigma = np.diff(w[:, : self.baseline_samples], axis=-1).std(axis=-1) / np.sqrt(2.0)
        add = (sigma * np.sqrt(f2)).astype(np.float32)
        w = w + rng.standard_normal(w.shape, dtype=np.float32) * add[:, None]
        if self.minmax:
            lo = w.min(axis=1, keepdims=True)
            span = w.max(axis=1, keepdims=True) - lo
            w = (w - lo) / np.where(span == 0, 1.0, span)
        out = x.copy()
        out[:, 0] = w
        if self.current:
            out[:, 1, 0] = 0.0
            out[:, 1, 1:] = np.diff(w, axis=-1)
        return out


def score_energy_correlation(score: np.ndarray, energy: np.ndarray) -> float:
    """Spearman rank correlation of a score with the energy (0: the score says nothing of
    the energy; +-1: it is a monotonic function of it). NaN with fewer than 3 events."""
    s, e = np.asarray(score, float), np.asarray(energy, float)
    ok = np.isfinite(s) & np.isfinite(e)
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(s[ok], e[ok]).statistic)


# energy bands whose events a leaking score tells apart at fixed topology (keV): below and
# above the SEP, away from the DEP and FEP lines the line populations sit on
LOW_BAND, HIGH_BAND = (1400.0, 1800.0), (2200.0, 2700.0)
# energy bins of the single-site acceptance check (keV)
ACCEPTANCE_BINS = ((1000.0, 1400.0), (1400.0, 1800.0), (1800.0, 2200.0), (2200.0, 2700.0))


def _band_auc(score: np.ndarray, e: np.ndarray, keep: np.ndarray) -> float:
    """AUC of ``score`` for telling HIGH_BAND from LOW_BAND events among ``keep``."""
    # imported here: psdlab.metrics.physics loads psdlab.dsp (numba, ~1.7 s), which the
    # data package, importing this module, does not otherwise need
    from psdlab.metrics.physics import roc_auc

    lo = keep & (e >= LOW_BAND[0]) & (e < LOW_BAND[1])
    hi = keep & (e >= HIGH_BAND[0]) & (e < HIGH_BAND[1])
    sel = lo | hi
    return roc_auc(score[sel], hi[sel]) if sel.any() else float("nan")


def energy_leakage(
    score: np.ndarray,
    energy: np.ndarray,
    single_site: np.ndarray | None = None,
    window: tuple[float, float] = (1000.0, 2700.0),
    passed: np.ndarray | None = None,
) -> dict[str, float]:
    """How well a score alone predicts the energy, in ``window`` (keV).

    ``all``: rank correlation of score and energy over every event of the window. With truth
    (``single_site``), the same within true single-site and within true multi-site events:
    there the topology is fixed, so any correlation left is what the network learned about
    energy itself (0 for a network that sees topology only); ``energy_auc_*``: the AUC of the
    score for telling 2200-2700 keV from 1400-1800 keV events of one topology (0.5: the score
    knows nothing of the energy). With ``passed`` (the events a cut keeps) as well,
    ``ss_kept_<lo>_<hi>``: the true single-site acceptance of that cut in each energy bin of
    ``ACCEPTANCE_BINS`` (flat: the cut does not depend on the energy).
    """
    e = np.asarray(energy, float)
    score = np.asarray(score, float)
    win = (e >= window[0]) & (e < window[1])
    out = {"all": score_energy_correlation(score[win], e[win])}
    if single_site is not None:
        ss = np.asarray(single_site, bool)
        out["single_site"] = score_energy_correlation(score[win & ss], e[win & ss])
        out["multi_site"] = score_energy_correlation(score[win & ~ss], e[win & ~ss])
        out["energy_auc_single_site"] = _band_auc(score, e, ss)
        out["energy_auc_multi_site"] = _band_auc(score, e, ~ss)
        if passed is not None:
            p = np.asarray(passed, bool)
            for lo, hi in ACCEPTANCE_BINS:
                b = ss & (e >= lo) & (e < hi)
                out[f"ss_kept_{lo:g}_{hi:g}"] = float(p[b].mean()) if b.any() else float("nan")
    return out
