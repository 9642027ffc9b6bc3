"""The pre-training study's analysis scripts (bench/label_efficiency.py,
bench/recon_profile.py) on constructed data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _trial(root: Path, name: str, size: str, pretrained: str, seed: int, auroc: float) -> None:
    trial = root / name
    (trial / ".hydra").mkdir(parents=True)
    overrides = [f"seed={seed}", f"pretrained={pretrained}", f"data.max_train_events={size}"]
    (trial / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (trial / "metrics.json").write_text(json.dumps({"test/auroc": auroc}))


@pytest.fixture()
def label_efficiency():
    sys.path.insert(0, str(BENCH))
    import label_efficiency

    yield label_efficiency
    sys.path.remove(str(BENCH))


def test_summary_pairs_seeds_and_compares_the_gain_with_the_spread(
    tmp_path: Path, label_efficiency
) -> None:
    scratch = {1000: [0.90, 0.92, 0.94], 3000: [0.950, 0.951, 0.952]}
    gains = {1000: [0.01, -0.02, 0.04], 3000: [0.010, 0.011, 0.012]}
    for size in scratch:
        for seed, (base, gain) in enumerate(zip(scratch[size], gains[size]), start=1):
            _trial(tmp_path, f"s{size}_{seed}", str(size), "null", seed, base)
            ckpt = "runs/mae/checkpoints/best.ckpt"
            _trial(tmp_path, f"p{size}_{seed}", str(size), ckpt, seed, base + gain)
    _trial(tmp_path, "all_1", "null", "null", 1, 0.97)
    # a second pre-training is its own mode, named after its run directory
    _trial(tmp_path, "d1000_1", "1000", "runs/dsp/checkpoints/best.ckpt", 1, 0.99)
    results = label_efficiency.read_trials(tmp_path)
    assert results[("all", "scratch")] == {1: 0.97}
    assert results[("1000", "mae")][3] == pytest.approx(0.98)
    assert results[("1000", "dsp")] == {1: 0.99}
    assert label_efficiency.pretrained_modes(results) == ["dsp", "mae"]

    assert label_efficiency.gain_summary(results, "dsp") == []  # one seed: no spread
    lines = label_efficiency.gain_summary(results, "mae")
    assert len(lines) == 2  # "all" has no pre-trained seed to pair with
    # 1,000: 2 of 3 gain, +0.01 on average, but the columns spread by 0.02 and more
    assert lines[0].startswith("1000: 2 of 3 seeds gain; gain +0.0100")
    assert "not above" in lines[0]
    # 3,000: every seed gains 0.010-0.012, ten times the columns' spread of 0.001
    assert lines[1].startswith("3000: 3 of 3 seeds gain; gain +0.0110")
    assert "above the seed-to-seed spread" in lines[1] and "not above" not in lines[1]
    table = label_efficiency.markdown_table(results, "mae")
    assert "| 3000 | 0.9510 ± 0.0010 | 0.9620 ± 0.0020 | +0.0110 ± 0.0010 |" in table
    assert "0.9900" not in table  # the other pre-training's trial is not in this table


def test_reconstruction_profile_bins_by_time() -> None:
    """bench/recon_profile.py: hidden-sample errors averaged per time bin, counts as weights."""
    sys.path.insert(0, str(BENCH))
    try:
        from recon_profile import binned_profile
    finally:
        sys.path.remove(str(BENCH))
    times = np.arange(10) * 0.5 - 1.0  # -1.0 .. 3.5 us
    n = np.array([2, 2, 0, 0, 1, 1, 1, 1, 4, 4], float)
    sq = n * np.array([1, 1, 9, 9, 2, 2, 2, 4, 3, 3], float)
    assert binned_profile(sq, n, times, [-1.0, 0.0, 1.0, 2.5, 4.0]) == pytest.approx(
        [1.0, float("nan"), 2.0, (4 + 3 * 8) / 9], nan_ok=True
    )
