"""Front end, preamplifier, noise and digitiser applied to the detector current.

The order mirrors the signal chain: the current is band-limited by the front end (two
poles of ~15 ns: rise times of tens of ns), integrated by the charge-sensitive preamplifier
whose feedback discharges with ~72 us plus a weak 2.1 us secondary pole (MJD), then noise
(white from the FET, band-limited by the same front-end poles, plus low-frequency 1/f-like
noise) and a baseline offset are added and
the trace is digitised to integer ADC counts.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_PINK_TAUS = (20.0, 200.0, 2000.0)  # samples; three AR(1) terms approximate 1/f noise


def _pink_norm() -> float:
    c = [math.sqrt(1 - math.exp(-2.0 / t)) for t in _PINK_TAUS]
    a = [math.exp(-1.0 / t) for t in _PINK_TAUS]
    var = 0.0
    for i in range(3):
        for j in range(3):
            var += c[i] * c[j] / (1 - a[i] * a[j])
    return 1.0 / math.sqrt(var)


PINK_NORM = _pink_norm()


# One numba kernel over the whole signal chain on purpose: the filters are recursions that
# carry state sample by sample, and fusing them into one loop per trace keeps the (n, L)
# intermediates out of memory; splitting it would cost a pass over the data per stage.
@nb.njit(parallel=True, cache=True)
def shape_and_digitise(
    current: np.ndarray,
    white: np.ndarray,
    amplitude_adc: np.ndarray,
    tau1_samples: np.ndarray,
    tau2_samples: np.ndarray,
    tau2_fraction: float,
    bw_samples: float,
    noise_bw_samples: float,
    noise_rms: np.ndarray,
    pink_fraction: float,
    pink_norm: float,
    baseline: np.ndarray,
    tail0: np.ndarray,
    adc_max: float,
    out: np.ndarray,
) -> None:
    """Turn the current (fraction of charge per sample) into a digitised trace in ``out``.

    ``tail0`` is the preamplifier output at the trace start left by earlier pulses, in units
    of the event's own amplitude (pulses on a tail). The white (FET) noise passes two poles
    of ``noise_bw_samples`` (0: none), normalised back to unit variance.
    """
    n, length = current.shape
    pt1 = math.exp(-1.0 / _PINK_TAUS[0])
    pt2 = math.exp(-1.0 / _PINK_TAUS[1])
    pt3 = math.exp(-1.0 / _PINK_TAUS[2])
    c1 = math.sqrt(1 - pt1 * pt1)
    c2 = math.sqrt(1 - pt2 * pt2)
    c3 = math.sqrt(1 - pt3 * pt3)
    g = math.exp(-1.0 / bw_samples)
    sw = math.sqrt(1.0 - pink_fraction)
    sp = math.sqrt(pink_fraction) * pink_norm
    gn = math.exp(-1.0 / noise_bw_samples) if noise_bw_samples > 0 else 0.0
    # variance of two cascaded (1 - g) / (1 - g z^-1) poles driven by unit white noise
    sw *= 1.0 / math.sqrt((1 - gn) ** 4 * (1 + gn * gn) / (1 - gn * gn) ** 3)
    for i in nb.prange(n):
        a1 = math.exp(-1.0 / tau1_samples[i])
        a2 = math.exp(-1.0 / tau2_samples[i])
        lp1 = 0.0
        lp2 = 0.0
        s1 = tail0[i]
        s2 = 0.0
        y1 = 0.0
        y2 = 0.0
        y3 = 0.0
        amp = amplitude_adc[i]
        sig = noise_rms[i]
        bl = baseline[i]
        # start the slow noise terms in their stationary state
        w0 = white[i, 0]
        y1 = w0
        y2 = w0
        y3 = w0
        n1 = w0
        n2 = w0
        for j in range(length):
            lp1 = g * lp1 + (1.0 - g) * current[i, j]
            lp2 = g * lp2 + (1.0 - g) * lp1
            s1 = a1 * s1 + (1.0 - tau2_fraction) * lp2
            s2 = a2 * s2 + tau2_fraction * lp2
            w = white[i, j]
            y1 = pt1 * y1 + c1 * w
            y2 = pt2 * y2 + c2 * w
            y3 = pt3 * y3 + c3 * w
            n1 = gn * n1 + (1.0 - gn) * w
            n2 = gn * n2 + (1.0 - gn) * n1
            v = amp * (s1 + s2) + bl + sig * (sw * n2 + sp * (y1 + y2 + y3))
            v = math.floor(v + 0.5)
            if v < 0.0:
                v = 0.0
            elif v > adc_max:
                v = adc_max
            out[i, j] = v
