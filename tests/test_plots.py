"""Figures render and are saved as PNG (pyplot-free, Agg)."""

from __future__ import annotations

import numpy as np
import pytest

from psdlab.plots import (
    TH228_LINES_KEV,
    confusion_matrix_figure,
    make_figures,
    pred_vs_true_figure,
    residual_figure,
    roc_figure,
    score_distribution_figure,
    spectrum_figure,
    waveform_examples_figure,
)


def _table(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    table = {"id": np.arange(n)}
    for name in ("low_avse", "dcr"):
        y = rng.random(n) < 0.6
        table[f"label_{name}"] = y
        table[f"score_{name}"] = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    table["label_all_cuts"] = table["label_low_avse"] & table["label_dcr"]
    table["score_all_cuts"] = table["score_low_avse"] * table["score_dcr"]
    lines = rng.choice(TH228_LINES_KEV, n // 3)
    true = np.r_[rng.exponential(600, n - lines.size), lines + rng.normal(0, 1.0, lines.size)]
    table["energy"] = true
    table["energy_pred"] = true + rng.normal(0, 5 + 0.005 * true)
    t = np.arange(400)
    table["example_waveform"] = (1 / (1 + np.exp(-(t - 200) / rng.uniform(2, 10, (6, 1)))))[:, None]
    table["example_row"] = np.arange(6)
    return table


def test_make_figures_all_kinds(tmp_path):
    figs = make_figures(_table())
    assert set(figs) == {
        "roc",
        "score_distributions",
        "confusion_matrix",
        "energy_pred_vs_true",
        "energy_residuals",
        "energy_spectrum",
        "example_waveforms",
    }
    for name, fig in figs.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=60)
        assert path.stat().st_size > 1000


def test_make_figures_partial_tables():
    t = _table()
    cls_only = {k: v for k, v in t.items() if not k.startswith("energy")}
    assert "energy_spectrum" not in make_figures(cls_only)
    no_truth = {"energy_pred": t["energy_pred"]}
    assert set(make_figures(no_truth)) == {"energy_spectrum"}
    assert make_figures({}) == {}


def test_single_figures_handle_edge_cases():
    s = {"x": np.array([0.2, 0.7])}
    one_class = {"x": np.array([True, True])}
    for fn in (roc_figure, score_distribution_figure, confusion_matrix_figure):
        fn(s, one_class)
    e = np.array([100.0, 2614.0])
    pred_vs_true_figure(e, e)
    pred_vs_true_figure(e, -e)  # nothing in range (an untrained net): no colour bar, no error
    residual_figure(e, e)
    spectrum_figure(e)
    waveform_examples_figure(np.zeros((1, 50)), ["a"])


def test_roc_convention_log_axis_and_operating_points():
    """One convention (signal vs background acceptance), log background axis, and per label
    the threshold's point and the 90 %-signal point marked."""
    t = _table()
    scores = {"low_avse": t["score_low_avse"]}
    labels = {"low_avse": t["label_low_avse"]}
    ax = roc_figure(scores, labels, sig_eff=0.9, threshold=0.5).axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("background acceptance")
    assert ax.get_ylabel().startswith("signal acceptance")
    markers = [ln.get_marker() for ln in ax.get_lines()]
    assert "o" in markers and "s" in markers
    legend = " ".join(x.get_text() for x in ax.get_legend().get_texts())
    assert "AUC" in legend and "at 90% sig" in legend


def test_example_waveforms_physics_axes_and_captions():
    """Time in us (from tp0 with a tp0 window), the amplitude unit named, each example's
    energy, score and label named, and at most six readable panels."""
    from psdlab.plots import waveform_axis

    t = _table()
    t["example_waveform"] = np.repeat(t["example_waveform"], 2, axis=0)  # 12 examples
    t["example_row"] = np.arange(12)
    axis = waveform_axis(sampling_period_ns=10.0, downsample=2, window_offset=-200)
    fig = make_figures(t, waveform_axis=axis)["example_waveforms"]
    drawn = [ax for ax in fig.axes if ax.get_lines()]
    assert len(drawn) == 6
    ax = drawn[0]
    assert ax.get_xlabel() == "time from tp0 [us]" and "normalised" in ax.get_ylabel()
    x = ax.get_lines()[0].get_xdata()
    assert x[0] == pytest.approx(-2.0) and x[1] - x[0] == pytest.approx(
        0.02
    )  # 200 samples before tp0, 20 ns per input sample
    title = ax.get_title()
    assert "keV" in title and "low_avse: score" in title
    assert "label pass" in title or "label fail" in title
    assert waveform_axis(normalize="none")["amplitude_label"] == "amplitude [ADC]"


def test_example_waveforms_rise_axis_without_amplitude_channel():
    """Rise-aligned windows count time from the rise point; the constant log10 amplitude
    channel is left out of the pulse plots (it would flatten them)."""
    from psdlab.plots import waveform_axis, waveform_examples_figure

    axis = waveform_axis(window_mode="rise", window_offset=-100, amplitude_channel=True)
    assert axis["time_label"] == "time from the rise point [us]"
    assert axis["time_offset_us"] == pytest.approx(-1.0)
    w = np.stack([np.linspace(0, 1, 50), np.full(50, 3.2)])[None].repeat(2, axis=0)
    fig = waveform_examples_figure(w, ["a", "b"], **axis)
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1]
