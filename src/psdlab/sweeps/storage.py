"""The Optuna study of a sweep: its storage factory, and reading its trials back.

The study lives in SQLite inside the sweep directory (``<sweep dir>/optuna.db``), so that
re-running a sweep with the same ``hydra.sweep.dir`` resumes it: the sweeper loads the
existing study and the sampler sees every finished trial (conf/hparams_search/optuna.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STUDY_FILE = "optuna.db"


def sqlite_storage(sweep_dir: str) -> Any:
    """Optuna storage in ``<sweep_dir>/optuna.db``, creating the sweep directory first.

    The storage factory of ``conf/hparams_search/optuna.yaml``: the sweeper opens its study
    before the launcher creates the sweep directory, and SQLite cannot create a database in a
    missing directory.
    """
    import optuna

    root = Path(sweep_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{root / STUDY_FILE}")


def read_optuna_study(sweep_dir: Path) -> dict[str, Any] | None:
    """Trials (number, state, params, value) of the study in ``<sweep_dir>/optuna.db``."""
    db = Path(sweep_dir) / STUDY_FILE
    if not db.is_file():
        return None
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = f"sqlite:///{db.resolve()}"
        summaries = optuna.get_all_study_summaries(storage)
        if not summaries:
            return None
        study = optuna.load_study(study_name=summaries[0].study_name, storage=storage)
        trials = [
            {
                "number": t.number,
                "state": t.state.name,
                "params": dict(t.params),
                "value": t.value if t.values and len(t.values) == 1 else None,
            }
            for t in study.get_trials(deepcopy=False)
        ]
    except Exception as err:  # a locked or half-written database must not stop the summary
        return {"error": f"{type(err).__name__}: {err}", "trials": []}
    return {"study_name": summaries[0].study_name, "trials": trials}
