"""Each preprocessing option against a direct per-event numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psdlab.data import DataError, Preprocessor, StandardScaler

try:
    from _synthetic import make_arrays
except ImportError:  # tests/ imported as a package
    from tests._synthetic import make_arrays


@pytest.fixture(scope="module")
def raw():
    d = make_arrays(n=40, length=600, seed=3)
    return d["raw_waveform"], d["tp0"], d["energy_label"]


def _pre(**kw) -> Preprocessor:
    base = {
        "baseline": {"enabled": False},
        "window": {"mode": "none"},
        "normalize": "none",
    }
    base.update(kw)
    return Preprocessor.from_config(base)


def test_baseline_and_fixed_window(raw):
    wf, tp0, e = raw
    p = _pre(
        baseline={"enabled": True, "start": 0, "stop": 150},
        window={"mode": "fixed", "start": 100, "length": 300},
    )
    out = p.apply(wf, tp0, e).waveform
    assert out.shape == (40, 1, 300) and out.dtype == np.float32
    for i in range(5):
        ref = wf[i, 100:400] - wf[i, :150].mean()
        np.testing.assert_allclose(out[i, 0], ref, rtol=1e-5, atol=1e-3)


def test_tp0_window_and_minmax(raw):
    wf, tp0, e = raw
    p = _pre(window={"mode": "tp0", "offset": -100, "length": 250}, normalize="minmax")
    out = p.apply(wf, tp0, e).waveform
    for i in range(len(wf)):
        w = wf[i, tp0[i] - 100 : tp0[i] + 150]
        ref = (w - w.min()) / (w.max() - w.min())
        np.testing.assert_allclose(out[i, 0], ref, atol=1e-5)


def test_energy_norm(raw):
    wf, tp0, e = raw
    p = _pre(baseline={"enabled": True, "stop": 100}, normalize="energy")
    out = p.apply(wf, tp0, e).waveform
    ref = (wf - wf[:, :100].mean(axis=1, keepdims=True)) / e[:, None]
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-4, atol=1e-5)


def test_pole_zero_matches_recursion(raw):
    wf, tp0, e = raw
    tau_us, dt = 5.0, 10.0
    p = _pre(baseline={"enabled": True, "stop": 100}, pole_zero={"enabled": True, "tau_us": tau_us})
    out = p.apply(wf[:3], tp0[:3], e[:3], sampling_period_ns=dt).waveform
    a = np.exp(-dt / (tau_us * 1000))
    for i in range(3):
        x = wf[i] - wf[i, :100].mean()
        y = np.empty_like(x)
        y[0] = x[0]
        for k in range(1, len(x)):
            y[k] = y[k - 1] + x[k] - a * x[k - 1]
        np.testing.assert_allclose(out[i, 0], y, rtol=1e-4, atol=1e-2)
    # a pure exponential decay becomes flat
    t = np.arange(600)
    step = np.where(t >= 200, 1000 * np.exp(-(t - 200) * dt / (tau_us * 1000)), 0.0)[None]
    flat = p.apply(step, None, None, sampling_period_ns=dt).waveform[0, 0]
    np.testing.assert_allclose(flat[200:], 1000.0, rtol=1e-4)


def test_downsample_and_current(raw):
    wf, tp0, e = raw
    p = _pre(window={"mode": "fixed", "start": 0, "length": 599}, downsample=4, current=True)
    out = p.apply(wf, tp0, e).waveform
    assert out.shape == (40, 2, 149)
    ref = wf[:, :596].reshape(40, 149, 4).mean(axis=2)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-5)
    np.testing.assert_allclose(out[:, 1, 1:], np.diff(out[:, 0], axis=1), rtol=1e-5, atol=1e-3)
    assert (out[:, 1, 0] == 0).all()
    assert p.output_shape(600) == (2, 149)


def test_bad_events_flagged(raw):
    wf, tp0, e = raw
    wf = wf.copy()
    tp0 = tp0.copy()
    wf[1, 250] = np.nan
    wf[2, 300] = np.inf
    tp0[3] = 590
    tp0[4] = 10
    p = _pre(window={"mode": "tp0", "offset": -100, "length": 250}, normalize="minmax")
    res = p.apply(wf, tp0, e)
    assert res.valid.tolist()[:6] == [True, False, False, False, False, True]
    assert res.n_nonfinite == 2 and res.n_bad_tp0 == 2
    assert np.isfinite(res.waveform).all()


def test_config_errors():
    with pytest.raises(DataError, match=r"window\.mode"):
        Preprocessor.from_config({"window": {"mode": "wrong"}})
    with pytest.raises(DataError, match="normalize"):
        Preprocessor.from_config({"normalize": "zscore"})
    p = Preprocessor.from_config(
        {"_target_": "x", "window": {"mode": "fixed", "start": 500, "length": 1000}}
    )
    with pytest.raises(DataError, match="outside"):
        p.apply(np.zeros((2, 600)))


def test_standard_scaler_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (100, 2, 50)).astype(np.float32)
    x[:, 0, 0] = 5.0  # constant feature: left unscaled (std 1)
    rows = np.arange(0, 100, 2)
    s = StandardScaler().fit(x, rows, block=7)
    np.testing.assert_allclose(s.mean, x[rows].mean(axis=0), rtol=1e-5)
    std = x[rows].std(axis=0)
    std[0, 0] = 1.0
    np.testing.assert_allclose(s.std, std, rtol=1e-4)
    out = s.transform(torch.from_numpy(x[rows])).numpy()
    np.testing.assert_allclose(out.mean(axis=0)[:, 1:], 0, atol=1e-4)
    s2 = StandardScaler()
    s2.load_state_dict(s.state_dict())
    np.testing.assert_array_equal(s2.mean, s.mean)
