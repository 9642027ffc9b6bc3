"""Errors the user causes, as opposed to bugs.

A bad input file, a bad config value or a missing file should stop a run with one line that
names the file or key and what was expected; the entry points print that line without a
traceback (:func:`psdlab.run.cli.report_user_errors`). Anything else is a bug and keeps its
traceback. Each class also subclasses the builtin it refines, so callers that catch
``ValueError`` or ``FileNotFoundError`` keep working.
"""

from __future__ import annotations


class UserError(Exception):
    """An error in what the user gave psdlab (files, config), reported as one line."""


class ConfigError(UserError, ValueError):
    """A config value is not one psdlab accepts; the message names the key."""


class MissingFileError(UserError, FileNotFoundError):
    """A file the config names does not exist; the message names the key and the path."""
