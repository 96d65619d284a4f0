"""Train the small NEP4 model of fcc Al in ``Al_emt_nep.txt`` on ASE EMT labels.

Not imported by inslib or by the tests: this records how the model file was made. It needs
ASE, calorine and torchnep (GPL-3.0, a pure-PyTorch NEP trainer used here only as an external
tool, installed apart from inslib's environment, e.g. ``pip install --target DIR torchnep``
and ``PYTHONPATH=DIR``). Run::

    OMP_NUM_THREADS=1 python tests/data/nep/make_al_nep.py WORKDIR

It writes EMT-labelled training and held-out snapshots (rattled, strained and Langevin MD
frames of 32-108 atom fcc Al cells at 0-900 K) as extended XYZ in WORKDIR, trains with
torchnep on CPU, prints the held-out energy/force/virial RMSE of the model (calorine's CPUNEP)
against EMT and copies the model to ``Al_emt_nep.txt`` beside this script.
"""

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

A_EMT = 3.9937  # Angstrom, EMT's own 0 K lattice constant of fcc Al
TEMPERATURES = (50.0, 150.0, 300.0, 600.0, 900.0)  # K, of the MD snapshots
NEP_IN = """\
type 1 Al
version 4
cutoff 6.0 4.5
n_max 4 4
basis_size 8 8
l_max 4 0 0
neuron 16
lambda_e 0.1
lambda_f 1.0
lambda_v 0.1
batch 8
epoch {epochs}
lr 0.01
stop_lr 1e-5
scheduler_patience 10
scheduler_factor 0.6
"""


def cells():
    """Return the fcc Al cells sampled: 2 x 2 x 2 and 3 x 3 x 3 cubic, 4 x 4 x 4 primitive."""
    from ase.build import bulk

    return [bulk("Al", "fcc", a=A_EMT, cubic=True).repeat(2),
            bulk("Al", "fcc", a=A_EMT, cubic=True).repeat(3),
            bulk("Al", "fcc", a=A_EMT).repeat(4)]


def strained(atoms, rng, volumetric: float, shear: float):
    """Return ``atoms`` under a random symmetric strain (positions scaled with the cell)."""
    strain = rng.uniform(-shear, shear, (3, 3))
    strain = 0.5 * (strain + strain.T) + np.eye(3) * (1 + rng.uniform(-volumetric, volumetric))
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    return atoms


def snapshots(seed: int, n_static: int, n_md: int) -> list:
    """Unlabelled snapshots: ``n_static`` rattled/strained ones, ``n_md`` per temperature."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    rng = np.random.default_rng(seed)
    structures = cells()
    frames = []
    for i in range(n_static):
        atoms = strained(structures[i % len(structures)], rng, 0.04, 0.02)
        atoms.rattle(stdev=rng.uniform(0.005, 0.15), seed=int(rng.integers(2**31)))
        frames.append(atoms)
    for j, temperature in enumerate(TEMPERATURES):
        atoms = strained(structures[j % 2 + 1], rng, 0.01 + temperature * 1e-5, 0.005)
        atoms.calc = EMT()
        thermalize_momenta(atoms, 2 * temperature, rng=rng)
        dynamics = Langevin(atoms, 5 * units.fs, temperature_K=temperature,
                            friction=0.02 / units.fs, fixcm=False, rng=rng)
        dynamics.run(200)
        for _ in range(n_md):
            dynamics.run(20)
            frames.append(atoms.copy())
    return frames


def write_xyz(frames: list, path: Path) -> None:
    """EMT energy, forces and virial (-stress x volume) of each frame, as extended XYZ."""
    from ase.calculators.emt import EMT

    with open(path, "w") as handle:
        for atoms in frames:
            atoms.calc = EMT()
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
            lattice = " ".join(f"{x:.10f}" for x in atoms.cell.array.ravel())
            handle.write(f"{len(atoms)}\nLattice=\"{lattice}\" energy={energy:.10f} "
                         f"virial=\"{' '.join(f'{x:.10f}' for x in virial.ravel())}\" "
                         "pbc=\"T T T\" Properties=species:S:1:pos:R:3:forces:R:3\n")
            for symbol, r, f in zip(atoms.get_chemical_symbols(), atoms.positions, forces,
                                    strict=True):
                handle.write(f"{symbol} {r[0]:.10f} {r[1]:.10f} {r[2]:.10f} "
                             f"{f[0]:.10f} {f[1]:.10f} {f[2]:.10f}\n")


def held_out_rmse(model: Path, frames: list) -> dict:
    """Energy (meV/atom), force (meV/A) and virial (meV/atom) RMSE of the model against EMT."""
    from ase.calculators.emt import EMT
    from calorine.calculators import CPUNEP

    errors = {"energy": [], "force": [], "virial": []}
    nep = CPUNEP(str(model))
    for atoms in frames:
        labelled = atoms.copy()
        labelled.calc = EMT()
        atoms = atoms.copy()
        atoms.calc = nep
        errors["energy"].append((atoms.get_potential_energy()
                                 - labelled.get_potential_energy()) / len(atoms))
        errors["force"].extend((atoms.get_forces() - labelled.get_forces()).ravel())
        errors["virial"].extend((labelled.get_stress() - atoms.get_stress())
                                * atoms.get_volume() / len(atoms))
    return {key: 1000 * float(np.sqrt(np.mean(np.square(value))))
            for key, value in errors.items()}


def main() -> None:
    """Make the data, train, report the held-out RMSE and copy the model beside this script."""
    from torchnep import train_nep

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    train, held_out = snapshots(1, 120, 24), snapshots(2, 24, 6)
    write_xyz(train, args.workdir / "train.xyz")
    (args.workdir / "nep.in").write_text(NEP_IN.format(epochs=args.epochs))
    start = time.perf_counter()
    train_nep(str(args.workdir / "nep.in"), str(args.workdir / "train.xyz"),
              output_dir=str(args.workdir / "output"), device="cpu", run_seed=7,
              valid_ratio=0.1, use_compile=False, print_interval=10)
    print(f"training: {time.perf_counter() - start:.0f} s on {len(train)} frames")
    model = args.workdir / "output" / "nep_best.txt"
    print("held-out RMSE vs EMT (energy meV/atom, force meV/A, virial meV/atom):",
          held_out_rmse(model, held_out))
    shutil.copy(model, Path(__file__).with_name("Al_emt_nep.txt"))


if __name__ == "__main__":
    main()
