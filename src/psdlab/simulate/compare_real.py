"""Simulated against real germanium pulses: ``python -m psdlab.simulate.compare_real``.

Measures the same plain features (:mod:`psdlab.dsp.features`) on the real calibration pulses
of ``legend_real.hdf5`` (see its README) and on freshly simulated events, and prints one
markdown table: 10-90 % rise time (median and 10-90 % of events), decay constant, noise level
(ADC rms, and per 2614.5 keV pulse), noise correlation and spectrum, A/E band, pole-zero tail
slope, and the fractions of traces on an earlier pulse's tail or holding a second pulse.

Selections: real rise times from clean pulses (no tail, no second pulse, amplitude > 50x
noise), as in the real file's README; simulated rise times from single-site bulk events of
1-2.7 MeV (truth), plus the same "clean pulses" selection for a like-for-like row.

Examples::

    python -m psdlab.simulate.compare_real                      # default config, 6000 events
    python -m psdlab.simulate.compare_real --sim-file old.hdf5 --figure docs/figures/x.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from psdlab.dsp import features as ft
from psdlab.simulate.config import SimulatorConfig
from psdlab.simulate.spectrum import EventClass

DEFAULT_REAL = os.environ.get("PSDLAB_REAL_DATA", "../shared/realdata/legend_real.hdf5")
REAL_SETS = {"real: 228Th test stand": (0,), "real: LEGEND-200": (3001, 6007, 14004)}
ARRAYS = ("spectrum", "rise_values")  # row entries kept for the figure only
TAIL_STOP = 2500  # the test stand's traces end ~15 us after the rise (README)


def measure(
    wf: np.ndarray, tp0: np.ndarray, energy: np.ndarray, tau_us: np.ndarray, dt_ns: float
) -> dict[str, np.ndarray]:
    """Per-event features of traces (n, L), in chunks of 500 events."""
    parts = []
    for s in range(0, wf.shape[0], 500):
        sl = slice(s, s + 500)
        parts.append(_measure_chunk(wf[sl], tp0[sl], energy[sl], tau_us[sl], dt_ns))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _measure_chunk(wf, tp0, energy, tau_us, dt_ns) -> dict[str, np.ndarray]:
    w = np.asarray(wf, dtype=np.float64)
    t = np.round(tp0).astype(np.int64)
    stop = min(TAIL_STOP, w.shape[1] - 250)
    r = ft.rise_features(w, t)
    y = w - r["baseline"][:, None]
    amp, rms = r["amplitude"], r["baseline_rms"]
    tau_s = tau_us * 1000.0 / dt_ns
    pz = y + np.cumsum(y, axis=1) / tau_s[:, None]
    step = ft.largest_extra_step(pz, t - 60, r["t90"] + 150, stop)
    return {
        "rise_ns": r["rise_10_90"] * dt_ns,
        "amplitude": amp,
        "rms": rms,
        "snr": amp / np.maximum(rms, 1e-9),
        "noise_per_2614": rms / amp * np.maximum(energy, 1.0) / 2614.5,
        "tau_fit_us": ft.tail_fit(w, r["baseline"], t + 400, stop)["tau"] * dt_ns / 1e3,
        "aoe_per_us": ft.max_current_over_amplitude(y, t, amp) * 1000.0 / dt_ns,
        "pz_slope_per_us": ft.pole_zero_tail_slope(y, tau_s, amp, t + 400, stop - 200)
        * 1000.0
        / dt_ns,
        "on_tail": ft.baseline_drop(y, int(np.min(t)) - 100) > 1.5 * rms,
        "pileup": step > 8.0 * rms,
        "energy": np.asarray(energy, dtype=np.float64),
    }


def _pct(x: np.ndarray, q: Sequence[float]) -> list[float]:
    return [float(v) for v in np.percentile(x, q)] if x.size else [float("nan")] * len(q)


def summarise(
    name: str, f: dict[str, np.ndarray], wf: np.ndarray, rise_sel: np.ndarray, dt_ns: float
) -> dict[str, Any]:
    """One table row: rise-time selection ``rise_sel``, the other features on clean events."""
    clean = ~f["on_tail"] & ~f["pileup"]
    quiet = ~f["on_tail"] & ~f["pileup"] & (f["energy"] > 200)
    hi = clean & (f["energy"] > 1000) & (f["energy"] < 2700)
    fm, power = ft.noise_spectrum(wf[clean][:, :800], 800, dt_ns)
    return {
        "set": name,
        "n": len(f["energy"]),
        "n_rise": int(rise_sel.sum()),
        "rise_ns": _pct(f["rise_ns"][rise_sel], (10, 50, 90)),
        "tau_us": _pct(f["tau_fit_us"][clean], (10, 50, 90)),
        "noise_adc": float(np.median(f["rms"][clean])),
        "noise_per_2614": float(np.median(f["noise_per_2614"][quiet])),
        "lag_corr": ft.lag_correlation(wf[clean][:, :800], 800),
        "noise_bands": ft.band_fractions(fm, power),
        "aoe_per_us": _pct(f["aoe_per_us"][hi], (10, 50, 90)),
        "pz_slope_1e3_per_us": float(np.median(f["pz_slope_per_us"][clean]) * 1e3),
        "on_tail": float(f["on_tail"].mean()),
        "pileup": float(f["pileup"].mean()),
        # arrays for the figure (not written to JSON)
        "spectrum": (fm, power),
        "rise_values": f["rise_ns"][rise_sel],
    }


def real_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of the real sets of ``path`` (rise times: clean pulses above 50x noise)."""
    with h5py.File(path, "r") as f:
        wf = f["raw_waveform"][()]
        run, det = f["run_number"][()], f["detector"][()]
        energy, tp0 = f["energy_label"][()], f["tp0"][()]
        cal = json.loads(f.attrs["calibration"])
    tau = np.array([cal[str(d)]["tau_us"] for d in det])
    rows = []
    for name, runs in REAL_SETS.items():
        s = np.isin(run, runs)
        fe = measure(wf[s], tp0[s], energy[s], tau[s], 10.0)
        sel = ~fe["on_tail"] & ~fe["pileup"] & (fe["snr"] > 50)
        rows.append(summarise(name, fe, wf[s], sel, 10.0))
    return rows


def simulated_rows(
    name: str, wf: np.ndarray, truth: dict[str, np.ndarray], dt_ns: float
) -> list[dict[str, Any]]:
    """Rows of simulated events: single-site bulk 1-2.7 MeV, and all clean pulses."""
    e = truth["true_energy"]
    fe = measure(wf, truth["tp0_true"], e, truth["tau_us"], dt_ns)
    clean = ~fe["on_tail"] & ~fe["pileup"]
    ss = (truth["event_class"] == EventClass.SINGLE_SITE) & (e > 1000) & (e < 2700) & clean
    if "pileup" in truth:  # truth flags, when the simulator makes pile-up
        ss &= ~truth["pileup"] & ~truth["on_tail"]
    return [
        summarise(f"{name}: single-site 1-2.7 MeV", fe, wf, ss, dt_ns),
        summarise(f"{name}: clean pulses", fe, wf, clean & (fe["snr"] > 50), dt_ns),
    ]


def read_simulated(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Traces and truth of a simulated file written with truth."""
    with h5py.File(path, "r") as f:
        truth = {k: f["truth"][k][()] for k in f["truth"]}
        return f["raw_waveform"][()], truth


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a markdown table (one column per set)."""

    def rng(v: list[float], fmt: str = ".0f") -> str:
        return f"{v[1]:{fmt}} ({v[0]:{fmt}}-{v[2]:{fmt}})"

    lines = {
        "events (rise-time selection)": lambda r: f"{r['n']} ({r['n_rise']})",
        "10-90 % rise, ns: median (10-90 %)": lambda r: rng(r["rise_ns"]),
        "decay constant, us": lambda r: rng(r["tau_us"], ".1f"),
        "noise, ADC rms": lambda r: f"{r['noise_adc']:.2f}",
        "noise / 2614.5 keV pulse": lambda r: f"{r['noise_per_2614']:.2e}",
        "baseline autocorrelation lag 1 / 2 / 5": lambda r: " / ".join(
            f"{r['lag_corr'][k]:.2f}" for k in (1, 2, 5)
        ),
        **{
            f"noise power {band}": (lambda b: lambda r: f"{r['noise_bands'][b]:.2f}")(band)
            for band in rows[0]["noise_bands"]
        },
        "A/E 1-2.7 MeV, 1/us: median (10-90 %)": lambda r: rng(r["aoe_per_us"], ".1f"),
        "PZ tail slope, 1e-3 E/us": lambda r: f"{r['pz_slope_1e3_per_us']:.2f}",
        "on an earlier tail": lambda r: f"{100 * r['on_tail']:.1f} %",
        "second pulse in trace": lambda r: f"{100 * r['pileup']:.1f} %",
    }
    out = ["| feature | " + " | ".join(r["set"] for r in rows) + " |"]
    out.append("| --- |" + " --- |" * len(rows))
    for label, fn in lines.items():
        out.append(f"| {label} | " + " | ".join(fn(r) for r in rows) + " |")
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m psdlab.simulate.compare_real", description=__doc__)
    p.add_argument("--real", default=DEFAULT_REAL, help="real file (default: %(default)s)")
    p.add_argument("--events", type=int, default=6000, help="fresh simulated events")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", metavar="FIELD=JSON", help="SimulatorConfig field")
    p.add_argument("--sim-file", action="append", default=[], help="also measure this file")
    p.add_argument("--json", help="write the rows as JSON here")
    p.add_argument("--figure", help="write the comparison figure (PNG) here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from psdlab.simulate.simulator import PulseSimulator

    kw = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set or [])}
    cfg = SimulatorConfig.from_dict(kw)
    rows = real_rows(args.real) if Path(args.real).exists() else []
    if not rows:
        print(f"real file {args.real} not found: simulated rows only", file=sys.stderr)
    for path in args.sim_file:
        wf, truth = read_simulated(path)
        rows += simulated_rows(Path(path).stem, wf, truth, cfg.sampling_period_ns)
    wf, truth = PulseSimulator(cfg, args.seed).raw_range(0, args.events)
    rows += simulated_rows("simulated", wf, truth, cfg.sampling_period_ns)
    print(markdown_table(rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps([{k: v for k, v in r.items() if k not in ARRAYS} for r in rows], indent=1)
        )
    if args.figure:
        from psdlab.simulate.compare_plot import comparison_figure

        print(comparison_figure(rows, args.figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
