"""Reading, validating, preprocessing, caching and batching waveform HDF5 files."""

from psdlab.data.datamodule import WaveformDataModule
from psdlab.data.errors import DataError
from psdlab.data.preprocess import Preprocessor
from psdlab.data.scaler import StandardScaler
from psdlab.data.schema import MJD_SCHEMA, DataSchema

__all__ = [
    "MJD_SCHEMA",
    "DataError",
    "DataSchema",
    "Preprocessor",
    "StandardScaler",
    "WaveformDataModule",
]
