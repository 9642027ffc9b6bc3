"""Old name of :mod:`psdlab.sweeps`, kept so that ``python -m psdlab.sweep_summary SWEEP_DIR``
and configs naming ``psdlab.sweep_summary.sqlite_storage`` (sweeps started before the rename)
keep working. New code uses :mod:`psdlab.sweeps`."""

from psdlab.sweeps import main, read_optuna_study, sqlite_storage, summarize

__all__ = ["main", "read_optuna_study", "sqlite_storage", "summarize"]

if __name__ == "__main__":
    main(prog="python -m psdlab.sweep_summary")
