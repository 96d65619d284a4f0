"""MD route (SimulateMDSQE): speed, memory, harmonic limit, anharmonicity, the measured Al map.

    .venv/bin/python benchmarks/bench_md.py --case speed      # frames/s, EMT steps/s (~1 min)
    .venv/bin/python benchmarks/bench_md.py --case memory     # peak while streaming (~1 min)
    .venv/bin/python benchmarks/bench_md.py --case harmonic   # 6x6x6 Al 30 K vs harmonic (~4 min)
    .venv/bin/python benchmarks/bench_md.py --case anharmonic # 4x4x4 Al 50/300/600 K (~3 min)
    .venv/bin/python benchmarks/bench_md.py --case measured   # 6x6x6 Al 300 K vs ARCS (~5 min)
    .venv/bin/python benchmarks/bench_md.py --case outputs    # QPath, TOSCA IndirectSE (~5 min)

Run with OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 (one core). Each case prints one JSON line;
``harmonic`` and ``measured`` write docs/figures/md_*.png.

- speed: a 2,048-atom Al supercell (8 x 8 x 8 conventional cells). Trajectory frames through
  dynasor's correlation step per second, for the powder q-points of an ARCS Ei = 80 meV map
  (QBinning 0-10 by 0.1, at most 20 q-points per bin), coherent only and with the incoherent
  part; frames are random displacements (the cost does not depend on the motion). EMT MD steps
  per second for the same cell and for 64 atoms.
- memory: the same cell, 40 and 400 frames (2 MB and 20 MB files, the larger above a 16 MB
  budget), streamed through the correlation step after a warm-up call (numba compiles once);
  the peak of traced allocations (numpy included) per file against the budget.
- harmonic: Al with EMT, 6 x 6 x 6 primitive cells (216 atoms) at its 0 K lattice constant,
  30 K, NVE after NVT; the MD map (StokesRaman) against SimulatePowderSQE with EMT force
  constants (phonopy, 4 x 4 x 4) on ARCS Ei = 80 meV, 1 meV bins: Pearson r over bins above
  5 meV covered by both (r does not depend on the scale), and inslib.compare's r above its
  default energy cut.
- anharmonic: 4 x 4 x 4 Al (64 atoms), 3,000 NVE steps after NVT (50 K) or zero-pressure
  NPT (300 K, 600 K) thermalisation; per first-zone q-point the strongest mode's energy and
  FWHM (inslib.md.peaks, 0.52 meV grid, taper FWHM 1.2 meV); the median shift against 50 K.
- outputs: the 6 x 6 x 6 cell at 30 K (NVE after NVT); Output=QPath along seekpath's path on
  ARCS Ei = 80 (1 meV bins) against SimulateSingleCrystalSQE with EMT force constants on the
  same path bins: the peak energy above 3 meV in every bin the MD fills; Output=IndirectSE on
  TOSCA (1 meV bins, 3-45 meV) against SimulatePowderSQE's TOSCA S(E): Pearson r per bank,
  incoherent approximation (Coherent off, the harmonic route's treatment) and coherent +
  incoherent. Writes docs/figures/md_Al_30K_qpath_vs_harmonic.png and
  md_Al_30K_TOSCA_vs_harmonic.png.
- measured: the 6 x 6 x 6 cell at 300 K, thermalised at zero pressure (NPT) then NVE, on the bins of
  tests/data/Al-iqe.h5, fitted with inslib.compare (scale, flat background, the default energy
  cut) beside the harmonic route with the same EMT force constants.
"""

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from inslib.compare import compare
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.io.plot import plot_comparison
from inslib.md.correlation import correlate
from inslib.md.harmonic import md_force_constants, relaxed_structure
from inslib.md.peaks import strongest_mode
from inslib.md.qpoints import powder_qpoints
from inslib.md.run import MDRun, run_md
from inslib.md.trajectory import scan_trajectory, write_displaced
from inslib.runtime.host import run_algorithm

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
MEASURED = ROOT / "tests" / "data" / "Al-iqe.h5"
BUDGET_MB = 16.0


def _synthetic(path: Path, n_frames: int) -> Path:
    """2,048-atom Al frames with random displacements (0.05 Angstrom), one at a time."""
    from ase.build import bulk

    return write_displaced(bulk("Al", "fcc", a=4.05, cubic=True).repeat(8), path,
                           n_frames=n_frames, amplitude=0.05, seed=0)


def _frames_per_second(path: Path, q_points, incoherent: bool) -> float:
    info = scan_trajectory(path)
    start = time.perf_counter()
    correlate(str(path), info, q_points=q_points, frame_time=10.0, window=20, window_step=5,
              incoherent=incoherent, elastic=False)
    return info.n_frames / (time.perf_counter() - start)


def _emt_steps_per_second(repeat: int, cubic: bool, steps: int) -> float:
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.md.verlet import VelocityVerlet

    atoms = bulk("Al", "fcc", a=4.05, cubic=cubic).repeat(repeat)
    atoms.calc = EMT()
    atoms.rattle(0.05, seed=0)
    dynamics = VelocityVerlet(atoms, 5 * units.fs)
    dynamics.run(2)  # neighbour list built outside the timing
    start = time.perf_counter()
    dynamics.run(steps)
    return steps / (time.perf_counter() - start)


def case_speed(folder: Path) -> dict:
    path = _synthetic(folder / "al2048.traj", 60)
    info = scan_trajectory(path)
    q_edges = np.arange(0.0, 10.01, 0.1)
    qpoints = powder_qpoints(cell=info.cell, q_edges=q_edges, wanted=np.ones(100, bool),
                             max_per_bin=20, seed=0)
    _frames_per_second(path, qpoints.q_points[:50], incoherent=True)  # numba compilation
    return {"atoms": info.n_atoms, "q_points": len(qpoints.q_points),
            "frames_per_s_coherent": _frames_per_second(path, qpoints.q_points, False),
            "frames_per_s_with_incoherent": _frames_per_second(path, qpoints.q_points, True),
            "emt_steps_per_s_2048_atoms": _emt_steps_per_second(8, True, 20),
            "emt_steps_per_s_64_atoms": _emt_steps_per_second(4, False, 200)}


def _traced_peak_mb(path: Path) -> float:
    """Peak of traced allocations (MB) while correlating a trajectory: 200 q, 20-lag window."""
    info = scan_trajectory(path)
    q_points = np.arange(1, 201)[:, None] * (2 * np.pi * np.linalg.inv(info.cell).T)[0]
    tracemalloc.start()
    try:
        correlate(str(path), info, q_points=q_points, frame_time=10.0, window=20,
                  window_step=5, incoherent=True, elastic=False)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def case_memory(folder: Path) -> dict:
    short = _synthetic(folder / "short.traj", 40)
    long = _synthetic(folder / "stream.traj", 400)
    _traced_peak_mb(short)  # numba compiles on the first call (~95 MB traced, once)
    peaks = {name: _traced_peak_mb(path) for name, path in (("short", short), ("long", long))}
    return {"file_mb": {"short": short.stat().st_size / 1e6, "long": long.stat().st_size / 1e6},
            "budget_mb": BUDGET_MB, "peak_mb": peaks,
            "within_budget": max(peaks.values()) < BUDGET_MB}


def _al_run(folder: Path, temperature: float, ensemble: str) -> tuple[Path, Path]:
    """(EMT-relaxed Al POSCAR, 6x6x6 trajectory: 3,000 NVE steps of 5 fs, frames 10 fs apart)."""
    structure = relaxed_structure("Al", "fcc", folder / "Al.vasp", 4.0)
    trajectory = folder / f"al_{temperature:g}K.traj"
    start = time.perf_counter()
    run_md(MDRun(str(structure), np.diag([6, 6, 6]), temperature, time_step=5.0, steps=3000,
                 thermalisation_steps=600, frame_interval=2, ensemble=ensemble, seed=1),
           trajectory)
    print(f"MD {temperature:g} K ({ensemble}): {time.perf_counter() - start:.0f} s", flush=True)
    return structure, trajectory


def _r_above(model, reference, e_min: float) -> float:
    use = ~(model.mask | reference.mask) & (model.axes[1].centres[None, :] > e_min)
    return float(np.corrcoef(model.signal[use], reference.signal[use])[0, 1])


def case_harmonic(folder: Path) -> dict:
    structure, trajectory = _al_run(folder, 30.0, "NVT")
    fc = md_force_constants(str(structure), np.diag([4, 4, 4]), folder / "phonopy_params.yaml")
    template = {"Instrument": "ARCS", "Ei": "80", "Temperature": "30",
                "QBinning": "0,0.1,10", "EBinning": "-20,1,70"}
    start = time.perf_counter()
    md = run_algorithm("SimulateMDSQE", TrajectoryFile=str(trajectory), TimeStep="10",
                       Incoherent="0", QPointsPerBin="60", OutputWorkspace="md",
                       **template)["OutputWorkspace"]
    seconds = time.perf_counter() - start
    harmonic = run_algorithm("SimulatePowderSQE", ForceConstantsFile=str(fc), Incoherent="0",
                             OutputWorkspace="h", **template)["OutputWorkspace"]
    result = compare(md, harmonic)  # the harmonic map as the "measurement" (no variance)
    _side_by_side({"harmonic route (SimulatePowderSQE, EMT force constants)": harmonic,
                   "MD (SimulateMDSQE, EMT, 30 K, StokesRaman)": md},
                  FIGURES / "md_Al_30K_vs_harmonic_EMT.png")
    return {"pearson_r_above_5meV": _r_above(md, harmonic, 5.0),
            "pearson_r_compare": result.pearson_r, "e_min": result.e_min,
            "md_map_seconds": seconds}


def _side_by_side(maps: dict, path: Path) -> None:
    """Two powder maps (Histograms, same bins), each on its own colour scale (99th percentile)."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(maps), figsize=(6 * len(maps), 4.5), sharey=True)
    for ax, (title, hist) in zip(axes, maps.items(), strict=True):
        q, e = hist.axes[0].edges, hist.axes[1].edges
        values = np.ma.masked_invalid(hist.signal.T)
        ax.pcolormesh(q, e, values, vmin=0, vmax=np.nanpercentile(hist.signal, 99))
        ax.set(title=title, xlabel="|Q| (1/Angstrom)")
    axes[0].set_ylabel("Energy transfer (meV)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def case_measured(folder: Path) -> dict:
    structure, trajectory = _al_run(folder, 300.0, "NPT")
    measured = read_histogram_h5(MEASURED)
    template = {"InputWorkspace": measured, "Instrument": "ARCS", "Ei": "80",
                "Temperature": "300"}
    start = time.perf_counter()
    md = run_algorithm("SimulateMDSQE", TrajectoryFile=str(trajectory), TimeStep="10",
                       Incoherent="0", QPointsPerBin="60", OutputWorkspace="md",
                       **template)["OutputWorkspace"]
    seconds = time.perf_counter() - start
    fc = md_force_constants(str(structure), np.diag([4, 4, 4]), folder / "phonopy_params.yaml")
    harmonic = run_algorithm("SimulatePowderSQE", ForceConstantsFile=str(fc),
                             OutputWorkspace="h", **template)["OutputWorkspace"]
    out = {"md_map_seconds": seconds}
    for name, model in (("md", md), ("harmonic_emt", harmonic)):
        result = compare(model, measured)
        plot_comparison(model, measured, result,
                        FIGURES / f"md_Al_ARCS_Ei80_{name}_vs_measured.png")
        out |= {f"{name}_pearson_r": result.pearson_r, f"{name}_r_factor": result.r_factor,
                f"{name}_bins": result.n_bins, "e_min": result.e_min}
    return out


# first-zone q-points as integer multiples of the 4 x 4 x 4 supercell's reciprocal vectors
Q_MULTIPLES = np.array([[1, 0, 0], [2, 0, 0], [1, 1, 0], [2, 2, 0], [1, 1, 1], [2, 1, 1],
                        [2, 2, 2], [1, -1, 0], [2, -1, 0]])


def case_anharmonic(folder: Path) -> dict:
    structure = relaxed_structure("Al", "fcc", folder / "Al.vasp", 4.0)
    out = {}
    for temperature, ensemble in ((50.0, "NVT"), (300.0, "NPT"), (600.0, "NPT")):
        path = folder / f"al_{temperature:g}.traj"
        run_md(MDRun(str(structure), np.diag([4, 4, 4]), temperature, time_step=5.0,
                     steps=3000, thermalisation_steps=600, frame_interval=2,
                     ensemble=ensemble, seed=1), path)
        info = scan_trajectory(path)
        q_points = Q_MULTIPLES @ (2 * np.pi * np.linalg.inv(info.cell).T)
        spectra = correlate(str(path), info, q_points=q_points, frame_time=10.0, window=400,
                            window_step=80, incoherent=False, elastic=False)
        energy, width = strongest_mode(energy=spectra.energy, spectra=spectra.coherent)
        out[f"{temperature:g}K"] = {"a": float(np.cbrt(4 * abs(np.linalg.det(info.cell)) / 64)),
                                    "energy": energy.round(2).tolist(),
                                    "fwhm": width.round(2).tolist()}
    cold = np.array(out["50K"]["energy"])
    for key in ("300K", "600K"):
        # median: at the low-symmetry q [2,-1,0] two modes have similar |Q.e|^2 and the
        # strongest one can change with T
        out[key]["median_shift_vs_50K"] = float(np.median(np.array(out[key]["energy"]) - cold))
        out[key]["mean_fwhm"] = float(np.mean(out[key]["fwhm"]))
    out["50K"]["mean_fwhm"] = float(np.mean(out["50K"]["fwhm"]))
    return out


def _timed(name: str, **properties):
    start = time.perf_counter()
    result = run_algorithm(name, OutputWorkspace="out", **properties)["OutputWorkspace"]
    return result, time.perf_counter() - start


def _path_peaks(md, harmonic) -> np.ndarray:
    """|peak energy difference| (meV) above 3 meV in every path bin the MD fills."""
    e = md.axes[1].centres
    above = np.where(e > 3, 0.0, -np.inf)
    rows = np.flatnonzero(~md.mask.all(axis=1))
    return np.abs(e[np.nanargmax(md.signal[rows] + above, axis=1)]
                  - e[np.nanargmax(harmonic.signal[rows] + above, axis=1)])


def _bank_r(md, harmonic) -> list:
    out = []
    for ours, theirs in zip(md.signal, harmonic.signal, strict=True):
        kept = np.isfinite(ours)
        out.append(round(float(np.corrcoef(ours[kept], theirs[kept])[0, 1]), 3))
    return out


def case_outputs(folder: Path) -> dict:
    structure, trajectory = _al_run(folder, 30.0, "NVT")
    fc = md_force_constants(str(structure), np.diag([4, 4, 4]), folder / "phonopy_params.yaml")
    md_source = {"TrajectoryFile": str(trajectory), "TimeStep": "10", "Temperature": "30"}
    path = {"QPath": "auto", "PathStep": "0.02", "Instrument": "ARCS", "Ei": "80"}
    md_path, path_s = _timed("SimulateMDSQE", **md_source, **path, Output="QPath",
                             StructureFile=str(structure), EBinning="-20,1,60",
                             Incoherent="0")
    harmonic_path, _ = _timed("SimulateSingleCrystalSQE", ForceConstantsFile=str(fc),
                              Temperature="30", Dimension3Binning="-20,1,60",
                              SamplesPerBin="4", **path)
    _side_by_side_path({"harmonic route (SimulateSingleCrystalSQE, EMT)": harmonic_path,
                        "MD (SimulateMDSQE Output=QPath, EMT, 30 K)": md_path},
                       FIGURES / "md_Al_30K_qpath_vs_harmonic.png")
    tosca = {"Instrument": "TOSCA", "EBinning": "3,1,45"}
    harmonic_tosca, _ = _timed("SimulatePowderSQE", ForceConstantsFile=str(fc),
                               Temperature="30", **tosca)
    out = {"qpath_seconds": path_s}
    shifts = _path_peaks(md_path, harmonic_path)
    out |= {"qpath_bins_filled": len(shifts), "qpath_max_peak_shift_meV": float(shifts.max()),
            "qpath_mean_peak_shift_meV": float(shifts.mean())}
    banks = {}
    for label, coherent in (("incoherent_approximation", "0"), ("coherent_incoherent", "1")):
        md_tosca, seconds = _timed("SimulateMDSQE", **md_source, **tosca, Output="IndirectSE",
                                   Coherent=coherent, QPointsPerBin="60")
        banks[label] = md_tosca
        out |= {f"tosca_{label}_r_per_bank": _bank_r(md_tosca, harmonic_tosca),
                f"tosca_{label}_seconds": seconds}
    _banks_plot(banks, harmonic_tosca, FIGURES / "md_Al_30K_TOSCA_vs_harmonic.png")
    return out


def _side_by_side_path(maps: dict, path: Path) -> None:
    """Harmonic q-path map beside the MD one (same bins); MD columns drawn 0.08 1/A wide.

    The MD fills only the bins of its commensurate points; each is widened for the eye, and
    its peak above 3 meV is marked (white) on the harmonic map.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    harmonic, md = maps.values()
    x, e = harmonic.axes[0].edges, harmonic.axes[1].edges
    centres, energies = 0.5 * (x[1:] + x[:-1]), 0.5 * (e[1:] + e[:-1])
    top = energies > 3
    filled = np.flatnonzero(~md.mask.all(axis=1))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    axes[0].pcolormesh(x, e, harmonic.signal.T, vmin=0,
                       vmax=np.nanpercentile(harmonic.signal[:, top], 99))
    peaks = energies[top][np.nanargmax(md.signal[filled][:, top], axis=1)]
    axes[0].plot(centres[filled], peaks, "wo", markersize=4, label="MD peak")
    axes[0].legend(loc="lower right", fontsize=8)
    vmax = np.nanpercentile(md.signal[filled][:, top], 99)
    for index in filled:
        axes[1].pcolormesh([centres[index] - 0.04, centres[index] + 0.04], e,
                           md.signal[index][:, None], vmin=0, vmax=vmax)
    for ax, (title, hist) in zip(axes, maps.items(), strict=True):
        ticks = hist.axes[0].ticks
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks])
        ax.set(title=title, xlim=(x[0], x[-1]), ylim=(0, 45))
    axes[0].set_ylabel("Energy transfer (meV)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _banks_plot(banks: dict, harmonic, path: Path) -> None:
    """S(E) per TOSCA bank: the harmonic route, and MD scaled to it (least squares)."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    e = harmonic.axes[1].centres
    fig, axes = plt.subplots(1, len(harmonic.signal), figsize=(12, 4), sharey=True)
    for bank, ax in enumerate(axes):
        reference = harmonic.signal[bank]
        ax.plot(e, reference, "k", label="harmonic route (SimulatePowderSQE)")
        for label, md in banks.items():
            row = np.nan_to_num(md.signal[bank])
            ax.plot(e, row * (row @ reference) / (row @ row), label=f"MD, {label}")
        ax.set(title=f"TOSCA {harmonic.axes[0].values[bank]:.0f} deg",
               xlabel="Energy transfer (meV)")
    axes[0].set_ylabel("S(E) (mbarn/meV per atom, MD scaled)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


CASES = {"speed": case_speed, "anharmonic": case_anharmonic, "memory": case_memory,
         "harmonic": case_harmonic, "measured": case_measured, "outputs": case_outputs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = CASES[args.case](Path(folder))
    print(json.dumps({"case": args.case, **result}))


if __name__ == "__main__":
    main()
