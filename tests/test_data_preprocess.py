"""Each preprocessing option against a direct per-event numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psdlab.data import DataError, Preprocessor, StandardScaler
from psdlab.data.alignment import rise_points

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


def _ramps(n: int = 120, length: int = 1200, seed: int = 5):
    """Linear 40-sample rises at known positions (50 % point at ``half``), amplitudes over
    two decades, slow decay, small noise; tp0 jittered by up to +-30 samples around the
    rise start, as a threshold trigger's estimate would be."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    start = rng.integers(300, 500, n)
    amp = 10 ** rng.uniform(1.7, 3.3, n)
    x = np.clip((t[None] - start[:, None]) / 40.0, 0.0, 1.0)
    decay = np.exp(-np.clip(t[None] - start[:, None] - 40, 0, None) / 5000.0)
    raw = 100.0 + amp[:, None] * x * decay + rng.normal(0, 0.3, (n, length))
    tp0 = start + rng.integers(-30, 31, n)
    return raw, tp0, start + 20


def _crossing(out: np.ndarray) -> np.ndarray:
    """First sample of each min-max normalised window at 0.5."""
    return (out[:, 0] >= 0.5).argmax(axis=1)


def test_rise_window_removes_tp0_jitter():
    raw, tp0, half = _ramps()
    win = {"offset": -50, "length": 300}
    rise = _pre(baseline={"stop": 250}, window={"mode": "rise", **win}, normalize="minmax")
    res = rise.apply(raw, tp0)
    assert res.valid.all() and res.waveform.shape == (len(raw), 1, 300)
    assert np.abs(_crossing(res.waveform) - 50).max() <= 1
    point, found = rise_points(raw, raw[:, :250].mean(axis=1), tp0, 0.5, 5, 200, 600)
    assert found.all() and np.abs(point - half).max() <= 1
    trig = _pre(baseline={"stop": 250}, window={"mode": "tp0", **win}, normalize="minmax")
    spread = np.ptp(_crossing(trig.apply(raw, tp0).waveform))
    assert spread > 20  # the trigger jitter, which rise mode removes
    # without tp0 (unlabelled files; the cache writes -1 where a file has none): whole trace
    for missing in (None, np.full(len(raw), -1)):
        np.testing.assert_array_equal(rise.apply(raw, missing).waveform, res.waveform)
    # no baseline step: the level is still measured from the pre-trigger mean
    off = {"enabled": False, "stop": 250}
    nobl = _pre(baseline=off, window={"mode": "rise", **win}, normalize="minmax").apply(raw, tp0)
    np.testing.assert_array_equal(nobl.valid, res.valid)
    assert np.abs(_crossing(nobl.waveform) - 50).max() <= 1


def test_rise_window_invalid_events():
    raw, tp0, half = _ramps(n=6)
    raw, tp0 = raw.copy(), tp0.copy()
    raw[1] = 100.0  # flat: no rise point
    tp0[2] = half[2] + 500  # tp0 far off: the search starts on the pulse's tail
    bl = {"enabled": False, "stop": 250}  # the rise level is measured from it all the same
    p = _pre(baseline=bl, window={"mode": "rise", "offset": -50, "length": 300})
    late = _pre(baseline=bl, window={"mode": "rise", "offset": 700, "length": 300})
    res = p.apply(raw, tp0)
    assert res.valid.tolist() == [True, False, False, True, True, True]
    assert res.n_bad_tp0 == 2 and res.n_nonfinite == 0
    assert (res.waveform[~res.valid] == 0).all()
    res = late.apply(raw, tp0)
    assert not res.valid.any() and res.n_bad_tp0 == 6
    with pytest.raises(DataError, match="rise_fraction"):
        _pre(window={"mode": "rise", "rise_fraction": 1.5})
    assert not Preprocessor.from_config({"window": {"mode": "rise"}}).needs_tp0()


def test_rise_point_of_a_pulse_on_a_decaying_tail():
    """A small pulse on the tail (72 us decay) of an earlier, 40x larger one lies wholly
    below the pre-trigger mean: its rise is measured from its own foot instead, and still
    found and aligned."""
    raw, tp0, half = _ramps(n=20)
    amp = raw[:, -1] - 100.0  # ~ the pulse height (slow decay)
    t = np.arange(raw.shape[1])
    tailed = raw + 40.0 * amp[:, None] * np.exp(-t / 7200.0)[None]
    baseline = tailed[:, :100].mean(axis=1)
    point, found = rise_points(tailed, baseline, tp0, 0.5, 5, 100, 600)
    assert found.all() and np.abs(point - half).max() <= 1
    peak = tailed[np.arange(20), half + 20]
    assert (peak < baseline).all()  # the case in question
    bl = {"stop": 100}
    win = {"mode": "rise", "offset": -50, "length": 300, "rise_search_before": 100}
    p = _pre(baseline=bl, window=win)
    assert p.apply(tailed, tp0).valid.all()


def test_new_keys_keep_old_cache_keys():
    """Defaults of keys added later are left out of to_dict, so old cache keys stay valid."""
    d = Preprocessor.from_config(None).to_dict()
    assert set(d["window"]) == {"mode", "start", "offset", "length"}
    assert "amplitude_channel" not in d
    p = Preprocessor.from_config(
        {"window": {"mode": "rise", "rise_fraction": 0.9}, "amplitude_channel": True}
    )
    d = p.to_dict()
    assert d["window"]["rise_fraction"] == 0.9 and d["amplitude_channel"] is True
    assert Preprocessor.from_config(d) == p


def test_amplitude_channel(raw):
    wf, tp0, e = raw
    wf = wf.copy()
    wf[3] = 7.0  # zero pulse height: no amplitude, invalid
    p = _pre(
        baseline={"enabled": True, "stop": 100},
        window={"mode": "tp0", "offset": -100, "length": 250},
        normalize="minmax",
        current=True,
        amplitude_channel=True,
    )
    assert p.channels == 3 and p.output_shape(600) == (3, 250)
    res = p.apply(wf, tp0, e)
    assert res.waveform.shape == (40, 3, 250)
    assert res.valid.sum() == 39 and not res.valid[3] and res.n_nonfinite == 1
    for i in (0, 1, 7):
        w = wf[i, tp0[i] - 100 : tp0[i] + 150] - wf[i, :100].mean()
        np.testing.assert_allclose(res.waveform[i, 2], np.log10(np.ptp(w)), rtol=1e-5)
    # the shape channels are those without the amplitude channel
    ref = _pre(**{**p.to_dict(), "amplitude_channel": False}).apply(wf, tp0, e).waveform
    np.testing.assert_array_equal(res.waveform[res.valid, :2], ref[res.valid])
