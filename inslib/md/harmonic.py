"""The harmonic reference of an MD run: phonopy finite displacements with the same potential (EMT).

Writes a phonopy_params.yaml that SimulatePowderSQE (the harmonic route) reads, so that the MD
and harmonic maps of one potential can be compared on one template.
"""

from pathlib import Path

import numpy as np

from inslib.structure import load_structure

DISPLACEMENT = 0.01  # Angstrom, phonopy's default finite displacement


def emt_force_constants(structure: str, supercell: np.ndarray, path: str | Path) -> Path:
    """Compute EMT force constants by phonopy finite displacements; save phonopy_params.yaml.

    Parameters
    ----------
    structure : str
        Structure file (any format ASE reads), the cell the MD repeats.
    supercell : numpy.ndarray of int, shape (3, 3)
        Supercell matrix of the displacements.
    path : str or Path
        Where the phonopy_params.yaml (with force constants) is written.
    """
    from ase import Atoms
    from ase.calculators.emt import EMT
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    crystal = load_structure(structure)
    phonon = Phonopy(PhonopyAtoms(symbols=crystal.symbols, cell=crystal.cell,
                                  scaled_positions=crystal.positions),
                     supercell_matrix=np.asarray(supercell, dtype=int))
    phonon.generate_displacements(distance=DISPLACEMENT)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                      pbc=True)
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    phonon.forces = forces
    phonon.produce_force_constants()
    phonon.save(str(path), settings={"force_constants": True})
    return Path(path)


def relaxed_structure(symbol: str, lattice: str, path: str | Path, guess: float) -> Path:
    """Write the primitive cell of an element relaxed with EMT (cell and positions) as POSCAR.

    ``lattice``: ASE's crystal structure name ("fcc", "bcc"...); ``guess``: lattice constant
    to start from, Angstrom.
    """
    import ase.io
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = bulk(symbol, lattice, a=guess)
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5)
    ase.io.write(path, atoms, format="vasp")
    return Path(path)
