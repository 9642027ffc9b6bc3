"""``python -m psdlab.sweeps SWEEP_DIR``: the table, CSV and figure of a sweep."""

from psdlab.sweeps.cli import main

if __name__ == "__main__":
    main()
