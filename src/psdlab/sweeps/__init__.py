"""Hyperparameter sweeps: the Optuna storage, and one table and figure for a whole sweep.

``python -m psdlab.sweeps SWEEP_DIR`` prints every trial of a grid or Optuna sweep (finished,
running or interrupted), writes ``sweep_summary.csv`` and ``sweep_summary.png`` into the sweep
directory and names the best trial (docs/sweeps.md). :func:`sqlite_storage` is the storage
factory of ``conf/hparams_search/optuna.yaml``.

Modules: ``trials`` (one trial directory), ``storage`` (the Optuna study), ``summary`` (the
table and the CSV), ``figure`` (the PNG), ``cli`` (the command line).
"""

from psdlab.sweeps.cli import main, print_summary
from psdlab.sweeps.figure import PLOT_FILE, sweep_figure, write_plot
from psdlab.sweeps.storage import STUDY_FILE, read_optuna_study, sqlite_storage
from psdlab.sweeps.summary import CSV_FILE, SweepSummary, summarize, write_csv
from psdlab.sweeps.trials import Trial, find_trial_dirs, read_trial

__all__ = [
    "CSV_FILE",
    "PLOT_FILE",
    "STUDY_FILE",
    "SweepSummary",
    "Trial",
    "find_trial_dirs",
    "main",
    "print_summary",
    "read_optuna_study",
    "read_trial",
    "sqlite_storage",
    "summarize",
    "sweep_figure",
    "write_csv",
    "write_plot",
]
