"""Time PredictSQE's force-field route and compare its Al map with the measured ARCS data.

Run with OMP_NUM_THREADS=1: ``.venv/bin/python benchmarks/bench_predict.py``. Prints, per
structure (conventional cells of ASE's bulk, default settings: supercell >= 10 A, Relax =
Positions, one torch thread, no cache), the seconds of relax + forces + symfc, the supercell
size, the displacements and the highest mode on a 16^3 mesh; then the Pearson r of the measured
Al ARCS Ei = 80 meV map (tests/data/Al-iqe.h5, 300 K) against the DFT file and against the
7net-0 prediction, with the energy cut of the DFT figure in docs/validation.md (8 meV) and
`inslib compare`'s default.
"""

import os
import tempfile
import time
from pathlib import Path

from ase.build import bulk

from inslib.compare import compare
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.phonons import mlff
from inslib.runtime.host import run_algorithm
from inslib.simulation.setup import cached_setup
from inslib.structure import from_ase

ROOT = Path(__file__).resolve().parents[1]
STRUCTURES = {"Al": bulk("Al", "fcc", a=4.05, cubic=True),
              "Si": bulk("Si", "diamond", a=5.431, cubic=True),
              "NaCl": bulk("NaCl", "rocksalt", a=5.64, cubic=True)}
MAP = {"Instrument": "ARCS", "Ei": 80, "Temperature": 300}
MESH = 16  # the set-up mesh; its DOS regularisation keeps highest mode / MESH (debye_cut)


def time_structures(folder: Path) -> None:
    """Print the cost of each structure's force constants (computed, not cached)."""
    mlff.calculator(mlff.DEFAULT_FORCE_FIELD)  # load the checkpoint outside the timing
    settings = mlff.MLFFSettings()
    for name, atoms in STRUCTURES.items():
        crystal = from_ase(atoms)
        start = time.process_time()
        path = mlff.predicted_file(crystal, mlff.DEFAULT_FORCE_FIELD, settings,
                                   folder=folder / name)
        seconds = time.process_time() - start
        phonon = mlff.displaced_phonopy(crystal, settings)
        mesh = cached_setup(str(path), "", 300.0, MESH, "CPU").mesh
        print(f"{name:5s} {seconds:6.1f} CPU-s  supercell {len(phonon.supercell):4d} atoms  "
              f"{len(phonon.displacements):2d} displacements  highest mode "
              f"{float(mesh.debye_cut[0]) * MESH:.1f} meV  lowest {float(mesh.lowest[0]):.2f} meV")


def al_map(folder: Path) -> None:
    """Print r of the measured Al map against the DFT file and the 7net-0 prediction."""
    measured = read_histogram_h5(ROOT / "tests" / "data" / "Al-iqe.h5")
    cif = folder / "Al.cif"
    STRUCTURES["Al"].write(cif)
    models = {
        "DFT file": run_algorithm("SimulatePowderSQE", InputWorkspace=measured,
                                  ForceConstantsFile=str(ROOT / "tests/data/Al_phonopy/"
                                                         "phonopy.yaml"),
                                  OutputWorkspace="dft", **MAP),
        "7net-0 (a = 4.05 A, 3x3x3)": run_algorithm("PredictSQE", StructureFile=str(cif),
                                                    InputWorkspace=measured,
                                                    OutputWorkspace="p", **MAP),
        "7net-0 + 7net-l3i5 ensemble": run_algorithm("PredictSQE", StructureFile=str(cif),
                                                     ForceField="7net-0,7net-l3i5",
                                                     InputWorkspace=measured,
                                                     OutputWorkspace="e", **MAP),
    }
    for label, out in models.items():
        model = out["OutputWorkspace"]
        cut8 = compare(model, measured, 8.0)
        default = compare(model, measured)
        print(f"{label:30s} r {cut8.pearson_r:.3f} (E > 8 meV, {cut8.n_bins} bins)   "
              f"r {default.pearson_r:.3f} (E > {default.e_min:.1f} meV)")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        time_structures(Path(tmp))
        os.environ["INSLIB_CACHE"] = str(Path(tmp) / "cache")
        al_map(Path(tmp))


if __name__ == "__main__":
    main()
