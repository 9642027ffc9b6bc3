"""Names and geometry of a waveform HDF5 file.

Everything that differs between experiments' files (dataset names, trace length, sampling
period) lives here, so the rest of psdlab asks for *logical* fields (``"low_avse"``,
``"energy"``) and never hard-codes an HDF5 key. The defaults describe the Majorana
Demonstrator AI/ML release (Zenodo 8257027), which the simulator writes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MJD_LABELS: dict[str, str] = {
    "low_avse": "psd_label_low_avse",
    "high_avse": "psd_label_high_avse",
    "dcr": "psd_label_dcr",
    "lq": "psd_label_lq",
}
MJD_METADATA: dict[str, str] = {"id": "id", "detector": "detector", "run_number": "run_number"}


@dataclass(frozen=True)
class DataSchema:
    """Where each logical field lives in a file, and the shape of a trace.

    Attributes:
        waveform: dataset of shape (N, trace_length) holding the raw digitised traces.
        energy: dataset of event energies in keV (absent in unlabelled files).
        tp0: dataset with the sample index where the rising edge starts.
        labels: logical label name -> dataset name; True means "passes the cut" (signal-like).
        metadata: logical name -> dataset name for per-event integers (``id`` is required).
        trace_length: samples per trace.
        sampling_period_ns: time between samples.
        truth_group: HDF5 group holding simulated truth (absent in real data).
    """

    waveform: str = "raw_waveform"
    energy: str = "energy_label"
    tp0: str = "tp0"
    labels: Mapping[str, str] = field(default_factory=lambda: dict(MJD_LABELS))
    metadata: Mapping[str, str] = field(default_factory=lambda: dict(MJD_METADATA))
    trace_length: int = 3800
    sampling_period_ns: float = 10.0
    truth_group: str = "truth"

    def label_dataset(self, name: str) -> str:
        """HDF5 dataset name of a logical label, with an error that lists the known ones."""
        try:
            return self.labels[name]
        except KeyError:
            raise KeyError(
                f"label '{name}' is not in the data schema; known labels: {sorted(self.labels)}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = dict(self.labels)
        d["metadata"] = dict(self.metadata)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DataSchema:
        return cls(**dict(d or {}))


MJD_SCHEMA = DataSchema()
