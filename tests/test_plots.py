"""Figures render and are saved as PNG (pyplot-free, Agg)."""

from __future__ import annotations

import numpy as np

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
    residual_figure(e, e)
    spectrum_figure(e)
    waveform_examples_figure(np.zeros((1, 50)), ["a"])
