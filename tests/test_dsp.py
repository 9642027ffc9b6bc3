"""Classical DSP on synthetic pulses with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from psdlab.dsp import (
    BandCorrection,
    DSPConfig,
    EnergyCalibration,
    compute_parameters,
    dep_cut_threshold,
    peak_fit,
)

L, T0, TAU_US = 1200, 400, 70.0


def _pulses(amp: np.ndarray, rise: int = 30, tail_slope: float = 0.0, noise: float = 0.0):
    """Linear rise then exponential decay (tau 70 us), optional slowly rising extra charge."""
    n = amp.size
    t = np.arange(L, dtype=float)
    q = np.clip((t - T0) / rise, 0, 1)
    extra = tail_slope * np.clip(t - T0 - rise, 0, None)  # fraction per sample
    # convolve the step with the preamp decay: sample-wise recursion
    a = np.exp(-1.0 / (TAU_US * 100.0))
    cur = np.diff(q + extra, prepend=0.0)
    out = np.zeros(L)
    s = 0.0
    for j in range(L):
        s = a * s + cur[j]
        out[j] = s
    rng = np.random.default_rng(0)
    return 500.0 + amp[:, None] * out[None, :] + noise * rng.standard_normal((n, L))


def test_trap_energy_and_timing():
    amp = np.array([1000.0, 3000.0, 6000.0])
    cfg = DSPConfig.for_trace(L, T0, tau2_fraction=0.0)
    p = compute_parameters(_pulses(amp, rise=50), 10.0, TAU_US, cfg)
    np.testing.assert_allclose(p["trap_energy"], amp, rtol=2e-3)
    np.testing.assert_allclose(p["baseline"], 500.0, atol=1e-6)
    assert np.all(np.abs(p["tp0"] - T0) < 4)
    np.testing.assert_allclose(p["drift_time_ns"], 500.0, atol=40.0)
    # a linear 50-sample rise: current = amp/50 per sample
    np.testing.assert_allclose(p["aoe"], 1 / 50, rtol=0.05)
    assert np.all(np.abs(p["dcr"]) < 1e-5)


def test_dcr_sees_delayed_charge_and_lq_late_charge():
    amp = np.full(2, 3000.0)
    cfg = DSPConfig.for_trace(L, T0, tau2_fraction=0.0)
    prompt = compute_parameters(_pulses(amp), 10.0, TAU_US, cfg)
    delayed = compute_parameters(_pulses(amp, tail_slope=2e-5), 10.0, TAU_US, cfg)
    assert np.all(delayed["dcr"] > 100 * np.abs(prompt["dcr"]).max() + 1e-4)
    slow = compute_parameters(_pulses(amp, rise=200), 10.0, TAU_US, cfg)
    assert np.all(slow["lq"] > 3 * prompt["lq"])


def test_chunking_does_not_change_results():
    amp = np.linspace(500, 5000, 7)
    wf = _pulses(amp, noise=2.0)
    a = compute_parameters(wf, tau_us=TAU_US, chunk_size=3)
    b = compute_parameters(wf, tau_us=TAU_US, chunk_size=100)
    for k in a:
        np.testing.assert_allclose(a[k], b[k])


def test_peak_fit_recovers_width():
    rng = np.random.default_rng(1)
    e = np.concatenate([rng.normal(2614.5, 1.2, 4000), rng.uniform(2590, 2640, 3000)])
    fit = peak_fit(e, 2614.5, half_window=20.0)
    assert abs(fit.mu - 2614.5) < 0.1
    assert abs(fit.fwhm - 2.3548 * 1.2) < 0.15


def test_energy_calibration_finds_lines():
    rng = np.random.default_rng(2)
    lines = [238.6, 583.2, 1592.5, 2614.5]
    kev = np.concatenate([rng.exponential(300, 20000)] + [rng.normal(x, 1.0, 2000) for x in lines])
    cal = EnergyCalibration.fit(kev / 0.4 + 3.0)
    assert np.allclose(cal(np.array(lines) / 0.4 + 3.0), lines, atol=0.3)


def test_dep_threshold_keeps_requested_fraction():
    rng = np.random.default_rng(3)
    n_peak, n_bkg = 20000, 20000
    e = np.concatenate([rng.normal(1592.5, 1.0, n_peak), rng.uniform(1570, 1615, n_bkg)])
    cls = np.concatenate([rng.normal(0, 1, n_peak), rng.normal(-5, 1, n_bkg)])
    t = dep_cut_threshold(e, cls, keep=0.9)
    assert t == pytest.approx(-1.2816, abs=0.06)


def test_band_correction_normalises():
    rng = np.random.default_rng(4)
    e = rng.uniform(150, 2600, 40000)
    v = 0.05 * (1 + 1e-5 * e) + rng.normal(0, 1, e.size) * np.sqrt(1e-6 + (0.05 / e) ** 2)
    band = BandCorrection.fit(e, v, side="both", exclude=())
    c = band.classifier(e, v)
    assert abs(np.median(c)) < 0.05 and 0.9 < np.std(c) < 1.1


def test_rise_time_tail_and_noise_features():
    from psdlab.dsp import features as ft

    amp = np.array([1000.0, 3000.0])
    wf = _pulses(amp, rise=50)  # linear 50-sample rise: 10-90 % = 40 samples
    r = ft.rise_features(wf, np.full(2, T0), baseline_samples=300)
    np.testing.assert_allclose(r["rise_10_90"], 40.0, atol=0.5)
    np.testing.assert_allclose(r["amplitude"], amp, rtol=5e-3)  # 70 us droop
    tail = ft.tail_fit(wf, r["baseline"], np.full(2, T0 + 100), L)
    np.testing.assert_allclose(tail["tau"] / 100.0, TAU_US, rtol=1e-3)
    rng = np.random.default_rng(5)
    white = rng.standard_normal((200, 512))
    ar = white.copy()
    for j in range(1, 512):  # AR(1) noise, correlation 0.8 at lag 1
        ar[:, j] = 0.8 * ar[:, j - 1] + 0.6 * white[:, j]
    assert abs(ft.lag_correlation(white)[1]) < 0.02
    assert abs(ft.lag_correlation(ar)[1] - 0.8) < 0.02
    f, p_white = ft.noise_spectrum(white)
    _, p_ar = ft.noise_spectrum(ar)
    assert ft.band_fractions(f, p_ar)["0.5-2 MHz"] > 3 * ft.band_fractions(f, p_white)["0.5-2 MHz"]


def test_drift_time_correction_recovers_trapping():
    from psdlab.dsp import DriftTimeCorrection

    rng = np.random.default_rng(6)
    drift_ns = rng.uniform(200, 1500, 5000)
    k = 1.2e-3  # fraction lost per us of drift
    e = 2614.5 * (1 - k * drift_ns / 1000) + rng.normal(0, 0.8, drift_ns.size)
    e = np.concatenate([e, rng.uniform(2600, 2630, 1000)])  # flat continuum
    drift_ns = np.concatenate([drift_ns, rng.uniform(200, 1500, 1000)])
    ctc = DriftTimeCorrection.fit(e, drift_ns)
    assert ctc.alpha_per_us == pytest.approx(k, rel=0.1)
    peak = np.abs(e - 2613) < 6
    assert np.std(ctc(e, drift_ns)[peak][:5000]) < np.std(e[peak][:5000])
    assert DriftTimeCorrection()(e, drift_ns) == pytest.approx(e)
