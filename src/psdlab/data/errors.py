"""The one exception type of the data layer.

A bad input file should stop a run with a message that names the file, the dataset and what
was expected, so the user can fix the file or the config instead of reading a traceback from
deep inside h5py or numpy. ``DataError`` is a :class:`psdlab.utils.errors.UserError` (the
entry points print it as one line) and a ``ValueError``, so callers that already catch
``ValueError`` keep working.
"""

from __future__ import annotations

from pathlib import Path

from psdlab.utils.errors import UserError


class DataError(UserError, ValueError):
    """An input file, dataset or selection is not what the data config expects."""


def file_error(path: str | Path, dataset: str | None, problem: str) -> DataError:
    """Build a ``DataError`` whose text always starts with the file and the dataset."""
    where = f"{path}" if dataset is None else f"{path} [dataset '{dataset}']"
    return DataError(f"{where}: {problem}")
