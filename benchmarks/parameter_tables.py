"""Force-constant parameter tables (issue 9, section 2) for docs/validation.md.

(a) Independent parameters per neighbour shell (space group + permutation symmetry + acoustic
sum rule, symfc) for fcc Al, bcc Fe, diamond Si and Ge and rocksalt NaCl, shells 1-4, each on
the smallest n x n x n primitive supercell in which every kept pair has one nearest image.

(b) Truncation: DFT force constants projected onto n shells; relative residual
||fc - P fc|| / ||fc||, and Pearson r between the spectra of the full and the projected force
constants, both through the product's own forward model: the neutron-weighted, regularised DOS
(inslib.scattering.mesh, 16^3 mesh, 300 K) and the coherent one-phonon powder map
(inslib.simulation.forward.PowderForward: 300 K, Debye-Waller on a 12^3 mesh, 1 meV FWHM,
0.5-8 1/A in 0.1 1/A bins x 0.5 meV, 300 directions per |Q| in the irreducible wedge, the same
for both). With Born charges (NaCl) the
dipole part stays as it is; only the short-ranged force constants are projected.

    .venv/bin/python benchmarks/parameter_tables.py
"""

import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from inslib.phonons.force_constants import load_force_constants, to_primitive
from inslib.phonons.model import PhononModel
from inslib.phonons.parameters import ParameterBasis
from inslib.scattering.binning import Resolution
from inslib.scattering.dos import weighted_dos
from inslib.scattering.mesh import mesh_results
from inslib.scattering.powder import PowderSampling
from inslib.simulation.forward import Multiphonon, PowderForward, Thermal, dos_top
from inslib.structure import from_ase

ROOT = Path(__file__).resolve().parent.parent
FC = ROOT / "tests" / "data" / "shared" / "force_constants"
CRYSTALS = {"fcc Al": bulk("Al", "fcc", a=4.05), "bcc Fe": bulk("Fe", "bcc", a=2.87),
            "diamond Si": bulk("Si", "diamond", a=5.43),
            "diamond Ge": bulk("Ge", "diamond", a=5.66),
            "rocksalt NaCl": bulk("NaCl", "rocksalt", a=5.64)}
DFT = {"Al (ABACUS, 2x2x2 conv.)": (ROOT / "tests/data/Al_phonopy/phonopy.yaml", None),
       "Ge (pathSQE, 4x4x4 prim.)": (FC / "pathSQE_Ge_ARCS/FORCE_CONSTANTS",
                                     FC / "pathSQE_Ge_ARCS/POSCAR"),
       "NaCl (phonopy example, 2x2x2 conv., Born)": (
           FC / "phonopy_example_NaCl/phonopy_disp.yaml", None)}
TEMPERATURE = 300.0  # K


def count_table() -> None:
    """Print (a): parameters per shell, cumulative, for shells 1-4."""
    print("| crystal | supercell | 1 shell | 2 shells | 3 shells | 4 shells | per shell (4) |")
    print("|---|---|---|---|---|---|---|")
    for name, atoms in CRYSTALS.items():
        crystal = from_ase(atoms)
        bases = [ParameterBasis.from_crystal(crystal, shells=n) for n in range(1, 5)]
        per = np.unique(bases[-1].shells, return_counts=True)[1]
        sizes = np.diag(bases[-1].sc_matrix)
        print(f"| {name} | {'x'.join(map(str, sizes))} (4 shells) | "
              + " | ".join(str(b.n_params) for b in bases)
              + f" | {' + '.join(map(str, per))} |")


def dos(model, fc, e_max: float) -> np.ndarray:
    """Neutron-weighted, regularised DOS on a 16^3 mesh at 300 K, (n_bins,) mbarn/meV per atom."""
    with torch.no_grad():
        mesh = mesh_results(model, TEMPERATURE, 16, e_max, fc)
    return weighted_dos(mesh.partial[0].numpy(), model.crystal)


def powder(model, fc, q_edges, e_edges, e_max: float) -> np.ndarray:
    """Coherent one-phonon S(|Q|, E) at 300 K with DW, 1 meV FWHM, (n_q, n_e) mbarn/meV."""
    mask = np.zeros((len(q_edges) - 1, len(e_edges) - 1), bool)
    forward = PowderForward(model, q_edges, mask, Thermal(TEMPERATURE, 12, e_max),
                            Multiphonon(e_edges, Resolution.constant(1.0), 1), incoherent=False,
                            sampling=PowderSampling(1, 300, seed=1))
    with torch.no_grad():
        return forward(fc).signal[0].numpy()


def truncation_table(max_shells: int = 5) -> None:
    """Print (b): residual and spectrum r per shell count for the DFT force constants."""
    print("| force constants | shells | parameters | residual / norm | r DOS | r powder map |")
    print("|---|---|---|---|---|---|")
    q_edges, e_edges = np.arange(0.5, 8.01, 0.1), np.arange(0.0, 60.0, 0.5)
    for label, (path, structure) in DFT.items():
        full = to_primitive(load_force_constants(path, structure))
        model = PhononModel(full)
        reference = torch.as_tensor(full.fc)[None]
        e_max = dos_top(model, 16, headroom=1.3)
        ref_dos = dos(model, reference, e_max)
        ref_map = powder(model, reference, q_edges, e_edges, e_max)
        for shells in range(1, max_shells + 1):
            try:
                basis = ParameterBasis.from_force_constants(full, shells=shells)
            except ValueError as exc:
                print(f"| {label} | {shells} | (supercell has fewer shells: {exc}) | | | |")
                break
            params, residual = basis.project(full)
            fc = basis.to_force_constants(params)
            r_dos = np.corrcoef(ref_dos, dos(model, fc, e_max))[0, 1]
            r_map = np.corrcoef(ref_map.ravel(),
                                powder(model, fc, q_edges, e_edges, e_max).ravel())
            print(f"| {label} | {shells} | {basis.n_params} | "
                  f"{residual[0] / np.linalg.norm(full.fc):.3f} | {r_dos:.4f} | "
                  f"{r_map[0, 1]:.4f} |")


def main() -> None:
    start = time.perf_counter()
    torch.set_num_threads(2)
    count_table()
    print()
    truncation_table()
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
