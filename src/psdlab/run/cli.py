"""What the entry points do with errors: one line for the user's, a traceback for bugs.

A physicist who points ``eval.py`` at a file with 3000-sample traces needs the line
``<file> [dataset 'raw_waveform']: expected trace length 3800 samples, found 3000``, not 25
lines of traceback before it. Errors the user caused (:class:`psdlab.utils.errors.UserError`:
bad files, config values, missing files; an unset mandatory config key) are printed as one line
on stderr with exit status 2. ``PSDLAB_DEBUG=1`` (or Hydra's ``HYDRA_FULL_ERROR=1``) shows the
full traceback; in a multirun the error is re-raised so the sweeper records the failed trial.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from omegaconf.errors import MissingMandatoryValue

from psdlab.utils.errors import UserError

T = TypeVar("T")
EXIT_USER_ERROR = 2


def user_error(err: BaseException) -> BaseException | None:
    """The user error behind ``err`` (itself, or a cause Hydra's instantiate wrapped), if any."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, UserError | MissingMandatoryValue):
            return err
        err = err.__cause__ or err.__context__
    return None


def _traceback_wanted() -> bool:
    flags = (os.environ.get("PSDLAB_DEBUG", ""), os.environ.get("HYDRA_FULL_ERROR", ""))
    return any(f not in ("", "0") for f in flags)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def report_user_errors(run: Callable[[], T]) -> T:
    """Call ``run``; a user error becomes one stderr line and exit status 2."""
    try:
        return run()
    except Exception as err:
        cause = user_error(err)
        if cause is None or _traceback_wanted() or _in_multirun():
            raise
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        print(f"psdlab: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
