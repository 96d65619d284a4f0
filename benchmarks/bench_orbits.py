"""Incoherent + multiphonon terms once per orbit of equivalent atoms, against once per atom.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_orbits.py

The same work both ways, one thread, one process: SimulatePowderSQE's VISION S(E) (incoherent
approximation, orders 1-10, MeshSize 16, 300 K) of quartz (9 atoms in 2 orbits, euphonic's
CASTEP force constants) and of Ge (2 atoms, 1 orbit), with the crystal's orbits and with every
atom its own orbit (the previous per-atom computation; forward.Orbits replaced). Prints the
seconds per call (best of 3 after a first call that builds and caches the set-up), the size of
the n-phonon terms tensor (the largest array of the step) and the largest difference between
the two spectra relative to their maximum (tests/unit/simulation/test_orbits.py bounds it).
"""

import time
from pathlib import Path

import numpy as np
import torch

from inslib.runtime.host import run_algorithm
from inslib.simulation import forward

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"
CASES = {
    "quartz": {"ForceConstantsFile": str(SHARED / "reference_outputs" / "euphonic"
                                         / "force_constants" / "quartz_force_constants.json")},
    "Ge": {"ForceConstantsFile": str(SHARED / "force_constants" / "pathSQE_Ge_ARCS"
                                     / "FORCE_CONSTANTS"),
           "StructureFile": str(SHARED / "force_constants" / "pathSQE_Ge_ARCS" / "POSCAR")},
}


def _run(files):
    """Return (best seconds of 3 calls, the S(E) values)."""
    times = []
    for _ in range(4):
        start = time.perf_counter()
        out = run_algorithm("SimulatePowderSQE", Instrument="VISION", Temperature="300",
                            OutputWorkspace="s", **files)["OutputWorkspace"]
        times.append(time.perf_counter() - start)
    return min(times[1:]), np.nan_to_num(out.signal)


def main():
    torch.set_num_threads(1)
    grouped_of = forward.Orbits.of
    for name, files in CASES.items():
        grouped, signal = _run(files)
        orbits = grouped_of(_crystal(files))
        forward.Orbits.of = classmethod(lambda cls, crystal: cls(np.eye(crystal.n_atoms),
                                                                  np.ones(crystal.n_atoms)))
        try:
            alone, reference = _run(files)
        finally:
            forward.Orbits.of = grouped_of
        n_atoms = int(orbits.size.sum())
        print(f"{name}: {n_atoms} atoms in {len(orbits.size)} orbits; per orbit {grouped:.2f} s, "
              f"per atom {alone:.2f} s (x{alone / grouped:.2f}); n-phonon terms "
              f"x{n_atoms / len(orbits.size):.1f} smaller; largest difference "
              f"{np.abs(signal - reference).max() / np.abs(reference).max():.1e} of the maximum")


def _crystal(files):
    from inslib.phonons.force_constants import load_force_constants, to_primitive

    fc = load_force_constants(*(files[key] for key in ("ForceConstantsFile", "StructureFile")
                                if key in files))
    return to_primitive(fc).crystal


if __name__ == "__main__":
    main()
