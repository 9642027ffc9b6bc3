"""Simulated events with labels: the simulator's calibration campaign and the composition.

The simulator (:mod:`psdlab.simulate.simulator`) makes traces and truth only; the classical
cuts live in :mod:`psdlab.labelling`. This module joins them, as an experiment does: the cut
values cannot be derived inside a small file (a few hundred events hold almost no DEP
events), so one large internal calibration run per :class:`SimulatorConfig` (fixed seed,
DEP- and FEP-enriched) fixes the energy scale, the A/E/DCR/LQ bands and the cut values. The
result is cached as JSON keyed by the configuration hash and the code version (written
atomically), so every file of a configuration shares it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from psdlab.dsp import DSPConfig, compute_parameters
from psdlab.labelling import (
    CALIBRATION_VERSION,
    CutCalibration,
    CutSettings,
    apply_cuts,
    fit_cuts,
)
from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.simulator import PulseSimulator
from psdlab.utils.io import atomic_path

__all__ = [
    "CALIBRATION_VERSION",
    "CutCalibration",
    "apply_cuts",
    "cache_dir",
    "calibrate",
    "cut_settings",
    "dsp_config_for",
    "get_calibration",
    "label_range",
]

_MEMO: dict[str, CutCalibration] = {}
CAMPAIGN_BOOST = {"dep": 12.0, "fep": 2.0, "low": 0.25}  # like a long calibration run


def dsp_config_for(cfg: SimulatorConfig) -> DSPConfig:
    """The MJD filter chain fitted to the configuration's trace length and tp0."""
    return DSPConfig.for_trace(
        cfg.trace_length, cfg.tp0_mean, tau2_us=cfg.tau2_us, tau2_fraction=cfg.tau2_fraction
    )


def cut_settings(cfg: SimulatorConfig) -> CutSettings:
    """The cut positions kept in the simulator configuration (they key its calibration)."""
    return CutSettings(
        aoe_low_keep=cfg.aoe_low_keep,
        aoe_high_sigma=cfg.aoe_high_sigma,
        dcr_sigma=cfg.dcr_sigma,
        lq_keep=cfg.lq_keep,
    )


def cache_dir() -> Path:
    """``$PSDLAB_CACHE_DIR`` or ``~/.cache/psdlab``; holds ``simulator_calibration/``."""
    root = os.environ.get("PSDLAB_CACHE_DIR") or Path.home() / ".cache" / "psdlab"
    return Path(root) / "simulator_calibration"


def calibrate(cfg: SimulatorConfig, progress: bool = False) -> CutCalibration:
    """Run the calibration campaign for ``cfg`` and derive every cut constant."""
    sim = PulseSimulator(cfg, seed=cfg.calibration_seed)
    dspc = dsp_config_for(cfg)
    n = cfg.calibration_events
    chunks, gains = [], []
    for s in range(0, n, 5000):
        wf, tr = sim.raw_range(s, min(n, s + 5000), line_boost=CAMPAIGN_BOOST)
        chunks.append(compute_parameters(wf, cfg.sampling_period_ns, tr["tau_us"], dspc))
        gains.append(tr["gain_kev_per_adc"])
        if progress:
            print(f"calibration: {min(n, s + 5000)}/{n} events", flush=True)
    params = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    return fit_cuts(
        params, np.concatenate(gains), cut_settings(cfg), dspc, config_hash=cfg.physics_hash()
    )


def get_calibration(cfg: SimulatorConfig, progress: bool = False) -> CutCalibration:
    """The cached calibration of ``cfg``, computing and storing it on first use."""
    # the key covers the configuration and the version of the code that produced the cuts
    key = f"{cfg.physics_hash()}-v{CALIBRATION_VERSION}"
    if key in _MEMO:
        return _MEMO[key]
    path = cache_dir() / f"{key}.json"
    cal = None
    if path.exists():
        try:
            cal = CutCalibration.from_json(path.read_text())
        except (ValueError, TypeError, KeyError):
            cal = None
    if cal is None:
        cal = calibrate(cfg, progress=progress)
        with atomic_path(path) as tmp:
            tmp.write_text(cal.to_json())
    _MEMO[key] = cal
    return cal


def label_range(
    sim: PulseSimulator, start: int, stop: int, first_id: int = 0, run_number: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Events ``start..stop`` of ``sim``'s stream with labels, as ``(root, truth)``.

    ``root`` holds the release datasets (``raw_waveform``, ``energy_label``, the four
    ``psd_label_*``, ``tp0``, ``detector``, ``run_number``, ``id``); ``truth`` the simulated
    truth plus every DSP parameter as ``dsp_*`` and ``aoe_classifier``.
    """
    wf, truth = sim.raw_range(start, stop)
    cal = get_calibration(sim.config)
    labels, params = apply_cuts(
        wf, truth["gain_kev_per_adc"], truth["tau_us"], cal, sim.config.sampling_period_ns
    )
    n = wf.shape[0]
    root = {
        "raw_waveform": wf,
        "energy_label": labels["energy"],
        "psd_label_low_avse": labels["low_avse"],
        "psd_label_high_avse": labels["high_avse"],
        "psd_label_dcr": labels["dcr"],
        "psd_label_lq": labels["lq"],
        "tp0": np.round(params["tp0"]).astype(np.int64),
        "detector": sim.detectors.detector_id[truth["detector_index"]],
        "run_number": np.full(n, run_number, dtype=np.int64),
        "id": np.arange(first_id + start, first_id + stop, dtype=np.int64),
    }
    truth = {**truth, **{f"dsp_{k}": v for k, v in params.items()}}
    truth["aoe_classifier"] = labels["aoe_classifier"]
    return root, truth
