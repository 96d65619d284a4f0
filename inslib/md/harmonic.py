"""The harmonic reference of an MD run: phonopy finite displacements with the same potential.

EMT or a NEP model (:func:`inslib.md.run.calculator`), forces through
:func:`inslib.phonons.mlff.supercell_forces`. Writes a phonopy_params.yaml that the harmonic
routes read, so that the MD and harmonic results of one potential share a template.
"""

from pathlib import Path

import numpy as np

from inslib.md.run import calculator
from inslib.phonons.mlff import supercell_forces
from inslib.structure import load_structure

DISPLACEMENT = 0.01  # Angstrom, phonopy's default finite displacement


def md_force_constants(structure: str, supercell: np.ndarray, path: str | Path,
                       potential: str = "") -> Path:
    """Compute force constants by phonopy finite displacements; save phonopy_params.yaml.

    Parameters
    ----------
    structure : str
        Structure file (any format ASE reads), the cell the MD repeats.
    supercell : numpy.ndarray of int, shape (3, 3)
        Supercell matrix of the displacements.
    path : str or Path
        Where the phonopy_params.yaml (with force constants) is written.
    potential : str
        The MD run's potential: a NEP model file, or "" for ASE's EMT.
    """
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    crystal = load_structure(structure)
    phonon = Phonopy(PhonopyAtoms(symbols=crystal.symbols, cell=crystal.cell,
                                  scaled_positions=crystal.positions, masses=crystal.masses),
                     supercell_matrix=np.asarray(supercell, dtype=int))
    phonon.generate_displacements(distance=DISPLACEMENT)
    phonon.forces = supercell_forces(phonon, calculator(potential))
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
