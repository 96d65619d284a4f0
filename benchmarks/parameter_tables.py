"""Force-constant parameter tables (issue 9, section 2) for docs/validation.md.

(a) Independent parameters per neighbour shell (space group + permutation symmetry + acoustic
sum rule, symfc) for fcc Al, bcc Fe, diamond Si and Ge and rocksalt NaCl, shells 1-4, each on
the smallest n x n x n primitive supercell in which every kept pair has one nearest image.

(b) Truncation: DFT force constants projected onto n shells; relative residual
||fc - P fc|| / ||fc||, and Pearson r between the spectra of the full and the projected force
constants: the neutron-weighted DOS (16^3 mesh, 0.25 meV bins, 0.5 meV Gaussian) and a coherent
one-phonon powder map S(|Q|, E) at 300 K (0.5-8 1/A in 0.1 1/A bins x 0.5 meV, 300 random
directions per |Q|, no Debye-Waller factor, the same for both). With Born charges (NaCl) the
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
from inslib.structure import from_ase

ROOT = Path(__file__).resolve().parent.parent
FC = ROOT.parent / "shared" / "data" / "force_constants"
CRYSTALS = {"fcc Al": bulk("Al", "fcc", a=4.05), "bcc Fe": bulk("Fe", "bcc", a=2.87),
            "diamond Si": bulk("Si", "diamond", a=5.43),
            "diamond Ge": bulk("Ge", "diamond", a=5.66),
            "rocksalt NaCl": bulk("NaCl", "rocksalt", a=5.64)}
DFT = {"Al (ABACUS, 2x2x2 conv.)": (ROOT / "tests/data/Al_phonopy/phonopy.yaml", None),
       "Ge (pathSQE, 4x4x4 prim.)": (FC / "pathSQE_Ge_ARCS/FORCE_CONSTANTS",
                                     FC / "pathSQE_Ge_ARCS/POSCAR"),
       "NaCl (phonopy example, 2x2x2 conv., Born)": (
           FC / "phonopy_example_NaCl/phonopy_disp.yaml", None)}
KELVIN_MEV = 0.08617333262  # k_B in meV/K
TEMPERATURE = 300.0  # K
RNG = np.random.default_rng(0)


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


def dos(model, fc) -> np.ndarray:
    """Neutron-weighted DOS on a 16^3 mesh, (n_bins,) arbitrary units."""
    axes = np.arange(16) / 16 + 1 / 32
    q = np.array(np.meshgrid(axes, axes, axes, indexing="ij")).reshape(3, -1).T
    modes = model.modes(q, fc=fc)
    scatter = model.crystal.scattering
    weight = (scatter["sigma_coh"] + scatter["sigma_inc"]) / model.crystal.masses
    amplitude = (modes.eigenvectors.abs() ** 2).sum(-1)[0].numpy() @ weight  # (nq, 3N)
    edges = np.arange(0.0, 60.0, 0.25)
    hist = np.histogram(modes.frequencies[0].numpy().ravel(), edges, weights=amplitude.ravel())
    return smooth(hist[0], 0.5 / 0.25)


def powder(model, fc, q_edges, e_edges, n_dirs=300) -> np.ndarray:
    """Coherent one-phonon S(|Q|, E) at 300 K (no Debye-Waller), (n_q, n_e) arbitrary units."""
    crystal = model.crystal
    centres = 0.5 * (q_edges[1:] + q_edges[:-1])
    dirs = RNG.normal(size=(n_dirs, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    q_cart = (centres[:, None, None] * dirs[None]).reshape(-1, 3)
    modes = model.modes(q_cart @ crystal.cell.T / (2 * np.pi), fc=fc)
    freq = modes.frequencies[0].numpy()
    b = crystal.scattering["b_coh"] / np.sqrt(crystal.masses)
    phase = np.exp(1j * q_cart @ crystal.cartesian.T) * b  # (nq, N)
    amp = np.einsum("qk,qmkc,qc->qm", phase, modes.eigenvectors[0].numpy(), q_cart)
    with np.errstate(divide="ignore", over="ignore"):
        bose = 1 / (1 - np.exp(-freq / (KELVIN_MEV * TEMPERATURE)))
    intensity = np.where(freq > 0.5, np.abs(amp) ** 2 / freq * bose, 0.0)
    shell = np.repeat(np.arange(len(centres)), n_dirs)[:, None].repeat(freq.shape[1], 1)
    grid = np.histogram2d(centres[shell].ravel(), freq.ravel(), [q_edges, e_edges],
                          weights=intensity.ravel())[0]
    return np.apply_along_axis(smooth, 1, grid, 1.0)


def smooth(values: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Gaussian smoothing along the last axis (sigma in bins)."""
    x = np.arange(-4 * int(np.ceil(sigma_bins)), 4 * int(np.ceil(sigma_bins)) + 1)
    kernel = np.exp(-0.5 * (x / sigma_bins) ** 2)
    return np.convolve(values, kernel / kernel.sum(), mode="same")


def truncation_table(max_shells: int = 5) -> None:
    """Print (b): residual and spectrum r per shell count for the DFT force constants."""
    print("| force constants | shells | parameters | residual / norm | r DOS | r powder map |")
    print("|---|---|---|---|---|---|")
    q_edges, e_edges = np.arange(0.5, 8.01, 0.1), np.arange(0.0, 60.0, 0.5)
    for label, (path, structure) in DFT.items():
        full = to_primitive(load_force_constants(path, structure))
        model = PhononModel(full)
        reference = torch.as_tensor(full.fc)[None]
        state = RNG.bit_generator.state
        ref_dos, ref_map = dos(model, reference), powder(model, reference, q_edges, e_edges)
        for shells in range(1, max_shells + 1):
            try:
                basis = ParameterBasis.from_force_constants(full, shells=shells)
            except ValueError as exc:
                print(f"| {label} | {shells} | (supercell has fewer shells: {exc}) | | | |")
                break
            params, residual = basis.project(full)
            fc = basis.to_force_constants(params)
            RNG.bit_generator.state = state  # the same directions as the reference map
            r_dos = np.corrcoef(ref_dos, dos(model, fc))[0, 1]
            r_map = np.corrcoef(ref_map.ravel(), powder(model, fc, q_edges, e_edges).ravel())
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
