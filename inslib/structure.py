"""Crystal structures in: validated crystals, symmetry (spglib) and q-paths (seekpath).

Lengths are in Angstrom, positions fractional, masses in amu. Neutron scattering data
(coherent scattering length in fm, cross-sections in barn) come from ``periodictable``.
"""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

MIN_DISTANCE = 0.5  # Angstrom: closer atoms are refused as overlapping
ISOTOPE_OFFSET = 1000  # spglib type of a second label of one element: atomic number + k x this


class StructureError(ValueError):
    """A structure file or crystal that cannot be used; the message says why and how to fix."""


@dataclass
class Crystal:
    """A periodic crystal.

    Parameters
    ----------
    cell : numpy.ndarray, shape (3, 3)
        Lattice vectors as rows, Angstrom.
    positions : numpy.ndarray, shape (n_atoms, 3)
        Fractional coordinates.
    symbols : list of str
        Element symbol per atom.
    masses : numpy.ndarray, shape (n_atoms,)
        Atomic masses in amu (natural abundance unless given).
    """

    cell: np.ndarray
    positions: np.ndarray
    symbols: list
    masses: np.ndarray = field(default=None)

    def __post_init__(self):
        self.cell = np.asarray(self.cell, dtype=float).reshape(3, 3)
        self.positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        self.symbols = [str(s) for s in self.symbols]
        if self.masses is None:
            self.masses = np.array([_element(s).mass for s in self.symbols])
        self.masses = np.asarray(self.masses, dtype=float)

    @property
    def n_atoms(self) -> int:
        """Number of atoms in the cell."""
        return len(self.symbols)

    @property
    def volume(self) -> float:
        """Cell volume in Angstrom^3."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def reciprocal(self) -> np.ndarray:
        """Reciprocal lattice vectors as rows, 1/Angstrom, including 2 pi, shape (3, 3)."""
        return 2 * np.pi * np.linalg.inv(self.cell).T

    @property
    def cartesian(self) -> np.ndarray:
        """Atom positions in Angstrom, shape (n_atoms, 3)."""
        return self.positions @ self.cell

    @cached_property
    def scattering(self) -> dict:
        """Neutron data per atom: 'b_coh' (fm), 'sigma_coh', 'sigma_inc' (barn), (n_atoms,) each."""
        data = [_element(s).neutron for s in self.symbols]
        return {
            "b_coh": np.array([float(n.b_c) for n in data]),
            "sigma_coh": np.array([float(n.coherent) for n in data]),
            "sigma_inc": np.array([float(n.incoherent) for n in data]),
        }

    def spglib_cell(self) -> tuple:
        """Return the (lattice, positions, numbers) tuple spglib and seekpath take.

        The numbers are atomic numbers, except that atoms of one element with another symbol
        or mass (D among H, an isotope) get it plus k x ISOTOPE_OFFSET: spglib sees types only,
        and no symmetry operation of a phonon calculation may swap atoms of other masses.
        """
        return (self.cell, self.positions, [self.type_labels[key] for key in self._labels])

    @property
    def _labels(self) -> list:
        return [(symbol, float(f"{mass:.8g}")) for symbol, mass
                in zip(self.symbols, self.masses, strict=True)]

    @property
    def type_labels(self) -> dict:
        """{(symbol, mass): spglib type number} of the crystal's atoms (:meth:`spglib_cell`)."""
        numbers = {}
        for key in dict.fromkeys(self._labels):
            z = _element(key[0]).number
            taken = sum(1 for other in numbers.values() if other % ISOTOPE_OFFSET == z)
            numbers[key] = z + ISOTOPE_OFFSET * taken
        return numbers


def _element(symbol: str):
    import periodictable

    try:
        return periodictable.elements.symbol(symbol)
    except ValueError as exc:
        msg = (
            f"unknown element {symbol!r}: use a chemical symbol such as 'Si' "
            "(labels like 'Si1' are read from the CIF type symbol)"
        )
        raise StructureError(msg) from exc


def from_ase(atoms) -> Crystal:
    """Build a validated Crystal from an ASE Atoms object."""
    crystal = Crystal(
        cell=np.array(atoms.cell),
        positions=atoms.get_scaled_positions(wrap=True),
        symbols=atoms.get_chemical_symbols(),
    )
    validate(crystal)
    return crystal


def validate(crystal: Crystal, min_distance: float = MIN_DISTANCE) -> None:
    """Refuse a crystal with no atoms, a degenerate cell or overlapping atoms."""
    if crystal.n_atoms == 0:
        msg = "the structure has no atoms"
        raise StructureError(msg)
    if crystal.volume < 1e-3:
        msg = f"the cell is degenerate (volume {crystal.volume:.3g} A^3); check the lattice vectors"
        raise StructureError(msg)
    for symbol in crystal.symbols:
        _element(symbol)
    i, j, dist = _closest_pair(crystal, min_distance)
    if dist < min_distance:
        other = f"{j} ({crystal.symbols[j]})" if j != i else "its own periodic image"
        msg = (
            f"atoms {i} ({crystal.symbols[i]}) and {other} are "
            f"{dist:.3f} A apart (< {min_distance} A): overlapping or duplicated sites; "
            "remove duplicates or check the symmetry expansion of the file"
        )
        raise StructureError(msg)


def _closest_pair(crystal: Crystal, cutoff: float) -> tuple[int, int, float]:
    """Closest pair of atoms (periodic images included) within ``cutoff`` A; inf if none.

    ASE's neighbour list (cell lists): time and memory linear in the atoms, where all pairs
    times 27 image shifts took 11 GB for 4096 atoms.
    """
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(numbers=np.ones(crystal.n_atoms, int), scaled_positions=crystal.positions,
                  cell=crystal.cell, pbc=True)
    first, second, dist = neighbor_list("ijd", atoms, cutoff)
    if len(dist) == 0:
        return 0, 0, np.inf
    k = int(np.argmin(dist))
    return int(first[k]), int(second[k]), float(dist[k])


def load_structure(path) -> Crystal:
    """Read a structure file (CIF, POSCAR/CONTCAR or any ASE-readable format).

    Parameters
    ----------
    path : str or Path
        The file. CIFs with partial occupancies are refused.

    Returns
    -------
    Crystal
        The validated crystal as written in the file (not reduced).
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        msg = f"StructureFile {str(path)!r} does not exist"
        raise StructureError(msg)
    if path.stat().st_size == 0:
        msg = f"StructureFile {str(path)!r} is empty"
        raise StructureError(msg)
    if path.suffix.lower() == ".cif":
        _check_cif_occupancy(path)
    try:
        atoms = ase.io.read(path)
    except Exception as exc:
        msg = f"StructureFile {str(path)!r} could not be read as a crystal structure: {exc}"
        raise StructureError(msg) from exc
    if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-3:
        msg = f"StructureFile {str(path)!r} has no periodic 3D cell: a crystal is needed"
        raise StructureError(msg)
    return from_ase(atoms)


def _check_cif_occupancy(path: Path) -> None:
    from ase.io.cif import parse_cif

    for block in parse_cif(str(path)):
        occupancy = block.get("_atom_site_occupancy")
        if occupancy is None:
            continue
        labels = block.get("_atom_site_label", [""] * len(occupancy))
        partial = [f"{lab} ({occ})" for lab, occ in zip(labels, occupancy, strict=False)
                   if abs(float(occ) - 1.0) > 1e-3]
        if partial:
            msg = (
                f"StructureFile {path.name!r} has fractional site occupancies: "
                f"{', '.join(partial[:5])}. Phonon calculations need an ordered crystal: "
                "build an ordered supercell (e.g. with pymatgen's OrderDisorderedStructure "
                "or supercell) and pass that instead"
            )
            raise StructureError(msg)


@dataclass
class Symmetry:
    """Space-group symmetry of a crystal (from spglib).

    Attributes
    ----------
    number : int
        International space-group number.
    symbol : str
        Hermann-Mauguin symbol.
    rotations : numpy.ndarray, shape (n_ops, 3, 3)
        Integer rotations acting on fractional coordinates of the given cell.
    translations : numpy.ndarray, shape (n_ops, 3)
        Fractional translations.
    """

    number: int
    symbol: str
    rotations: np.ndarray
    translations: np.ndarray

    def point_group_cartesian(self, cell: np.ndarray) -> np.ndarray:
        """Return the unique point-group rotations in Cartesian coordinates, shape (n, 3, 3)."""
        cart = cell.T @ self.rotations @ np.linalg.inv(cell.T)
        return _unique(np.round(cart, 8))


def _unique(matrices: np.ndarray) -> np.ndarray:
    return np.unique(matrices.reshape(len(matrices), -1), axis=0).reshape(-1, 3, 3)


def spglib_module():
    """Return spglib with exceptions on errors (opt-in since 2.7, the default from 3.0).

    The old handling returned None and warns on every call in spglib 2.8; phonopy opts in the
    same way when it is imported.
    """
    import spglib

    spglib.error.OLD_ERROR_HANDLING = False
    return spglib


def symmetry_dataset(crystal: Crystal, symprec: float = 1e-3):
    """Return spglib's symmetry dataset of a crystal; StructureError where it finds none."""
    spglib = spglib_module()
    try:
        return spglib.get_symmetry_dataset(crystal.spglib_cell(), symprec=symprec)
    except spglib.error.SpglibError as exc:
        msg = f"spglib found no symmetry at symprec={symprec} ({exc}): check the structure"
        raise StructureError(msg) from exc


def symmetry(crystal: Crystal, symprec: float = 1e-3) -> Symmetry:
    """Find the space group of a crystal with spglib."""
    data = symmetry_dataset(crystal, symprec)
    return Symmetry(int(data.number), str(data.international), np.array(data.rotations),
                    np.array(data.translations))


def primitive(crystal: Crystal, symprec: float = 1e-3) -> Crystal:
    """Return the standardised primitive cell of a crystal (spglib)."""
    return _standardize(crystal, symprec, to_primitive=True)


def conventional(crystal: Crystal, symprec: float = 1e-3) -> Crystal:
    """Return the standardised conventional cell of a crystal (spglib)."""
    return _standardize(crystal, symprec, to_primitive=False)


def _standardize(crystal: Crystal, symprec: float, to_primitive: bool) -> Crystal:
    spglib = spglib_module()
    try:
        cell, pos, numbers = spglib.standardize_cell(
            crystal.spglib_cell(), to_primitive=to_primitive, symprec=symprec)
    except spglib.error.SpglibError as exc:
        msg = f"spglib could not standardise the cell at symprec={symprec} ({exc})"
        raise StructureError(msg) from exc
    labels = {number: key for key, number in crystal.type_labels.items()}
    symbols = [labels[int(n)][0] for n in numbers]
    return Crystal(cell, pos, symbols, np.array([labels[int(n)][1] for n in numbers]))


@dataclass
class QPath:
    """A path through reciprocal space.

    Attributes
    ----------
    segments : list of (str, str)
        Labels of each straight segment's ends.
    points : dict of str to numpy.ndarray
        Fractional coordinates (reciprocal lattice units of the crystal's cell) of each label.
    """

    segments: list
    points: dict


def seekpath_path(crystal: Crystal) -> QPath:
    """Return the standard high-symmetry path (HPKOT) in the crystal's own cell (seekpath)."""
    import warnings

    import seekpath

    with warnings.catch_warnings():  # a conventional cell: the primitive cell's path, wanted
        warnings.simplefilter("ignore", seekpath.SupercellWarning)
        data = seekpath.get_explicit_k_path_orig_cell(crystal.spglib_cell())
    labels = data["explicit_kpoints_labels"]
    coords = np.asarray(data["explicit_kpoints_rel"])
    points = {lab: coords[i] for i, lab in enumerate(labels) if lab}
    segments = [tuple(_label(x) for x in seg) for seg in data["path"]]
    return QPath(segments=segments, points={_label(k): v for k, v in points.items()})


def _label(label: str) -> str:
    return "G" if label == "GAMMA" else label


def primitive_lattice(crystal: Crystal, symprec: float = 1e-3) -> np.ndarray:
    """Primitive lattice vectors (rows, Angstrom) in the crystal's own Cartesian frame.

    A centred cell has pure translations among its symmetry operations; the primitive
    lattice is spanned by them and the cell vectors (the cell itself when there are none).
    """
    sym = symmetry(crystal, symprec)
    identity = np.all(sym.rotations == np.eye(3, dtype=int), axis=(1, 2))
    shifts = sym.translations[identity]
    shifts = shifts[np.any(np.abs(shifts - np.round(shifts)) > 1e-6, axis=1)]
    if len(shifts) == 0:
        return crystal.cell.copy()
    return _shortest_basis(crystal.cell, shifts, len(shifts) + 1)


def _shortest_basis(cell, shifts, n_points) -> np.ndarray:
    """Three shortest independent vectors of the lattice of cell rows plus shifts (Angstrom)."""
    grid = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    frac = np.concatenate([grid, (shifts[:, None, :] + grid[None]).reshape(-1, 3)])
    cart = frac @ cell
    cart = cart[np.linalg.norm(cart, axis=1) > 1e-6]
    cart = cart[np.argsort(np.linalg.norm(cart, axis=1), kind="stable")]
    target = abs(np.linalg.det(cell)) / n_points
    chosen = [cart[0]]
    for vector in cart[1:]:
        trial = np.array([*chosen, vector])
        independent = np.linalg.matrix_rank(trial, tol=1e-6) == len(trial)
        if independent and (len(trial) < 3
                            or abs(abs(np.linalg.det(trial)) - target) < 1e-6 * target):
            chosen.append(vector)
        if len(chosen) == 3:
            break
    basis = np.array(chosen)
    return basis if np.linalg.det(basis) > 0 else -basis
