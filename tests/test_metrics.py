"""Metrics agree with scikit-learn / numpy on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from psdlab.metrics import (
    BackgroundRejectionAtSignalEfficiency,
    BinnedRelativeResidual,
    PeakFWHM,
    background_rejection_at_signal_efficiency,
    binary_metrics,
    peak_fwhm,
    regression_metrics,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _scores(n=2000, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    s = np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0, 1)
    if ties:
        s = np.round(s * 40) / 40
    return s.astype(np.float32), y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sig_eff", [0.5, 0.9, 0.99])
def test_bkg_rejection_at_sig_eff_matches_sklearn(seed, sig_eff):
    s, y = _scores(seed=seed, ties=seed != 2)
    fpr, tpr, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    expected = 1 - fpr[np.argmax(tpr >= sig_eff)]
    got = background_rejection_at_signal_efficiency(
        torch.from_numpy(s), torch.from_numpy(y), sig_eff
    )
    assert math.isclose(float(got), expected, abs_tol=1e-6)
    metric = BackgroundRejectionAtSignalEfficiency(sig_eff)
    for chunk in np.array_split(np.arange(len(s)), 7):  # epoch-level over several batches
        metric.update(torch.from_numpy(s[chunk]), torch.from_numpy(y[chunk]))
    assert math.isclose(float(metric.compute()), expected, abs_tol=1e-6)


def test_bkg_rejection_single_class_is_nan():
    got = background_rejection_at_signal_efficiency(torch.rand(10), torch.ones(10))
    assert math.isnan(float(got))


def test_binary_metric_set_matches_sklearn():
    s, y = _scores()
    metrics = binary_metrics(threshold=0.5)
    for chunk in np.array_split(np.arange(len(s)), 5):
        metrics.update(torch.from_numpy(s[chunk]), torch.from_numpy(y[chunk]).long())
    got = {k: float(v) for k, v in metrics.compute().items()}
    pred = s > 0.5  # torchmetrics' convention: predicted signal when score > threshold
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(y, pred).ravel()
    assert math.isclose(got["auroc"], sklearn_metrics.roc_auc_score(y, s), abs_tol=1e-5)
    assert math.isclose(got["acc"], sklearn_metrics.accuracy_score(y, pred), abs_tol=1e-6)
    assert math.isclose(got["precision"], sklearn_metrics.precision_score(y, pred), abs_tol=1e-6)
    assert math.isclose(got["recall"], sklearn_metrics.recall_score(y, pred), abs_tol=1e-6)
    assert math.isclose(got["f1"], sklearn_metrics.f1_score(y, pred), abs_tol=1e-6)
    assert math.isclose(got["sig_eff"], tp / (tp + fn), abs_tol=1e-6)
    assert math.isclose(got["bkg_rej"], tn / (tn + fp), abs_tol=1e-6)
    fpr, tpr, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    assert math.isclose(got["bkg_rej_at_90"], 1 - fpr[np.argmax(tpr >= 0.9)], abs_tol=1e-6)


def test_regression_metrics_match_numpy():
    rng = np.random.default_rng(0)
    true = rng.uniform(100, 3000, 5000)
    pred = true * (1 + rng.normal(0.01, 0.02, true.size))
    m = regression_metrics(bins=[0, 1000, 2000, 3000])
    for chunk in np.array_split(np.arange(true.size), 4):
        m.update(torch.tensor(pred[chunk]).float(), torch.tensor(true[chunk]).float())
    got = {k: float(v) for k, v in m.compute().items()}
    assert math.isclose(got["mae"], np.mean(np.abs(pred - true)), rel_tol=1e-4)
    assert math.isclose(got["rmse"], np.sqrt(np.mean((pred - true) ** 2)), rel_tol=1e-4)
    rel = (pred - true) / true
    sel = (true >= 1000) & (true < 2000)
    assert math.isclose(got["bias_1000_2000"], rel[sel].mean(), abs_tol=1e-5)
    assert math.isclose(got["resolution_1000_2000"], rel[sel].std(ddof=1), rel_tol=1e-3)
    assert math.isclose(got["bias"], rel.mean(), abs_tol=1e-5)


def test_binned_residual_empty_bin_is_nan():
    m = BinnedRelativeResidual(bins=[0, 100, 200])
    m.update(torch.tensor([50.0, 60.0]), torch.tensor([50.0, 55.0]))
    out = m.compute()
    assert math.isnan(float(out["bias_100_200"]))
    assert not math.isnan(float(out["bias_0_100"]))


def test_peak_fwhm_gaussian_on_continuum():
    rng = np.random.default_rng(1)
    sigma = 4.0
    peak = rng.normal(2614.5, sigma, 4000)
    continuum = rng.uniform(2000, 3000, 4000)
    centre, fwhm = peak_fwhm(np.r_[peak, continuum])
    assert abs(centre - 2614.5) < 0.5
    assert abs(fwhm - 2.3548 * sigma) / (2.3548 * sigma) < 0.1
    metric = PeakFWHM()
    metric.update(torch.tensor(np.r_[peak, continuum]).float())
    assert abs(float(metric.compute()) - fwhm) < 0.05


def test_peak_fwhm_nan_when_too_few_events():
    assert all(math.isnan(v) for v in peak_fwhm(np.array([2614.0, 2615.0, 100.0])))
    assert math.isnan(float(PeakFWHM().compute()))


@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_physics_roc_matches_sklearn(ties, weighted):
    """The report's numpy ROC (no scikit-learn at run time) gives scikit-learn's curve and AUC."""
    from psdlab.metrics.physics import roc_auc, roc_points

    s, y = _scores(seed=3, ties=ties)
    s = s.astype(float)
    w = None
    if weighted:
        w = np.random.default_rng(4).uniform(0.0, 2.0, s.size)
        w[::7] = 0.0  # zero weights are dropped, as the energy-matched weights of empty bins
    expected = sklearn_metrics.roc_auc_score(y, s, sample_weight=w)
    assert math.isclose(roc_auc(s, y, w), expected, rel_tol=1e-12)
    fpr, tpr = roc_points(s, y, w)
    sk_fpr, sk_tpr, _ = sklearn_metrics.roc_curve(y, s, sample_weight=w)
    np.testing.assert_allclose(fpr, sk_fpr, rtol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, rtol=1e-12)
