"""The data-vs-training comparison tool and the decay-constant estimator, on constructed pulses."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.signal import lfilter

from psdlab.compare import compare_files, select_events
from psdlab.compare.__main__ import main
from psdlab.data.errors import DataError
from psdlab.dsp.decay import (
    REJECT_OK,
    REJECT_ON_TAIL,
    REJECT_TAIL_PILEUP,
    decay_constants_by_detector,
    estimate_decay_constants,
    fit_pulse_decays,
)

L, T0, DT_NS = 2000, 500, 10.0
TAUS_US = {1: 70.0, 2: 400.0}
TAU2_US, TAU2_FRACTION = 2.1, 0.007
REAL_FILE = Path(__file__).resolve().parents[2] / "shared/realdata/legend_real.hdf5"


def make_pulses(
    n: int, rise: float = 40.0, seed: int = 0, noise: float = 2.0, length: int = L
) -> dict[str, np.ndarray]:
    """Linear-ramp charge pulses through an MJD-like preamplifier, two detectors.

    The preamplifier has each detector's main pole and MJD's secondary 2.1 us pole carrying
    0.7 % of the amplitude, the response psdlab's classical chain pole-zero corrects.

    Every random quantity (amplitude, detector, tp0 jitter, noise) comes from ``seed``;
    ``rise`` (samples) is the only shape parameter.
    """
    rng = np.random.default_rng(seed)
    det = rng.choice(list(TAUS_US), size=n)
    amp = rng.uniform(500.0, 6000.0, n)
    tp0 = T0 + rng.integers(-20, 21, n)
    t = np.arange(length)[None, :]
    charge = np.clip((t - tp0[:, None]) / rise, 0.0, 1.0) * amp[:, None]
    wf = np.empty((n, length))
    current = np.diff(charge, axis=1, prepend=0.0)
    for d, tau in TAUS_US.items():
        rows = det == d
        wf[rows] = sum(
            frac * lfilter([1.0], [1.0, -np.exp(-DT_NS / (t_us * 1000.0))], current[rows], axis=1)
            for t_us, frac in ((tau, 1.0 - TAU2_FRACTION), (TAU2_US, TAU2_FRACTION))
        )
    wf += 1000.0 + noise * rng.standard_normal((n, length))
    return {
        "raw_waveform": wf,
        "energy_label": 0.4 * amp,
        "tp0": tp0.astype(np.int64),
        "detector": det.astype(np.int64),
        "run_number": np.full(n, 7, dtype=np.int64),
        "id": np.arange(n, dtype=np.int64),
    }


def write_h5(path: Path, arrays: dict[str, np.ndarray], drop: tuple[str, ...] = ()) -> Path:
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            if k not in drop:
                f.create_dataset(k, data=v)
    return path


# -- decay constants ------------------------------------------------------------------------
def test_decay_constants_recovered_per_detector():
    d = make_pulses(300, seed=1)
    est = estimate_decay_constants(d["raw_waveform"], d["detector"], DT_NS, chunk_size=128)
    assert set(est) == set(TAUS_US)
    for det, tau in TAUS_US.items():
        assert est[det] == pytest.approx(tau, rel=0.03)


def test_decay_fit_rejects_pileup_and_pulses_on_a_tail():
    d = make_pulses(300, seed=2)
    wf, det = d["raw_waveform"].copy(), d["detector"]
    t = np.arange(L)
    tail_pu, on_tail = np.arange(0, 30), np.arange(30, 60)
    # a small second pulse on the tail (the first stays the maximum), and an earlier pulse
    # whose tail is the baseline
    wf[tail_pu] += 0.015 * d["energy_label"][tail_pu, None] / 0.4 * (t >= 1400)
    tau_s = np.array([TAUS_US[int(x)] * 100.0 for x in det[on_tail]])
    amp = d["energy_label"][on_tail] / 0.4
    wf[on_tail] += amp[:, None] * np.exp(-(t[None, :] + 3000.0) / tau_s[:, None])
    fit = fit_pulse_decays(wf, DT_NS)
    assert np.mean(fit.reason[tail_pu] == REJECT_TAIL_PILEUP) > 0.9
    assert np.mean(fit.reason[on_tail] == REJECT_ON_TAIL) > 0.9
    assert np.mean(fit.reason[60:] == REJECT_OK) > 0.95
    est = decay_constants_by_detector(fit.rate_per_us, det)
    for d_id, tau in TAUS_US.items():
        assert est[d_id] == pytest.approx(tau, rel=0.03)


# -- the comparison -------------------------------------------------------------------------
def _rows(result) -> dict[str, dict]:
    return {r["feature"]: r for r in result.rows}


def test_shifted_rise_time_is_the_one_large_distance(tmp_path):
    a = write_h5(tmp_path / "fast.hdf5", make_pulses(300, rise=40.0, seed=3))
    b = write_h5(tmp_path / "slow.hdf5", make_pulses(300, rise=60.0, seed=4))
    rows = _rows(compare_files(a, b))
    rise = rows["rise_10_90"]
    assert rise["median_a"] == pytest.approx(0.8 * 40 * DT_NS, rel=0.05)
    assert rise["median_b"] == pytest.approx(0.8 * 60 * DT_NS, rel=0.05)
    assert rise["ks"] > 0.9 and rise["wasserstein_norm"] > 2.0
    for name, row in rows.items():
        if name != "rise_10_90":
            assert row["ks"] < 0.2, (name, row)
            assert row["wasserstein_norm"] < 0.5, (name, row)


def test_selection_energy_range_and_seeded_subsample(tmp_path):
    paths = [write_h5(tmp_path / f"s{i}.hdf5", make_pulses(100, seed=10 + i)) for i in (0, 1)]
    sels = select_events(paths, energy_range=(500.0, 1500.0), max_events=40, seed=5)
    assert sum(s.n for s in sels) == 40
    for s in sels:
        assert np.all((s.energy >= 500.0) & (s.energy < 1500.0))
        assert np.all(np.diff(s.rows) > 0)
    again = select_events(paths, energy_range=(500.0, 1500.0), max_events=40, seed=5)
    assert all(np.array_equal(x.rows, y.rows) for x, y in zip(sels, again))


def test_cli_end_to_end_writes_csv_json_png(tmp_path, capsys):
    a = write_h5(tmp_path / "a.hdf5", make_pulses(120, seed=6))
    b = write_h5(tmp_path / "b.hdf5", make_pulses(120, rise=50.0, seed=7))
    out = tmp_path / "out"
    argv = [str(a), str(b), "--out", str(out), "--labels", "sim", "data", "--max-events", "100"]
    assert main(argv) == 0
    assert "rise_10_90" in capsys.readouterr().out
    for name in ("compare.csv", "compare.json", "compare.png"):
        assert (out / name).stat().st_size > 0
    rec = json.loads((out / "compare.json").read_text())
    assert rec["a"]["label"] == "sim" and rec["a"]["events_compared"] == 100
    taus = rec["b"]["decay_constants_us"][str(b.resolve())]["detectors"]
    assert taus["2"] == pytest.approx(400.0, rel=0.05)
    header = (out / "compare.csv").read_text().splitlines()[0]
    assert header.startswith("feature,unit,n_a")


@pytest.mark.parametrize("case", ["missing_file", "missing_waveform", "no_energy"])
def test_user_errors_are_one_line(tmp_path, capsys, case):
    good = write_h5(tmp_path / "good.hdf5", make_pulses(50, seed=8))
    extra: list[str] = []
    if case == "missing_file":
        bad, needle = tmp_path / "nope.hdf5", "not found"
    elif case == "missing_waveform":
        bad = write_h5(tmp_path / "bad.hdf5", make_pulses(50, seed=9), drop=("raw_waveform",))
        needle = "[dataset 'raw_waveform']"
    else:
        bad = write_h5(tmp_path / "bad.hdf5", make_pulses(50, seed=9), drop=("energy_label",))
        needle, extra = "[dataset 'energy_label']", ["--energy-range", "100", "2000"]
    assert main([str(good), str(bad), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad.name) in err and needle in err
    with pytest.raises(DataError):
        compare_files(good, bad, energy_range=(100.0, 2000.0) if extra else None)


@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"{REAL_FILE} not present")
def test_real_file_decay_constant_and_self_comparison():
    """The 228Th test stand's constant (83 us, realdata README) and a null comparison."""
    with h5py.File(REAL_FILE, "r") as f:
        det = f["detector"][:]
        rows = np.flatnonzero(det == 0)[:300]
        wf = f["raw_waveform"][rows[0] : rows[-1] + 1][rows - rows[0]]
    est = estimate_decay_constants(wf, det[rows], DT_NS)
    assert est[0] == pytest.approx(83.0, rel=0.03)
    rows_ = _rows(compare_files(REAL_FILE, REAL_FILE, max_events=200))
    assert all(r["ks"] == pytest.approx(0.0, abs=1e-12) for r in rows_.values())
