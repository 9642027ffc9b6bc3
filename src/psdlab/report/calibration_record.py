"""The constants a calibration run fixes, written once and applied to other files.

An experiment does not calibrate a physics run on itself: a background run has no usable
228Th lines and no double-escape peak, and its event mix (mostly multi-site Compton events,
alphas) would pull an A/E band fitted on it. The energy scale, the drift-time correction, the
A/E, DCR and LQ bands, the pole-zero decay constants and the 90 %-DEP cut values are fitted
on a calibration run and then applied to the runs around it. ``predict.py`` writes this
record as ``calibration.json`` after fitting the constants on the files it scored, and
applies a given one with ``calibration=PATH`` (``psdlab.run.predict``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from psdlab.dsp import BandCorrection, DSPConfig, EnergyCalibration
from psdlab.utils.errors import ConfigError, MissingFileError
from psdlab.utils.io import write_json

log = logging.getLogger(__name__)
FORMAT = "psdlab-classical-calibration/1"
# the energy-scale group when per-channel gains are known (simulated files): one scale for all
ALL_CHANNELS = "all"
BAND_NAMES = ("aoe", "dcr", "lq")
# words of psdlab.report.classical's notes for a constant not fitted on the events
FALLBACK_MARKS = ("too few", "none", "median/MAD", "no events", "stored", "linear fit to")


@dataclass
class ClassicalCalibration:
    """Constants of the classical analysis fitted on a calibration run.

    Attributes:
        energy: energy-scale group -> ``{"slope", "offset"}``: keV = offset + slope * trap.
            A group is a detector id as a string; a calibration run whose files carry
            per-channel gains (simulated ones) also has ``"all"``, the one scale of the
            gain-corrected trap energy, used for files with gains (the detectors' scales,
            slope times gain, serve files without them, e.g. real ones).
        ctc_alpha_per_us: drift-time (charge-trapping) correction, 0 for none.
        bands: ``aoe``/``dcr``/``lq`` -> :class:`BandCorrection` fields (absent: not fitted).
        tau_us: detector id (string) -> pole-zero decay constant in us.
        dsp: the filters the parameters were computed with (:class:`psdlab.dsp.DSPConfig`
            fields): the energy scale and the bands hold for these filters only, so the
            files they are applied to are processed with them too.
        thresholds: PSD target -> ``{"network": cut, "classical": cut}``, each keeping 90 % of
            the DEP (events pass with a score above the cut); absent when the run had too few
            DEP events.
        files: the calibration run's files.
        checkpoint, checkpoint_sha256: the network whose scores the ``network`` cut values
            belong to (another network's scores need cuts of their own).
        notes: how each constant was obtained.
    """

    energy: dict[str, dict[str, float]]
    ctc_alpha_per_us: float = 0.0
    bands: dict[str, dict[str, float]] = field(default_factory=dict)
    tau_us: dict[str, float] = field(default_factory=dict)
    dsp: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    notes: list[str] = field(default_factory=list)

    def energy_calibration(self, group: str) -> EnergyCalibration | None:
        """The energy scale of ``group``, or None when the calibration run did not have it."""
        c = self.energy.get(group)
        return None if c is None else EnergyCalibration(float(c["slope"]), float(c["offset"]))

    def band(self, name: str) -> BandCorrection | None:
        b = self.bands.get(name)
        return None if b is None else BandCorrection(**{k: float(v) for k, v in b.items()})

    def for_checkpoint(self, path: str | os.PathLike | None) -> ClassicalCalibration:
        """This record as it applies to the network at ``path``: without the network's cut
        values when they belong to another network, or to none (the classical ones hold)."""
        if path is not None and self.checkpoint_sha256 == file_sha256(path):
            return self
        cuts = {
            t: {k: v for k, v in c.items() if k != "network"} for t, c in self.thresholds.items()
        }
        return replace(self, thresholds={t: c for t, c in cuts.items() if c})

    def fallback_notes(self) -> list[str]:
        """The notes of constants that were not fitted on the calibration run's own events
        (too few of them: a stored, flat or missing constant). Applying such a record to
        other files carries those fallbacks with it, so its users are warned."""
        return [n for n in self.notes if any(k in n for k in FALLBACK_MARKS)]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the record as JSON (atomically)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ClassicalCalibration:
        """Read a record written by :meth:`save`; one clear line on anything else."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"calibration: file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"calibration: {path} is not JSON ({err})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(
                f"calibration: {path} field 'format': expected '{FORMAT}' (a calibration.json "
                f"written by predict.py), got {got!r}"
            )
        names = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in names})
        _check(record, path)
        return record


def load_calibration(
    path: str | os.PathLike, checkpoint: str | os.PathLike | None = None
) -> ClassicalCalibration:
    """A record from ``path`` (a calibration.json, or the prediction directory holding one)
    as it applies to the network at ``checkpoint`` (:meth:`ClassicalCalibration.for_checkpoint`;
    None: no network). Warns when the record's network cuts are dropped, and when it holds
    constants its calibration run could not fit."""
    path = Path(path)
    record = ClassicalCalibration.load(path / "calibration.json" if path.is_dir() else path)
    weak = record.fallback_notes()
    if weak:
        log.warning(
            "calibration: %s holds constants its calibration run could not fit: %s",
            path,
            "; ".join(weak),
        )
    applied = record.for_checkpoint(checkpoint)
    if record.thresholds != applied.thresholds:
        log.warning(
            "calibration: %s was recorded with another checkpoint (%s): its network cuts are "
            "not used for %s; its classical constants and cuts are",
            path,
            record.checkpoint or "none",
            checkpoint or "this run",
        )
    return applied


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes: which checkpoint a record's network cuts belong to,
    wherever the file was moved."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(record: ClassicalCalibration, path: Path) -> None:
    """Every constant where the analysis expects it, so that a hand-edited file fails here."""
    if not isinstance(record.energy, dict) or not record.energy:
        raise ConfigError(f"calibration: {path} field 'energy': expected a non-empty mapping")
    for group, c in record.energy.items():
        if not isinstance(c, dict) or not {"slope", "offset"} <= set(c):
            raise ConfigError(
                f"calibration: {path} field 'energy.{group}': expected slope and offset"
            )
    unknown = set(record.dsp) - {f.name for f in fields(DSPConfig)}
    if unknown:
        raise ConfigError(
            f"calibration: {path} field 'dsp': unknown filter settings {sorted(unknown)}"
        )
    band_fields = {f.name for f in fields(BandCorrection)}
    for name, b in record.bands.items():
        if name not in BAND_NAMES or not isinstance(b, dict) or set(b) != band_fields:
            raise ConfigError(
                f"calibration: {path} field 'bands.{name}': expected one of {BAND_NAMES} "
                f"with {sorted(band_fields)}"
            )
