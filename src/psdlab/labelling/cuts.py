"""Labels from classical cuts: fit the cut constants on calibration data, apply them to traces.

As in the real release, a label is the outcome of a cut computed on the waveform, not the
truth. The constants come from a calibration run (here: any traces with their detector
gains and decay constants, e.g. the simulator's internal campaign in
:mod:`psdlab.simulate.labels`): the energy scale from the 228Th lines, the A/E, DCR and LQ
bands from energy slices, the low A/E and LQ cuts from the double-escape peak. This module
knows nothing about how the traces were made, so real calibration data could be labelled the
same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from psdlab.dsp import (
    BandCorrection,
    DriftTimeCorrection,
    DSPConfig,
    EnergyCalibration,
    compute_parameters,
    dep_cut_threshold,
)

CALIBRATION_VERSION = 4  # bump whenever pulse, DSP or cut code changes


@dataclass(frozen=True)
class CutSettings:
    """Where the cuts sit (MJD conventions; see docs/simulator.md).

    aoe_low_keep: fraction of DEP events the low A/E cut keeps (MJD: 0.90).
    aoe_high_sigma: high A/E cut, in single-site band widths above the band centre.
    dcr_sigma: DCR cut at this many robust sigmas above the bulk band.
    lq_keep: fraction of DEP events the LQ cut keeps.
    """

    aoe_low_keep: float = 0.90
    aoe_high_sigma: float = 7.0
    dcr_sigma: float = 4.0
    lq_keep: float = 0.99


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
    ctc_alpha_per_us: float = 0.0  # drift-time (charge-trapping) correction, on qdrift_ns

    def to_json(self) -> str:
        return json.dumps({"version": CALIBRATION_VERSION, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CutCalibration:
        d = json.loads(text)
        if d.pop("version", None) != CALIBRATION_VERSION:
            raise ValueError("stale calibration version")
        return cls(**d)


def uncalibrated_kev(
    params: dict[str, np.ndarray], gain: np.ndarray, ctc_alpha_per_us: float = 0.0
) -> np.ndarray:
    """Trap energy in roughly-keV units, drift-time corrected when ``ctc_alpha_per_us`` is
    set: per-detector gains come from each channel's own calibration, so they are applied
    before the common line fit."""
    ctc = DriftTimeCorrection(ctc_alpha_per_us)
    return ctc(params["trap_energy"] * gain, params["qdrift_ns"])


def fit_cuts(
    params: dict[str, np.ndarray],
    gain_kev_per_adc: np.ndarray,
    settings: CutSettings,
    dsp: DSPConfig,
    config_hash: str = "",
) -> CutCalibration:
    """Derive every cut constant from the DSP parameters of a calibration run.

    The drift-time correction is fitted on the 2614.5 keV line of a first calibration, then
    the energy scale is fitted again on the corrected energies.
    """
    raw = uncalibrated_kev(params, gain_kev_per_adc)
    ctc = DriftTimeCorrection.fit(EnergyCalibration.fit(raw)(raw), params["qdrift_ns"])
    uncal = uncalibrated_kev(params, gain_kev_per_adc, ctc.alpha_per_us)
    ecal = EnergyCalibration.fit(uncal)
    energy = ecal(uncal)
    aoe_band = BandCorrection.fit(energy, params["aoe"], side="upper")
    aoe_c = aoe_band.classifier(energy, params["aoe"])
    low = dep_cut_threshold(energy, aoe_c, keep=settings.aoe_low_keep)
    dcr_band = BandCorrection.fit(energy, params["dcr"], side="core")
    lq_band = BandCorrection.fit(energy, params["lq"], side="lower")
    lq_c = lq_band.classifier(energy, params["lq"])
    lq_cut = dep_cut_threshold(energy, lq_c, keep=settings.lq_keep, upper=True)
    return CutCalibration(
        energy_slope=ecal.slope,
        energy_offset=ecal.offset,
        aoe_band=aoe_band.to_dict(),
        aoe_low_cut=float(low),
        aoe_high_cut=float(settings.aoe_high_sigma),
        dcr_band=dcr_band.to_dict(),
        dcr_cut=float(settings.dcr_sigma),
        lq_band=lq_band.to_dict(),
        lq_cut=float(lq_cut),
        dsp=asdict(dsp),
        config_hash=config_hash,
        n_events=int(uncal.size),
        ctc_alpha_per_us=ctc.alpha_per_us,
    )


def apply_cuts(
    waveforms: np.ndarray,
    gain_kev_per_adc: np.ndarray,
    tau_us: np.ndarray,
    cal: CutCalibration,
    sampling_period_ns: float = 10.0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Calibrated energy and the four pass/fail labels (True = signal-like) of traces.

    Returns ``(labels, params)``: ``labels`` holds ``energy`` (keV, drift-time corrected
    with the calibration's alpha), ``low_avse``,
    ``high_avse``, ``dcr``, ``lq`` and the three band classifiers; ``params`` the raw DSP
    parameters of :func:`psdlab.dsp.compute_parameters`.
    """
    params = compute_parameters(
        waveforms, sampling_period_ns, tau_us, DSPConfig(**cal.dsp), chunk_size=2000
    )
    uncal = uncalibrated_kev(params, gain_kev_per_adc, cal.ctc_alpha_per_us)
    energy = cal.energy_offset + cal.energy_slope * uncal
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
