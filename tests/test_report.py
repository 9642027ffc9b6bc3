"""Physics report: survival fractions on constructed spectra, energy-matched AUC, the classical
analysis of simulated waveforms, graceful tiny statistics, and eval.py report=true end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from psdlab.data.schema import DataSchema
from psdlab.metrics.physics import (
    dep_threshold,
    efficiency,
    energy_matched_auc,
    paired_cut_difference,
    peak_survival,
    region_survival,
    roc_auc,
    survival_table,
)
from psdlab.report import (
    ClassicalResult,
    classical_parameters,
    compute_report,
    log_report_to_tensorboard,
)

from .conftest import TINY_TRACE_LENGTH


def _peak_on_flat(
    rng: np.random.Generator, n_peak: int, n_flat: int, f_peak: float, f_flat: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian DEP (sigma 1 keV) on a flat 1500-1700 keV background with known pass rates."""
    e = np.concatenate([rng.normal(1592.5, 1.0, n_peak), rng.uniform(1500, 1700, n_flat)])
    passed = np.concatenate([rng.random(n_peak) < f_peak, rng.random(n_flat) < f_flat])
    return e, passed


def test_peak_survival_subtracts_the_continuum() -> None:
    rng = np.random.default_rng(1)
    e, passed = _peak_on_flat(rng, 20000, 200000, 0.9, 0.3)
    s = peak_survival(e, passed, 1592.5)
    # the window holds ~8000 flat events at 30 % survival: without side bands f would be ~0.6
    assert s.fraction == pytest.approx(0.9, abs=3 * s.error)
    assert 0.005 < s.error < 0.03
    assert s.n_net == pytest.approx(20000, rel=0.05)
    c = region_survival(e, passed, (1650.0, 1700.0), ())
    assert c.fraction == pytest.approx(0.3, abs=3 * c.error)


def test_peak_survival_error_is_binomial_without_background() -> None:
    rng = np.random.default_rng(2)
    e = rng.normal(2614.5, 1.0, 1000)
    passed = np.arange(1000) < 200
    s = peak_survival(e, passed, 2614.5)
    n = s.n_net
    assert s.fraction == pytest.approx(200 / n)
    assert s.error == pytest.approx(np.sqrt(s.fraction * (1 - s.fraction) / n))


def test_dep_threshold_keeps_90_percent_of_the_peak() -> None:
    rng = np.random.default_rng(3)
    e, _ = _peak_on_flat(rng, 20000, 100000, 1.0, 1.0)
    is_peak = np.arange(e.size) < 20000
    score = np.where(is_peak, rng.normal(1.0, 1.0, e.size), rng.normal(-1.0, 1.0, e.size))
    thr = dep_threshold(e, score)
    assert thr == pytest.approx(1.0 - 1.2816, abs=0.05)  # 10 % quantile of N(1, 1)
    table = survival_table(e, score > thr)
    assert table["DEP"].fraction == pytest.approx(0.9, abs=0.02)
    assert set(table) == {"DEP", "Bi212", "SEP", "FEP", "Qbb"}
    assert np.isnan(table["FEP"].fraction)  # no events there: NaN, not a crash
    assert np.isnan(dep_threshold(e[:5], score[:5]))


def test_energy_matched_auc_removes_energy_correlation() -> None:
    rng = np.random.default_rng(4)
    energy = rng.uniform(0, 3000, 40000)
    label = rng.random(energy.size) < energy / 3000  # class fraction rises with energy
    score = energy + rng.normal(0, 5, energy.size)  # knows only the energy
    assert roc_auc(score, label) > 0.75
    assert energy_matched_auc(score, label, energy) == pytest.approx(0.5, abs=0.03)
    assert np.isnan(roc_auc(score, np.ones_like(label)))


def test_truth_auc_in_the_window_ignores_events_outside_it() -> None:
    """A score perfect in 1000-2700 keV and random elsewhere: window AUC 1, all-event AUC not."""
    from psdlab.report.psd import psd_section

    rng = np.random.default_rng(5)
    n = 6000
    energy = np.concatenate([rng.uniform(100, 999, n), rng.uniform(1000, 2699, n)])
    single = rng.random(2 * n) < 0.5
    score = np.where(energy >= 1000, single + rng.normal(0, 0.1, 2 * n), rng.normal(0, 1, 2 * n))
    sec, _ = psd_section(
        "low_avse", score, None, rng.normal(0, 1, 2 * n), energy, {"single_site": single}
    )
    assert sec["truth"]["auc_window"]["network"] == pytest.approx(1.0)
    assert sec["truth"]["auc"]["network"] < 0.8
    assert sec["truth"]["auc_window"]["classical"] == pytest.approx(0.5, abs=0.03)


def _dep_and_continuum(
    rng: np.random.Generator, n_dep: int, n_window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A narrow DEP of ``n_dep`` events on 1000-2700 keV events; single-site truth and a score
    (single-site events higher) whose DEP cut is set from the DEP events alone."""
    e = np.concatenate([rng.normal(1592.5, 0.8, n_dep), rng.uniform(1000, 2700, n_window)])
    single = np.concatenate([rng.random(n_dep) < 0.97, rng.random(n_window) < 0.5])
    score = single + rng.normal(0, 0.5, e.size)
    return e, single, score


def test_paired_cut_difference_counts_the_threshold_error() -> None:
    """With ~200 DEP events the cut's own sampling error dominates a single-site acceptance:
    the bootstrap error is several times the binomial one; a score against itself differs by 0.
    """
    rng = np.random.default_rng(8)
    e, single, score = _dep_and_continuum(rng, 200, 20000)
    win = (e >= 1000) & (e < 2700)
    other = score + rng.normal(0, 0.5, e.size)
    d = paired_cut_difference(e, score, other, single, win)
    acc = efficiency(score > dep_threshold(e, score), single & win)
    assert d["n_bootstrap"] == 200
    assert d["signal_acceptance"]["error_a"] > 3 * acc.error
    same = paired_cut_difference(e, score, score, single, win, n_boot=20)
    assert same["signal_acceptance"]["difference"] == 0.0
    assert same["signal_acceptance"]["error"] == 0.0
    # the extra noise makes ``other`` the worse classifier: more background kept at the cut
    assert d["background_survival"]["difference"] < -2 * d["background_survival"]["error"]
    # ten times the DEP: the threshold error, and with it the acceptance error, shrinks
    e2, single2, score2 = _dep_and_continuum(rng, 2000, 20000)
    win2 = (e2 >= 1000) & (e2 < 2700)
    d2 = paired_cut_difference(e2, score2, score2, single2, win2, n_boot=50)
    assert d2["signal_acceptance"]["error_a"] < 0.6 * d["signal_acceptance"]["error_a"]
    # too few DEP events to set a cut: NaN, not a crash
    few = paired_cut_difference(e[:5], score[:5], other[:5], single[:5], win[:5], n_boot=10)
    assert np.isnan(few["signal_acceptance"]["difference"]) and few["n_bootstrap"] == 0


def test_report_states_the_paired_cut_difference() -> None:
    """The truth section carries network-minus-classical with errors, and the HTML says it."""
    from psdlab.report.html_psd import psd_details
    from psdlab.report.psd import psd_section

    rng = np.random.default_rng(9)
    e, single, score = _dep_and_continuum(rng, 400, 20000)
    classical = score + rng.normal(0, 0.5, e.size)
    sec, _ = psd_section("low_avse", score, None, classical, e, {"single_site": single})
    diff = sec["truth"]["cut_difference"]
    win = (e >= 1000) & (e < 2700)
    assert diff == paired_cut_difference(e, score, classical, single, win)
    assert diff["background_survival"]["difference"] < 0  # the less noisy score is better
    assert "Network minus classical" in psd_details("low_avse", sec, {}, {})


def _tiny_meta(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        meta = {
            "id": f["id"][()],
            "energy": f["energy_label"][()],
            "low_avse": f["psd_label_low_avse"][()],
        }
        for k in ("single_site", "event_class", "surface_alpha", "true_energy"):
            meta[k] = f[f"truth/{k}"][()]
    return meta


def test_classical_parameters_recover_energy_and_topology(tiny_dataset) -> None:
    files = [*tiny_dataset["train"], *tiny_dataset["test"]]
    metas = [_tiny_meta(p) for p in files]
    meta = {k: np.concatenate([m[k] for m in metas]) for k in metas[0]}
    rng = np.random.default_rng(0)
    order = rng.permutation(meta["id"].size)  # results must follow the requested id order
    meta = {k: v[order] for k, v in meta.items()}
    cl = classical_parameters(
        files, DataSchema(trace_length=TINY_TRACE_LENGTH), meta["id"], meta["energy"]
    )
    assert np.array_equal(cl.ids, meta["id"])
    bulk = ~meta["surface_alpha"] & (meta["true_energy"] > 200)
    # the trap filter recovers the simulated energy to the detector resolution
    assert np.median(np.abs(cl.energy[bulk] - meta["true_energy"][bulk])) < 3.0
    # A/E separates true single-site from multi-site bulk events
    hi = bulk & (meta["true_energy"] > 500)
    assert roc_auc(cl.score("low_avse")[hi], meta["single_site"][hi]) > 0.8
    assert cl.notes  # says where its calibrations came from


def test_report_graceful_at_tiny_statistics(tiny_dataset) -> None:
    path = tiny_dataset["test"][0]
    meta = {k: v[:40] for k, v in _tiny_meta(path).items()}
    cl = classical_parameters(
        [path], DataSchema(trace_length=TINY_TRACE_LENGTH), meta["id"], meta["energy"]
    )
    table = {
        "id": meta["id"],
        "score_low_avse": np.linspace(0, 1, 40),
        "energy_pred": meta["energy"],
    }
    rep = compute_report(table, meta, cl)
    sec = rep.numbers["psd"]["low_avse"]
    assert np.isnan(sec["cut"]["network"]["threshold"])
    assert any("too few DEP" in n for n in rep.numbers["notes"])
    assert np.isnan(rep.numbers["energy"]["fwhm"]["network"]["2614.5"]["fwhm"])
    rep.close()


def test_build_report_from_a_prediction_table(tiny_dataset, tmp_path: Path) -> None:
    """build_report takes the prediction table (any event order, a subset of the split) and
    the data module, and writes report.json and report.html."""
    from psdlab.report import build_report

    path = tiny_dataset["test"][0]
    meta = _tiny_meta(path)
    rows = np.random.default_rng(5).permutation(meta["id"].size)[:-20]
    table = {"id": meta["id"][rows], "score_low_avse": meta["low_avse"][rows].astype(float)}

    class Split:
        test_files = (str(path),)
        schema = DataSchema(trace_length=TINY_TRACE_LENGTH)

        def split_metadata(self, split: str) -> dict[str, np.ndarray]:
            return meta

    rep = build_report(table, Split(), tmp_path)
    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers["n_events"] == rows.size and numbers["targets"] == ["low_avse"]
    # aligned by id: the label itself as the score separates the label perfectly
    assert numbers["psd"]["low_avse"]["auc"]["network"] == pytest.approx(1.0)
    assert numbers["files"] == [str(path)]
    page = (tmp_path / "report.html").read_text()
    assert {"roc_low_avse", "spectrum_low_avse"} <= set(numbers["figure_files"])
    assert page.count("data:image/png;base64,") == len(numbers["figure_files"])
    rep.close()


def test_eval_report_end_to_end(compose_train_cfg, tmp_path: Path, tiny_dataset) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from psdlab.run.evaluate import evaluate
    from psdlab.run.train import train

    from .test_eval import _compose_eval

    run_dir = tmp_path / "run"
    train(
        compose_train_cfg(
            "model=mlp", "task=multitask", "debug=limit_batches", "logger=csv", run_dir=run_dir
        )
    )
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    cfg = _compose_eval(tmp_path, f"ckpt_path={ckpt}", "report=true")
    evaluate(cfg)
    out = tmp_path / "eval"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    numbers = json.loads((out / "report.json").read_text())
    assert set(numbers["targets"]) == {"low_avse", "high_avse", "dcr", "lq"}
    for t in numbers["targets"]:
        sec = numbers["psd"][t]
        assert {"auc", "auc_energy_matched", "cut", "truth"} <= set(sec)
        assert {"network", "classical"} <= set(sec["auc"])
    assert {"fwhm", "binned", "reference"} <= set(numbers["energy"])
    assert numbers["has_truth"] is True

    # a calibration run's record: its classical cut values are the report's; its network cut
    # values too, but only for the checkpoint that recorded them
    from psdlab.report.calibration_record import ClassicalCalibration, file_sha256

    record = ClassicalCalibration(
        energy={"all": {"slope": 1.0, "offset": 0.0}},
        thresholds={"low_avse": {"network": 0.3, "classical": -1.5}},
        checkpoint_sha256="0" * 64,
    )
    record.save(tmp_path / "calibration.json")
    for sha, network_cut in (("0" * 64, None), (file_sha256(ckpt), 0.3)):
        record.checkpoint_sha256 = sha
        record.save(tmp_path / "calibration.json")
        cfg = _compose_eval(
            tmp_path, f"ckpt_path={ckpt}", "report=true", f"report_calibration={tmp_path}"
        )
        evaluate(cfg)
        cut = json.loads((out / "report.json").read_text())["psd"]["low_avse"]["cut"]
        assert cut["classical"]["threshold"] == -1.5
        if network_cut is None:  # another network's cut: set on the test events, or none
            assert cut["network"]["threshold"] != 0.3
        else:
            assert cut["network"]["threshold"] == network_cut

    # the same report to TensorBoard
    from psdlab.report import PhysicsReport

    rep = PhysicsReport(numbers, {})
    writer = SummaryWriter(str(tmp_path / "tb"))
    log_report_to_tensorboard(writer, rep)
    writer.close()
    assert any((tmp_path / "tb").glob("events.out.tfevents.*"))


def _line_sample(rng, n_line: int, sigma: float, shift: float = 0.0, n_flat: int = 3000):
    """Reference energies (a line at 2614.5 plus a flat continuum) and smeared estimates."""
    ref = np.concatenate([np.full(n_line, 2614.5), rng.uniform(2300.0, 2900.0, n_flat)])
    est = ref + shift + rng.normal(0.0, sigma, ref.size)
    return est, ref


@pytest.mark.parametrize(("sigma", "shift"), [(1.2, 0.0), (20.0, -30.0)])
def test_line_fwhm_recovers_sharp_and_broad_lines(sigma: float, shift: float) -> None:
    from psdlab.report.lines import line_fwhm

    est, ref = _line_sample(np.random.default_rng(1), 4000, sigma, shift)
    fit = line_fwhm(est, 2614.5, ref)
    assert fit["fwhm"] == pytest.approx(2.3548 * sigma, rel=0.1)
    assert fit["mu"] == pytest.approx(2614.5 + shift, abs=max(0.5, sigma / 5))


def test_line_fwhm_rejects_a_fluctuation_far_narrower_than_the_line() -> None:
    """A broad, weak line plus a narrow spike of unrelated events: the spike is not the line."""
    from psdlab.report.lines import line_fwhm

    rng = np.random.default_rng(2)
    est, ref = _line_sample(rng, 60, 40.0, 0.0, n_flat=6000)
    spike = rng.normal(2640.0, 1.0, 80)  # a narrow cluster 25 keV away from the line
    est = np.concatenate([est, spike])
    ref = np.concatenate([ref, np.full(spike.size, np.nan)])
    fit = line_fwhm(est, 2614.5, ref)
    assert not np.isfinite(fit["fwhm"]) or fit["fwhm"] > 0.3 * 2.3548 * 40.0


def test_line_fwhm_of_the_reference_estimator_itself(monkeypatch) -> None:
    """The trap filter measured against energy_label (itself a trap filter, equal up to float32
    rounding): that zero spread says nothing about the line width and must not seed the fit,
    whose starting width of ~1e-5 keV once produced a 0.03 keV "FWHM"."""
    import psdlab.report.lines as lines

    rng = np.random.default_rng(3)
    est, _ = _line_sample(rng, 4000, 1.2)
    guesses = []

    def spy(*args, **kwargs):
        guesses.append(kwargs.get("sigma_guess"))
        return peak_fit(*args, **kwargs)

    from psdlab.dsp import peak_fit

    monkeypatch.setattr(lines, "peak_fit", spy)
    fit = lines.line_fwhm(est, 2614.5, est + rng.normal(0.0, 1e-5, est.size))
    assert guesses and all(g is None or g > 0.1 for g in guesses)
    assert fit["fwhm"] == pytest.approx(2.3548 * 1.2, rel=0.1)


# --- label-free report, low statistics, per-detector decay constants (issue 14) ---

REAL_FILE = Path(__file__).resolve().parents[2] / "shared/realdata/legend_real.hdf5"


def _classical_of(energy: np.ndarray, aoe: np.ndarray) -> ClassicalResult:
    """A ClassicalResult of constructed arrays (no files)."""
    nan = np.full(energy.size, np.nan)
    return ClassicalResult(np.arange(energy.size), energy, aoe, nan, nan, nan, {}, ["cal"])


def test_low_statistics_flags_lines_and_withholds_the_dep_cut() -> None:
    """150 net DEP events: a cut at min_net_counts=100, none at 1000 (said so); a FEP of 13
    events gets its count and error and the flag, and stays out of the TensorBoard scalars."""
    from psdlab.report import report_scalars

    rng = np.random.default_rng(6)
    dep, _ = _peak_on_flat(rng, 150, 2000, 1.0, 1.0)
    e = np.concatenate([dep, rng.normal(2614.5, 1.0, 13)])
    score = rng.normal(0.0, 1.0, e.size)
    cl = _classical_of(e, score)
    table = {"id": cl.ids, "score_low_avse": score}
    rep = compute_report(table, {"id": cl.ids}, cl, min_net_counts=100)
    lines = rep.numbers["lines"]
    assert not lines["DEP"]["low_statistics"] and lines["FEP"]["low_statistics"]
    assert lines["FEP"]["n_net"] == 13 and lines["FEP"]["n_net_error"] == pytest.approx(13**0.5)
    cut = rep.numbers["psd"]["low_avse"]["cut"]["network"]
    assert np.isfinite(cut["threshold"])
    assert cut["survival"]["FEP"]["low_statistics"] and not cut["survival"]["DEP"]["low_statistics"]
    assert any("FEP" in n and "low statistics" in n for n in rep.numbers["notes"])
    scalars = report_scalars(rep)
    assert "report/low_avse/survival_network/DEP" in scalars
    assert "report/low_avse/survival_network/FEP" not in scalars
    rep.close()

    rep = compute_report(table, {"id": cl.ids}, cl, min_net_counts=1000)
    cut = rep.numbers["psd"]["low_avse"]["cut"]["network"]
    assert np.isnan(cut["threshold"]) and not cut["survival"]
    assert "fewer than 1000" in cut["note"] and "low statistics" in cut["note"]
    rep.close()


def _unlabelled_table(path: Path, tau_us: object = None) -> tuple[dict, ClassicalResult]:
    """predict.py's table for one simulated file with no label, no energy and no truth."""
    with h5py.File(path, "r") as f:
        meta = {k: f[k][()] for k in ("id", "detector", "run_number", "tp0")}
    schema = DataSchema(trace_length=TINY_TRACE_LENGTH)
    cl = classical_parameters([path], schema, meta["id"], None, tau_us=tau_us)
    rng = np.random.default_rng(7)
    table = {
        **meta,
        "score_low_avse": rng.random(meta["id"].size),
        "energy_pred": cl.energy + rng.normal(0.0, 5.0, cl.energy.size),
        "trap_energy": cl.energy,
        "aoe": cl.aoe,
        "dcr": cl.dcr,
        "lq": cl.lq,
        "drift_time_ns": cl.drift_time_ns,
        "file_index": np.zeros(meta["id"].size, np.int64),
    }
    return table, cl


def test_prediction_report_without_labels(tiny_dataset, tmp_path: Path) -> None:
    """No labels, no energy_label, no truth: trap energy for the windows, label and truth
    sections skipped with notes, the tiny DEP flagged instead of a cut."""
    from psdlab.report import build_prediction_report

    path = tiny_dataset["test"][0]
    table, cl = _unlabelled_table(path, tau_us=75.0)
    rep = build_prediction_report(
        table, [path], tmp_path, notes=cl.notes, decay_constants=cl.decay_constants
    )
    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers["energy_reference"] == "classical trap energy"
    assert numbers["n_events"] == table["id"].size and numbers["has_truth"] is False
    sec = numbers["psd"]["low_avse"]
    assert "auc" not in sec and "truth" not in sec
    notes = numbers["notes"]
    assert any("AUC against the label skipped" in n for n in notes)
    assert any("truth sections skipped" in n for n in notes)
    assert any("compared with the classical trap energy" in n for n in notes)
    assert numbers["lines"]["DEP"]["low_statistics"]
    assert sec["cut"]["network"]["threshold"] is None  # NaN in JSON
    assert any("too few DEP" in n and "low statistics" in n for n in notes)
    assert numbers["decay_constants"][path.name]["0"]["tau_us"] == 75.0
    page = (tmp_path / "report.html").read_text()
    assert "low statistics" in page and "Decay constants" in page and "roc_low_avse" not in page
    assert rep.numbers["energy"] is not None
    rep.close()

    # without the classical columns the report recomputes them from the files
    bare = {k: v for k, v in table.items() if k not in ("trap_energy", "aoe", "dcr", "lq")}
    rep = build_prediction_report(bare, [path], tmp_path / "again", tau_us=75.0)
    assert np.allclose(rep.numbers["lines"]["FEP"]["n_net"], numbers["lines"]["FEP"]["n_net"])
    assert rep.numbers["decay_constants"] == numbers["decay_constants"]
    rep.close()


def test_tau_us_number_mapping_and_file_truth(tiny_dataset) -> None:
    path = tiny_dataset["test"][0]
    schema = DataSchema(trace_length=TINY_TRACE_LENGTH)
    with h5py.File(path, "r") as f:
        ids, det = f["id"][()], f["detector"][()]
        truth_tau = f["truth/tau_us"][()]

    used = classical_parameters([path], schema, ids, tau_us=80.0).decay_constants[path.name]
    assert {c["tau_us"] for c in used.values()} == {80.0}
    assert all(c["source"] == "config tau_us" for c in used.values())

    d0, d1 = (int(d) for d in np.unique(det)[:2])
    cl = classical_parameters([path], schema, ids, tau_us={d0: 60.0, str(d1): 90.0})
    used = cl.decay_constants[path.name]
    assert used[str(d0)] == {"tau_us": 60.0, "source": "config tau_us"}
    assert used[str(d1)]["tau_us"] == 90.0
    others = [d for d in used if d not in (str(d0), str(d1))]
    assert others and all("truth/tau_us" in used[d]["source"] for d in others)
    d2 = int(others[0])
    assert used[others[0]]["tau_us"] == pytest.approx(np.median(truth_tau[det == d2]))
    assert any(path.name in n and "decay constants" in n for n in cl.notes)

    used = classical_parameters([path], schema, ids).decay_constants[path.name]
    assert all("truth/tau_us" in c["source"] for c in used.values())


def test_tau_us_estimated_from_tails_or_default(tmp_path: Path, monkeypatch) -> None:
    """No truth: psdlab.dsp.decay's estimate per detector (the file's median for a detector
    without a usable tail), or the 72 us default with a note when that module is absent."""
    import sys
    import types

    from psdlab.report.constants import DEFAULT_TAU_US, decay_constants
    from psdlab.utils.errors import ConfigError

    from ._synthetic import write_file

    path = write_file(tmp_path / "npml.hdf5", n=200, labelled=False)
    schema = DataSchema(trace_length=600)
    with h5py.File(path, "r") as f:
        det = f["detector"][()]

    calls = []

    def estimate(waveforms, detector, sampling_period_ns=10.0, min_pulses=5):
        """Detectors 0-2 measured well, 3 from fewer than 5 pulses, 4 not at all."""
        calls.append((len(waveforms), sorted(set(detector.tolist())), min_pulses))
        return {0: 100.0, 1: 101.0, 2: 102.0} if min_pulses > 1 else {3: 103.0}

    fake_module = types.ModuleType("psdlab.dsp.decay")
    fake_module.estimate_decay_constants = estimate
    monkeypatch.setitem(sys.modules, "psdlab.dsp.decay", fake_module)
    tau, used, notes = decay_constants(path, schema, det, 10.0)
    assert tau[det == 1] == pytest.approx(101.0) and used["1"]["source"] == "tail fit"
    assert used["3"] == {"tau_us": 103.0, "source": "tail fit of fewer than 5 pulses"}
    assert used["4"]["tau_us"] == pytest.approx(101.0) and "median" in used["4"]["source"]
    assert notes and "npml.hdf5" in notes[0]
    # the whole file once, then only the rows of the detectors without an estimate
    assert calls == [(200, [0, 1, 2, 3, 4], 5), (int(np.isin(det, [3, 4]).sum()), [3, 4], 1)]

    # a calibration record's constants come before this file's tails, detector by detector
    calls.clear()
    tau, used, _ = decay_constants(path, schema, det, 10.0, {0: 70.0}, {"1": 81.0, "4": 84.0})
    assert used["0"]["source"] == "config tau_us" and tau[det == 0] == pytest.approx(70.0)
    assert used["1"] == {"tau_us": 81.0, "source": "the calibration record"}
    assert used["4"] == {"tau_us": 84.0, "source": "the calibration record"}
    assert used["2"] == {"tau_us": 102.0, "source": "tail fit"}
    assert np.isfinite(tau).all()

    monkeypatch.setitem(sys.modules, "psdlab.dsp.decay", None)  # the module is absent
    tau, used, notes = decay_constants(path, schema, det, 10.0)
    assert np.all(tau == DEFAULT_TAU_US) and "not available" in notes[0]

    for bad in (-1.0, {"x": 70.0}, {0: "long"}, True):
        with pytest.raises(ConfigError, match="tau_us"):
            decay_constants(path, schema, det, 10.0, bad)


def test_tau_us_estimate_with_the_real_tail_fit(tmp_path: Path) -> None:
    """With psdlab.dsp.decay present: the 72 us of the synthetic pulses is found."""
    pytest.importorskip("psdlab.dsp.decay")
    from psdlab.report.constants import decay_constants

    from ._synthetic import write_file

    path = write_file(tmp_path / "npml.hdf5", n=300, length=1300, labelled=False)
    with h5py.File(path, "r") as f:
        det = f["detector"][()]
    _, used, _ = decay_constants(path, DataSchema(trace_length=1300), det, 10.0)
    for c in used.values():
        assert c["tau_us"] == pytest.approx(72.0, rel=0.1), c


@pytest.mark.skipif(not REAL_FILE.is_file(), reason="real data not present")
def test_prediction_report_on_the_real_file(tmp_path: Path) -> None:
    """The real pulses: their 'calibration' attribute is not read as psdlab's, the few DEP
    events are flagged, and the report renders."""
    from psdlab.report import build_prediction_report

    with h5py.File(REAL_FILE, "r") as f:
        meta = {k: f[k][()] for k in ("id", "detector", "run_number", "tp0", "energy_label")}
    cl = classical_parameters([REAL_FILE], DataSchema(), meta["id"], meta["energy_label"])
    assert any("not psdlab's" in n for n in cl.notes)
    assert np.nanmedian(np.abs(cl.energy - meta["energy_label"])) < 2.0
    table = {
        **{k: meta[k] for k in ("id", "detector", "run_number", "tp0")},
        "energy": meta["energy_label"],
        "score_low_avse": np.random.default_rng(8).random(meta["id"].size),
        "trap_energy": cl.energy,
        "aoe": cl.aoe,
        "dcr": cl.dcr,
        "lq": cl.lq,
        "drift_time_ns": cl.drift_time_ns,
    }
    build_prediction_report(
        table, [REAL_FILE], tmp_path, notes=cl.notes, decay_constants=cl.decay_constants
    )
    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers["energy_reference"] == "energy_label"
    assert numbers["lines"]["DEP"]["low_statistics"]
    assert set(numbers["decay_constants"][REAL_FILE.name]) == {
        str(d) for d in np.unique(meta["detector"])
    }
    assert (tmp_path / "report.html").is_file()


# --- figures and page as a physicist reads them (issue 18) ---


def _cut_label_report(tmp_path: Path):
    """A report whose label is the classical cut itself, with cuts set, three detectors, a
    run figure in figures/ and the run record of an evaluated checkpoint."""
    from matplotlib.figure import Figure

    from psdlab.report import write_report

    rng = np.random.default_rng(9)
    dep, _ = _peak_on_flat(rng, 400, 3000, 1.0, 1.0)
    e = np.concatenate([dep, rng.normal(2614.5, 1.0, 300), rng.uniform(1900, 2400, 500)])
    label = rng.random(e.size) < 0.5
    aoe = np.where(label, 1.0, -1.0) + rng.normal(0.0, 0.01, e.size)  # the cut itself
    cl = _classical_of(e, aoe)
    meta = {"id": cl.ids, "energy": e, "low_avse": label, "detector": rng.integers(0, 3, e.size)}
    table = {"id": cl.ids, "score_low_avse": label + rng.normal(0.0, 0.7, e.size)}
    rep = compute_report(table, meta, cl, {"files": ["a.hdf5"]}, min_net_counts=50)
    (tmp_path / "figures").mkdir()
    Figure(figsize=(2, 2)).savefig(tmp_path / "figures" / "roc.png")
    record = {
        "checkpoint": "/runs/a/checkpoints/best.ckpt",
        "command": ["eval.py", "report=true"],
        "git": {"commit": "abc123", "dirty": False},
    }
    (tmp_path / "run_record.json").write_text(json.dumps(record))
    write_report(rep, tmp_path)
    rep.close()
    return json.loads((tmp_path / "report.json").read_text()), (tmp_path / "report.html")


def test_every_listed_figure_is_saved_and_linked(tmp_path: Path) -> None:
    """Every figure the JSON lists exists as a PNG and is embedded and linked in the page;
    the test run's own figures (figures/*.png) are shown too."""
    numbers, html_path = _cut_label_report(tmp_path)
    page = html_path.read_text()
    files = numbers["figure_files"]
    assert set(files) == {*numbers["figures"], "run_roc"}
    kinds = ("roc", "spectrum", "survival_vs_energy", "score_vs_energy")
    assert {f"{k}_low_avse" for k in kinds} <= set(files)
    for rel in files.values():
        assert (tmp_path / rel).is_file() and (tmp_path / rel).stat().st_size > 500
        assert f'href="{rel}"' in page
    assert page.count("data:image/png;base64,") == len(files)


def test_page_provenance_circular_label_detectors_and_integers(tmp_path: Path) -> None:
    numbers, html_path = _cut_label_report(tmp_path)
    page = html_path.read_text()
    prov = numbers["provenance"]
    assert prov["checkpoint"] == "/runs/a/checkpoints/best.ckpt"
    assert prov["training_run"] == "/runs/a" and prov["git_commit"] == "abc123"
    assert prov["label_source"].startswith("cut") and prov["files"] == ["a.hdf5"]
    assert "checkpoint evaluated" in page and "/runs/a/checkpoints/best.ckpt" in page
    sec = numbers["psd"]["low_avse"]
    assert sec["auc"]["classical"] > 0.99 and sec["label_is_classical_cut"]
    assert any("circular" in n for n in numbers["notes"]) and "(circular)" in page
    assert set(sec["per_detector"]) == {"0", "1", "2"} and "Per detector" in page
    assert all(isinstance(r["n_events"], int) for r in sec["per_detector"].values())
    assert "low statistics" in page  # the per-detector lines are small: flagged, not hidden
    assert not re.search(r"n=\d+\.\d", page)  # counts print as integers
    for anchor in ("provenance", "headline", "psd-low_avse", "lines", "run-figures", "notes"):
        assert f"id='{anchor}'" in page and f"href='#{anchor}'" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The page as a browser shows it: every section in the rendered DOM, a screenshot."""
    import subprocess

    _, html_path = _cut_label_report(tmp_path)
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu"]
    url = html_path.resolve().as_uri()
    dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    for section in ("Provenance", "Headline", "Per detector", "Lines", "Figures of the test run"):
        assert section in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*args, f"--screenshot={shot}", "--window-size=1400,3000", url],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 50_000


def test_calibration_record_applies_what_it_recorded(tiny_dataset, tmp_path: Path, caplog) -> None:
    """Constants fitted on a file, saved and loaded, reproduce its classical parameters on a
    subset of its events (nothing is fitted on the subset); a malformed record fails with the
    file and the field."""
    from psdlab.report.calibration_record import ClassicalCalibration, load_calibration
    from psdlab.utils.errors import ConfigError

    path = tiny_dataset["test"][0]
    schema = DataSchema(trace_length=TINY_TRACE_LENGTH)
    with h5py.File(path, "r") as f:
        ids = f["id"][()]
    full = classical_parameters([path], schema, ids)
    saved = full.calibration.save(tmp_path / "calibration.json")
    record = ClassicalCalibration.load(saved)
    assert record == full.calibration and record.dsp and record.tau_us
    # 300 events are too few to fit bands: the record says so, and loading it warns
    assert any("A/E band: too few events" in n for n in record.fallback_notes())
    with caplog.at_level("WARNING"):
        load_calibration(tmp_path)
    assert "could not fit" in caplog.text and "A/E band: too few events" in caplog.text
    subset = ids[:80]
    applied = classical_parameters([path], schema, subset, calibration=record)
    for name in ("energy", "aoe", "dcr", "lq"):
        np.testing.assert_allclose(getattr(applied, name), getattr(full, name)[:80], rtol=1e-12)
    assert "trap energy calibrated with the calibration record (80 events)" in applied.notes
    assert "A/E band from the calibration record" in applied.notes

    data = record.to_dict()
    for bad, field in (
        ({**data, "format": "other/1"}, "format"),
        ({**data, "energy": {}}, "energy"),
        ({**data, "bands": {"aoe": {"c0": 1.0}}}, "bands.aoe"),
        ({**data, "dsp": {"rise": 3}}, "dsp"),
    ):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=rf"bad\.json field '{field}'"):
            ClassicalCalibration.load(tmp_path / "bad.json")
