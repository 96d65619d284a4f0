"""Forward-model speed against euphonic on the same work, in the same run (`make bench`).

Cases (2-core machine), each the same work for both engines: Ge coherent powder map 200 shells
x 400 points x 198 E with DW on 16^3 (plain energy histogram, as euphonic's powder routine);
NaCl powder map 200 shells x 1000 points x 200 E with DW on 8^3; quartz modes + structure
factors at 200k q-points (Born charges); 4D NaCl grid 100 x 100 x 50 q x 200 E (no peer).
Powder sampling on the full sphere for inslib here (its default, the irreducible wedge, is a
gain in accuracy at the same number of points, not in speed).

Each engine runs in its own process: its peak memory (ru_maxrss) is its own, and euphonic's
OpenMP is not throttled by torch's (two OpenMP runtimes in one process make euphonic serial).
Both engines get the SAME number of threads (torch.set_num_threads and euphonic's n_threads),
1 and then 2, and the SAME cell: euphonic's 8-atom NaCl cell is given to inslib as it is; the
reduction to the 2-atom primitive cell that SimulatePowderSQE makes is reported on its own line
("nacl-primitive"), as a separate gain, not as a speed-up over euphonic.

    python benchmarks/bench_forward_model.py            # all cases at 1 and 2 threads
    python benchmarks/bench_forward_model.py --full     # euphonic on all 200k quartz q-points
    python benchmarks/bench_forward_model.py --case ge --threads 2  # one case, one setting
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"
EUPHONIC_REF = SHARED / "reference_outputs" / "euphonic" / "force_constants"
GE = SHARED / "force_constants" / "pathSQE_Ge_ARCS"
THREADS = (1, 2)
QUARTZ_Q = np.random.default_rng(0).uniform(-3, 3, size=(200_000, 3))
NACL_Q = np.linspace(0.5, 10.5, 201)
NACL_E = np.linspace(0.0, 40.0, 201)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _euphonic_powder(fc, q_centres, npts, e_edges, temperature, mesh, threads):
    """Run the euphonic powder average: Debye-Waller on an n^3 mesh once, one call per shell."""
    from euphonic import ureg
    from euphonic.powder import sample_sphere_structure_factor
    from euphonic.util import mp_grid

    options = {"n_threads": threads, "use_c": True}
    dw = fc.calculate_qpoint_phonon_modes(mp_grid([mesh] * 3), **options
                                          ).calculate_debye_waller(temperature * ureg("K"))
    for q in q_centres:
        sample_sphere_structure_factor(fc, q * ureg("1/angstrom"), dw=dw, temperature=temperature
                                       * ureg("K"), npts=npts, energy_bins=e_edges * ureg("meV"),
                                       **options)


def _euphonic_fc(fcs):
    """Build euphonic ForceConstants holding exactly our force constants (same input)."""
    from euphonic import Crystal, ForceConstants, ureg

    c = fcs.crystal
    crystal = Crystal(c.cell * ureg("angstrom"), c.positions, np.array(c.symbols),
                      c.masses * ureg("amu"))
    return ForceConstants(crystal, fcs.fc * ureg("eV/angstrom**2"), fcs.sc_matrix,
                          fcs.cell_origins)


def ge_inslib() -> dict:
    """Ge coherent powder map, the same work as euphonic's (see the module notes), 5 K."""
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.binning import Resolution
    from inslib.scattering.powder import PowderSampling, coherent_powder
    from inslib.scattering.thermal import debye_waller

    fcs = load_force_constants(GE / "FORCE_CONSTANTS", structure=GE / "POSCAR")
    q_edges, e_edges = np.arange(0.025, 10.03, 0.05), np.arange(0.4, 40.01, 0.2)

    def run():
        model = PhononModel(to_primitive(fcs))
        dw = debye_waller(model, 5.0, (16, 16, 16))
        coherent_powder(model, q_edges, e_edges, Resolution.constant(0.0), 5.0, dw,
                        PowderSampling(1, 400, irreducible=False))

    return {"seconds": _timed(run), "note": "2-atom primitive cell, as euphonic's input"}


def ge_euphonic(threads: int) -> dict:
    from inslib.phonons.force_constants import load_force_constants  # numpy only, no torch

    fc = _euphonic_fc(load_force_constants(GE / "FORCE_CONSTANTS", structure=GE / "POSCAR"))
    q = 0.05 * np.arange(1, 201)
    e_edges = np.arange(0.4, 40.01, 0.2)
    return {"seconds": _timed(lambda: _euphonic_powder(fc, q, 400, e_edges, 5.0, 16, threads)),
            "note": "200 shells x 400 golden-sphere points, DW on 16^3"}


def _nacl_inslib(primitive: bool) -> dict:
    """Modes on the 8^3 mesh (Debye-Waller) + the powder map without broadening, as euphonic."""
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.binning import Resolution
    from inslib.scattering.powder import PowderSampling, coherent_powder
    from inslib.scattering.thermal import debye_waller

    fcs = load_force_constants(EUPHONIC_REF / "NaCl_force_constants.json")

    def run():
        model = PhononModel(to_primitive(fcs) if primitive else fcs)
        dw = debye_waller(model, 300.0, (8, 8, 8))
        coherent_powder(model, NACL_Q, NACL_E, Resolution.constant(0.0), 300.0, dw,
                        PowderSampling(1, 1000))

    cell = "2-atom primitive cell" if primitive else "euphonic's 8-atom cell, as given"
    return {"seconds": _timed(run), "note": cell}


def nacl_inslib() -> dict:
    return _nacl_inslib(primitive=False)


def nacl_primitive_inslib() -> dict:
    return _nacl_inslib(primitive=True)


def nacl_euphonic(threads: int) -> dict:
    from euphonic import ForceConstants

    fc = ForceConstants.from_json_file(str(EUPHONIC_REF / "NaCl_force_constants.json"))
    centres = 0.5 * (NACL_Q[1:] + NACL_Q[:-1])
    return {"seconds": _timed(lambda: _euphonic_powder(fc, centres, 1000, NACL_E, 300.0, 8,
                                                       threads)),
            "note": "its 8-atom cell, dipole on"}


def quartz_inslib() -> dict:
    from inslib.phonons.force_constants import load_force_constants
    from inslib.phonons.model import PhononModel
    from inslib.scattering.coherent import coherent_structure_factor

    model = PhononModel(load_force_constants(EUPHONIC_REF / "quartz_force_constants.json"),
                        asr=False)

    def run():
        for start in range(0, len(QUARTZ_Q), 10000):
            coherent_structure_factor(model, model.modes(QUARTZ_Q[start:start + 10000]))

    return {"seconds": _timed(run), "note": "modes + structure factors, dipole Ewald sums"}


def quartz_euphonic(threads: int, full: bool = False) -> dict:
    from euphonic import ForceConstants

    fc = ForceConstants.from_json_file(str(EUPHONIC_REF / "quartz_force_constants.json"))
    part = QUARTZ_Q if full else QUARTZ_Q[:20000]
    seconds = _timed(lambda: fc.calculate_qpoint_phonon_modes(
        part, n_threads=threads, use_c=True).calculate_structure_factor())
    note = "all 200k q" if full else "timed on 20k q-points, x10"
    return {"seconds": seconds * len(QUARTZ_Q) / len(part), "note": note}


def grid_inslib() -> dict:
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.thermal import debye_waller
    from inslib.simulation.grid import GridRequest, simulate_grid

    fcs = load_force_constants(EUPHONIC_REF / "NaCl_force_constants.json")

    def run():
        model = PhononModel(to_primitive(fcs))
        dw = debye_waller(model, 300.0, (8, 8, 8))
        request = GridRequest(np.eye(3), ["-2,0.04,2", "-2,0.04,2", "-1,0.04,1"], "0,0.15,30",
                              300.0, fwhm=0.5, hkl_cell=fcs.crystal.cell)
        simulate_grid(model, request, dw)

    return {"seconds": _timed(run), "note": "100 x 100 x 50 x 200 bins, 0.5 meV FWHM"}


CASES = {
    "ge": ("Ge coherent powder map 200 shells x 400 points x 198 E", ge_inslib, ge_euphonic),
    "nacl": ("NaCl powder map 200 x 1000 x 200, 8-atom cell (euphonic anchor 13.6 s)",
             nacl_inslib, nacl_euphonic),
    "nacl-primitive": ("NaCl powder map, inslib on the 2-atom primitive cell (its own gain: "
                       "compare with the nacl line)", nacl_primitive_inslib, None),
    "quartz": ("quartz 200k q-points (euphonic anchor 246 s, target 60 s)", quartz_inslib,
               quartz_euphonic),
    "grid": ("NaCl 4D grid (target 15 s, 4 GB)", grid_inslib, None),
}


def _child(case: str, engine: str, threads: int, full: bool) -> None:
    _, ours, theirs = CASES[case]
    if engine == "inslib":
        import torch

        torch.set_num_threads(threads)
        result = ours()
    else:
        result = theirs(threads, full) if case == "quartz" else theirs(threads)
    result["peak_gb"] = _peak_gb()
    print(json.dumps(result), flush=True)


def _run(case: str, engine: str, threads: int, full: bool) -> dict:
    command = [sys.executable, __file__, "--case", case, "--engine", engine,
               "--threads", str(threads), *(["--full"] if full else [])]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _report(case: str, threads: int, full: bool) -> None:
    title, _, theirs = CASES[case]
    ours = _run(case, "inslib", threads, full)
    print(f"{title} [{threads} thread(s) each]\n  inslib   {ours['seconds']:7.2f} s  peak "
          f"{ours['peak_gb']:.2f} GB  ({ours['note']})", flush=True)
    if theirs is not None:
        other = _run(case, "euphonic", threads, full)
        print(f"  euphonic {other['seconds']:7.2f} s  peak {other['peak_gb']:.2f} GB  "
              f"({other['note']})  ratio {other['seconds'] / ours['seconds']:.1f}x", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--engine", choices=["inslib", "euphonic"])
    parser.add_argument("--threads", type=int, choices=THREADS)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    if args.engine:
        _child(args.case, args.engine, args.threads or 1, args.full)
        return
    for case in [args.case] if args.case else list(CASES):
        for threads in [args.threads] if args.threads else THREADS:
            _report(case, threads, args.full)


if __name__ == "__main__":
    main()
