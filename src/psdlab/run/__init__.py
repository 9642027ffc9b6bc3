"""The run layer: what ``train.py``, ``eval.py`` do, from a composed config to a run directory.

- :mod:`psdlab.run.build`: data module, task, callbacks, loggers and trainer from the config;
- :mod:`psdlab.run.finish`: the end of every run (test, metrics.json, figures, predictions,
  exported network, physics report), shared by training and evaluation;
- :mod:`psdlab.run.record`: the reproducibility record (seed, versions, git commit, status);
- :mod:`psdlab.run.train`, :mod:`psdlab.run.evaluate`: the pipelines themselves.
"""
