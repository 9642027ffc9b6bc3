"""Labels from classical cuts, with constants from a cached calibration campaign.

As in the real release, a label is the outcome of a cut computed on the waveform, not the
truth. The cut values cannot be derived inside a small file (a few hundred events hold
almost no DEP events), so, like an experiment's calibration campaign, one large internal
calibration run per :class:`SimulatorConfig` (fixed seed, DEP- and FEP-enriched) fixes the
energy scale, the A/E/DCR/LQ bands and the cut values. The result is cached as JSON keyed
by the configuration hash (written atomically), so every file of a configuration shares it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from psdlab.dsp import (
    BandCorrection,
    DSPConfig,
    EnergyCalibration,
    compute_parameters,
    dep_cut_threshold,
)
from psdlab.simulate.config import SimulatorConfig
from psdlab.utils.io import atomic_path

CALIBRATION_VERSION = 2  # bump whenever pulse, DSP or cut code changes
_MEMO: dict[str, CutCalibration] = {}


@dataclass(frozen=True)
class CutCalibration:
    """Constants of the classical cuts of one configuration (see docs/simulator.md)."""

    energy_slope: float
    energy_offset: float
    aoe_band: dict[str, float]
    aoe_low_cut: float
    aoe_high_cut: float
    dcr_band: dict[str, float]
    dcr_cut: float
    lq_band: dict[str, float]
    lq_cut: float
    dsp: dict[str, float]
    config_hash: str
    n_events: int

    def to_json(self) -> str:
        return json.dumps({"version": CALIBRATION_VERSION, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CutCalibration:
        d = json.loads(text)
        if d.pop("version", None) != CALIBRATION_VERSION:
            raise ValueError("stale calibration version")
        return cls(**d)


def dsp_config_for(cfg: SimulatorConfig) -> DSPConfig:
    return DSPConfig.for_trace(
        cfg.trace_length, cfg.tp0_mean, tau2_us=cfg.tau2_us, tau2_fraction=cfg.tau2_fraction
    )


def cache_dir() -> Path:
    """``$PSDLAB_CACHE_DIR`` or ``~/.cache/psdlab``; holds ``simulator_calibration/``."""
    root = os.environ.get("PSDLAB_CACHE_DIR") or Path.home() / ".cache" / "psdlab"
    return Path(root) / "simulator_calibration"


def _uncalibrated_kev(params: dict[str, np.ndarray], gain: np.ndarray) -> np.ndarray:
    # per-detector gains are known from each channel's own calibration: apply them first
    return params["trap_energy"] * gain


def calibrate(cfg: SimulatorConfig, progress: bool = False) -> CutCalibration:
    """Run the calibration campaign for ``cfg`` and derive every cut constant."""
    from psdlab.simulate.simulator import PulseSimulator

    sim = PulseSimulator(cfg, seed=cfg.calibration_seed)
    dspc = dsp_config_for(cfg)
    n = cfg.calibration_events
    boost = {"dep": 12.0, "fep": 2.0, "low": 0.25}
    chunks = []
    for s in range(0, n, 5000):
        wf, tr = sim.raw_range(s, min(n, s + 5000), line_boost=boost)
        p = compute_parameters(wf, cfg.sampling_period_ns, tr["tau_us"], dspc)
        p["uncal"] = _uncalibrated_kev(p, tr["gain_kev_per_adc"])
        chunks.append(p)
        if progress:
            print(f"calibration: {min(n, s + 5000)}/{n} events", flush=True)
    p = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    ecal = EnergyCalibration.fit(p["uncal"])
    energy = ecal(p["uncal"])
    aoe_band = BandCorrection.fit(energy, p["aoe"], side="upper")
    aoe_c = aoe_band.classifier(energy, p["aoe"])
    low = dep_cut_threshold(energy, aoe_c, keep=cfg.aoe_low_keep)
    high = cfg.aoe_high_sigma
    dcr_band = BandCorrection.fit(energy, p["dcr"], side="lower")
    lq_band = BandCorrection.fit(energy, p["lq"], side="lower")
    lq_c = lq_band.classifier(energy, p["lq"])
    lq_cut = dep_cut_threshold(energy, lq_c, keep=cfg.lq_keep, upper=True)
    return CutCalibration(
        energy_slope=ecal.slope,
        energy_offset=ecal.offset,
        aoe_band=aoe_band.to_dict(),
        aoe_low_cut=float(low),
        aoe_high_cut=float(high),
        dcr_band=dcr_band.to_dict(),
        dcr_cut=float(cfg.dcr_sigma),
        lq_band=lq_band.to_dict(),
        lq_cut=float(lq_cut),
        dsp=asdict(dspc),
        config_hash=cfg.physics_hash(),
        n_events=n,
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


def apply_cuts(
    waveforms: np.ndarray,
    gain_kev_per_adc: np.ndarray,
    tau_us: np.ndarray,
    cal: CutCalibration,
    cfg: SimulatorConfig,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Calibrated energy and the four pass/fail labels (True = signal-like) of traces."""
    params = compute_parameters(
        waveforms, cfg.sampling_period_ns, tau_us, DSPConfig(**cal.dsp), chunk_size=2000
    )
    energy = cal.energy_offset + cal.energy_slope * _uncalibrated_kev(params, gain_kev_per_adc)
    aoe_c = BandCorrection(**cal.aoe_band).classifier(energy, params["aoe"])
    dcr_c = BandCorrection(**cal.dcr_band).classifier(energy, params["dcr"])
    lq_c = BandCorrection(**cal.lq_band).classifier(energy, params["lq"])
    labels = {
        "energy": energy,
        "low_avse": aoe_c > cal.aoe_low_cut,
        "high_avse": aoe_c < cal.aoe_high_cut,
        "dcr": dcr_c < cal.dcr_cut,
        "lq": lq_c < cal.lq_cut,
        "aoe_classifier": aoe_c,
        "dcr_classifier": dcr_c,
        "lq_classifier": lq_c,
    }
    return labels, params
