"""Short physics runs calibrated on themselves against a calibration run's record
(docs/results.md, "Calibrating physics runs").

    python bench/calibration_transfer.py --calibration data/simulated/MJD_Train_*.hdf5 \
        --physics data/simulated/MJD_Test_0.hdf5 --run-events 500 2000 10000

Real physics files carry no labels, no energy and no stored constants. So every input file
is first copied without them (root datasets only: no ``truth`` group, no attributes; the
originals are only read again to score the result). Then:

- the classical constants are fitted once over the calibration files;
- the physics file is cut into "runs" of N events;
- each run is analysed twice, once calibrated on itself (what ``predict.py`` does without
  ``calibration=``) and once with the calibration run's record (``calibration=PATH``).

Printed per run length, over the events of all runs, scored against the original file's
``energy_label`` and ``psd_label_low_avse``:

- the fraction of events with a finite energy;
- the median |E - energy_label|;
- the agreement of the low A/E cut with the label, with the cut set at the record's 90 % DEP
  cut value in band widths.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np

from psdlab.data.schema import DataSchema
from psdlab.report.classical import classical_parameters
from psdlab.report.psd import cut_threshold, line_counts


def stripped_copy(src: Path, dst: Path, rows: slice = slice(None)) -> Path:
    """``rows`` of ``src``'s root datasets, without labels, energy, truth or attributes."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset) and not name.startswith(("psd_label", "energy")):
                g.create_dataset(name, data=obj[rows])
    return dst


def _ids(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["id"][()]


def _agreement(classifier: np.ndarray, cut: float, label: np.ndarray) -> float:
    ok = np.isfinite(classifier)
    return float(((classifier[ok] > cut) == label[ok]).mean()) if ok.any() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibration", nargs="+", type=Path, required=True)
    parser.add_argument("--physics", type=Path, required=True)
    parser.add_argument("--run-events", nargs="+", type=int, default=[500, 2000, 10000])
    args = parser.parse_args()
    schema = DataSchema()
    with tempfile.TemporaryDirectory(prefix="psdlab-caltransfer-") as tmp:
        cal_files = [
            stripped_copy(f, Path(tmp) / f"cal_{i}.hdf5") for i, f in enumerate(args.calibration)
        ]
        cal_ids = np.concatenate([_ids(f) for f in cal_files])
        cal = classical_parameters(cal_files, schema, cal_ids)
        record = cal.calibration
        cut = cut_threshold(cal.energy, cal.aoe, line_counts(cal.energy)["DEP"])
        print(
            f"calibration run: {cal_ids.size} events; energy scales {len(record.energy)}; "
            f"low A/E cut at 90 % DEP: {cut:.3f} band widths"
        )
        with h5py.File(args.physics, "r") as f:
            ids, energy, label = f["id"][()], f["energy_label"][()], f["psd_label_low_avse"][()]
        print(
            "| events per run | runs | finite energy: own / record | median abs(E - label) keV: "
            "own / record | low A/E cut = label: own / record |"
        )
        print("| ---: | ---: | --- | --- | --- |")
        for n in args.run_events:
            own = {"energy": [], "aoe": []}
            rec = {"energy": [], "aoe": []}
            rows = []
            for k, start in enumerate(range(0, ids.size - n + 1, n)):
                run = stripped_copy(
                    args.physics, Path(tmp) / f"run_{n}_{k}.hdf5", slice(start, start + n)
                )
                for out, given in ((own, None), (rec, record)):
                    r = classical_parameters(
                        [run], schema, ids[start : start + n], calibration=given
                    )
                    out["energy"].append(r.energy)
                    out["aoe"].append(r.aoe)
                rows.append(np.arange(start, start + n))
                run.unlink()
            rows = np.concatenate(rows)
            e, y = energy[rows], label[rows].astype(bool)
            cells = []
            for stat in ("finite", "error", "agree"):
                vals = []
                for out in (own, rec):
                    est, aoe = np.concatenate(out["energy"]), np.concatenate(out["aoe"])
                    if stat == "finite":
                        vals.append(f"{np.isfinite(est).mean():.3f}")
                    elif stat == "error":
                        good = np.isfinite(est) & (e > 200)
                        vals.append(
                            f"{np.median(np.abs(est[good] - e[good])):.2f}" if good.any() else "-"
                        )
                    else:
                        vals.append(f"{_agreement(aoe, cut, y):.4f}")
                cells.append(" / ".join(vals))
            print(f"| {n} | {rows.size // n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
