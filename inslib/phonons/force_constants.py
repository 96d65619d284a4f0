"""Force constants: the validated in-memory object, its plain-dict and phonopy.yaml forms.

Internal layout (the one euphonic uses): ``fc[n, 3i+a, 3j+b]`` couples atom i of the cell at the
origin with atom j of the cell at ``cell_origins[n]`` (primitive-cell units), eV/Angstrom^2.
Force constants with Born charges are stored short-ranged: the dipole-dipole part of the
supercell is subtracted on reading a phonopy file (it is added back analytically for every q).
Files are read by :mod:`inslib.phonons.readers` (phonopy, CASTEP, euphonic JSON).
"""

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from inslib.phonons.errors import ForceConstantsError
from inslib.phonons.readers.euphonic import read_euphonic
from inslib.phonons.readers.phonopy import (
    force_sets_companions,
    phonopy_atoms,
    read_bare_fc,
    read_force_sets,
    read_phonopy_yaml,
    reduce_into_supercell,
    yaml_crystal,
)
from inslib.structure import Crystal, StructureError, load_structure

__all__ = ["FOLDER_ORDER", "ForceConstants", "ForceConstantsError", "check_matches",
           "file_crystal", "force_constants_file", "force_constants_kind",
           "load_force_constants", "to_primitive"]

#: Units of the arrays of :meth:`ForceConstants.to_dict`.
UNITS = {"cell": "angstrom", "positions": "fractional", "masses": "amu", "fc": "eV/angstrom^2",
         "cell_origins": "primitive cells", "sc_matrix": "1", "born": "e", "dielectric": "1"}


@dataclass
class ForceConstants:
    """Real-space harmonic force constants of a crystal, checked on construction.

    Attributes
    ----------
    crystal : Crystal
        The cell the force constants refer to (atom masses in amu from the file).
    fc : numpy.ndarray, shape (n_cells, 3 n_atoms, 3 n_atoms)
        Force constants, eV/Angstrom^2.
    cell_origins : numpy.ndarray of int, shape (n_cells, 3)
        Origin of each cell of the supercell in units of the crystal's lattice vectors.
    sc_matrix : numpy.ndarray of int, shape (3, 3)
        Supercell vectors = sc_matrix @ crystal.cell.
    born : numpy.ndarray or None, shape (n_atoms, 3, 3)
        Born effective charges (e), phonopy's index order.
    dielectric : numpy.ndarray or None, shape (3, 3)
        High-frequency dielectric tensor.
    source : str
        Where the force constants came from.

    Raises
    ------
    ForceConstantsError
        For a wrong shape, a non-finite value, a non-positive mass or a singular supercell;
        the message names the field, the bad value and the fix.
    """

    crystal: Crystal
    fc: np.ndarray
    cell_origins: np.ndarray
    sc_matrix: np.ndarray
    born: np.ndarray | None = None
    dielectric: np.ndarray | None = None
    source: str = ""

    def __post_init__(self):
        self.fc = np.asarray(self.fc, dtype=float)
        self.cell_origins = np.asarray(self.cell_origins, dtype=int)
        self.sc_matrix = np.asarray(self.sc_matrix, dtype=int)
        if self.born is not None:
            self.born = np.asarray(self.born, dtype=float)
        if self.dielectric is not None:
            self.dielectric = np.asarray(self.dielectric, dtype=float)
        _validate(self)

    @property
    def has_born(self) -> bool:
        """Whether Born charges and a dielectric tensor are present."""
        return self.born is not None and self.dielectric is not None

    def digest(self) -> str:
        """SHA-256 of every number that defines the model (not of ``source``), hex."""
        sha = hashlib.sha256()
        for name, value in self.to_dict().items():
            sha.update(name.encode())
            if name == "symbols":
                sha.update(" ".join(value).encode())
            elif name != "source" and value is not None:
                sha.update(str(value.shape).encode())
                sha.update(np.ascontiguousarray(value).tobytes())
        return sha.hexdigest()

    def to_dict(self) -> dict:
        """Plain numpy arrays and lists; units in :data:`UNITS`; :meth:`from_dict` inverts it."""
        c = self.crystal
        return {"cell": c.cell.copy(), "positions": c.positions.copy(),
                "symbols": list(c.symbols), "masses": c.masses.copy(), "fc": self.fc.copy(),
                "cell_origins": self.cell_origins.copy(), "sc_matrix": self.sc_matrix.copy(),
                "born": None if self.born is None else self.born.copy(),
                "dielectric": None if self.dielectric is None else self.dielectric.copy(),
                "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> "ForceConstants":
        """Build (and check) force constants from :meth:`to_dict`'s layout (lists or arrays)."""
        crystal = Crystal(data["cell"], data["positions"], list(data["symbols"]), data["masses"])
        return cls(crystal, data["fc"], data["cell_origins"], data["sc_matrix"],
                   data.get("born"), data.get("dielectric"), data.get("source", ""))

    def save_phonopy_yaml(self, path) -> Path:
        """Write a phonopy.yaml (structure, supercell, full force constants, Born charges).

        ``phonopy.load`` reads it back to the same force constants (total ones, the dipole part
        of the supercell added back when there are Born charges), on this cell as primitive.
        Units: phonopy's VASP units (Angstrom, eV/Angstrom^2).
        """
        import phonopy

        # phonopy's supercell rows are M^T @ cell, ours sc_matrix @ cell: M = sc_matrix^T
        phonon = phonopy.Phonopy(phonopy_atoms(self.crystal), supercell_matrix=self.sc_matrix.T,
                                 primitive_matrix=np.eye(3), log_level=0)
        phonon.force_constants = _full_force_constants(self, phonon)
        if self.has_born:
            phonon.nac_params = {"born": self.born, "dielectric": self.dielectric}
        path = Path(path)
        phonon.save(str(path), settings={"force_constants": True})
        return path


def _validate(fcs: ForceConstants) -> None:
    n = fcs.crystal.n_atoms
    _require(fcs.fc.ndim == 3 and fcs.fc.shape[1:] == (3 * n, 3 * n), "fc", fcs.fc.shape,
             f"shape (n_cells, {3 * n}, {3 * n}) for {n} atoms")
    _require(fcs.cell_origins.shape == (len(fcs.fc), 3), "cell_origins", fcs.cell_origins.shape,
             f"shape ({len(fcs.fc)}, 3), one integer origin per cell of fc")
    _require(fcs.sc_matrix.shape == (3, 3) and round(abs(np.linalg.det(fcs.sc_matrix))) >= 1,
             "sc_matrix", fcs.sc_matrix.tolist(), "a 3 x 3 integer matrix with det != 0")
    bad = ~np.isfinite(fcs.fc)
    _require(not bad.any(), "fc", f"{int(bad.sum())} non-finite values",
             "finite force constants in eV/Angstrom^2 (check the source file)")
    masses = fcs.crystal.masses
    _require(masses.shape == (n,) and np.all(masses > 0) and np.all(np.isfinite(masses)),
             "crystal.masses", masses.tolist(), f"{n} positive atomic masses in amu")
    if fcs.born is not None:
        _require(fcs.born.shape == (n, 3, 3) and np.all(np.isfinite(fcs.born)), "born",
                 fcs.born.shape, f"finite Born charges of shape ({n}, 3, 3), in e")
    if fcs.dielectric is not None:
        _require(fcs.dielectric.shape == (3, 3) and np.all(np.isfinite(fcs.dielectric)),
                 "dielectric", fcs.dielectric.shape, "a finite 3 x 3 tensor")


def _require(ok: bool, name: str, value, valid: str) -> None:
    if not ok:
        msg = f"ForceConstants.{name}: got {value}; expected {valid}"
        raise ForceConstantsError(msg)


def _full_force_constants(fcs: ForceConstants, phonon) -> np.ndarray:
    """Full (n_super, n_super, 3, 3) force constants as phonopy keeps them, dipole part added."""
    total = fcs.fc
    if fcs.has_born:
        from inslib.phonons.dipole import subtract_supercell_dipole

        dipole = replace(fcs, fc=np.zeros_like(fcs.fc))
        subtract_supercell_dipole(dipole)
        total = fcs.fc - dipole.fc
    sup, prim = phonon.supercell, fcs.crystal
    s2u = np.asarray(sup.s2u_map)
    atoms = np.array([sup.u2u_map[int(u)] for u in s2u])  # unit-cell atom of each
    frac = np.linalg.solve(prim.cell.T, np.asarray(sup.positions).T).T
    offsets = np.rint(frac - prim.positions[atoms]).astype(int)
    index = {tuple(reduce_into_supercell(o, fcs.sc_matrix)): n
             for n, o in enumerate(fcs.cell_origins)}
    blocks = total.reshape(len(total), prim.n_atoms, 3, prim.n_atoms, 3).transpose(0, 1, 3, 2, 4)
    full = np.zeros((len(s2u), len(s2u), 3, 3))
    for s_i in range(len(s2u)):
        for s_j in range(len(s2u)):
            rel = tuple(reduce_into_supercell(offsets[s_j] - offsets[s_i], fcs.sc_matrix))
            full[s_i, s_j] = blocks[index[rel], atoms[s_i], atoms[s_j]]
    return full


def load_force_constants(path, structure=None, supercell=None) -> ForceConstants:
    """Read force constants from any supported file.

    Parameters
    ----------
    path : str or Path
        phonopy_params.yaml / phonopy.yaml / phonopy_disp.yaml (FORCE_SETS, FORCE_CONSTANTS and
        BORN beside it are used), a FORCE_SETS file (phonopy_disp.yaml beside it, else the unit
        cell: ``structure`` or POSCAR-unitcell / POSCAR beside it; BORN beside it is used), a
        FORCE_CONSTANTS file (needs ``structure``), a CASTEP .castep_bin, an euphonic
        ForceConstants JSON, or a phonopy folder (see :func:`force_constants_file`).
    structure : str or Path, optional
        Structure file: required with a bare FORCE_CONSTANTS file, the unit cell of a FORCE_SETS
        file without phonopy_disp.yaml beside it, otherwise checked against.
    supercell : sequence of int, optional
        Supercell diagonal (3 ints) or 3x3 matrix for a bare FORCE_CONSTANTS file or a FORCE_SETS
        file without phonopy_disp.yaml; by default from phonopy's SPOSCAR beside it, else the
        cube root of the atom-count ratio.

    Returns
    -------
    ForceConstants
    """
    path = force_constants_file(path)
    kind = force_constants_kind(path)
    if kind in ("json", "castep"):
        fields = read_euphonic(path, kind)
    elif kind == "yaml":
        fields = read_phonopy_yaml(path)
    elif kind == "force_sets":
        fields = read_force_sets(path, structure, supercell)
    else:
        fields = read_bare_fc(path, structure, supercell)
    result = _short_ranged(fields)
    if structure is not None:
        check_matches(result, load_structure(structure))
    return result


#: Files a ForceConstantsFile folder is read from: the first one present inside it.
FOLDER_ORDER = ("phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml", "FORCE_SETS",
                "FORCE_CONSTANTS", "force_constants.hdf5")


def force_constants_file(path) -> Path:
    """Return the file a ForceConstantsFile names: itself, or the one read from a folder.

    For a folder (a phonopy calculation as it is left after a run), the first of
    :data:`FOLDER_ORDER` inside it: phonopy_params.yaml, phonopy.yaml, phonopy_disp.yaml
    (each with FORCE_SETS / FORCE_CONSTANTS / BORN beside it), FORCE_SETS (with a unit cell
    beside it or StructureFile), FORCE_CONSTANTS, force_constants.hdf5 (with StructureFile).

    Raises
    ------
    ForceConstantsError
        For a path that does not exist, or a folder with none of them, listing them.
    """
    path = Path(path)
    if path.is_dir():
        found = next((path / name for name in FOLDER_ORDER if (path / name).is_file()), None)
        if found is None:
            msg = (f"ForceConstantsFile {str(path)!r} is a folder without phonopy results: "
                   f"looked for {', '.join(FOLDER_ORDER)} in it and found none")
            raise ForceConstantsError(msg)
        return found
    if not path.is_file():
        msg = f"ForceConstantsFile {str(path)!r} does not exist"
        raise ForceConstantsError(msg)
    return path


def force_constants_kind(path) -> str:
    """Kind of a force-constants file from its name: json, castep, yaml, force_sets or bare.

    Raises
    ------
    ForceConstantsError
        For a name none of the readers takes, listing the ones they do.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    kinds = {".json": "json", ".castep_bin": "castep", ".yaml": "yaml", ".yml": "yaml",
             ".hdf5": "bare", ".h5": "bare"}
    if suffix in kinds:
        return kinds[suffix]
    if path.name.upper().startswith("FORCE_CONSTANTS"):
        return "bare"
    if path.name.upper().startswith("FORCE_SETS"):
        return "force_sets"
    msg = (f"ForceConstantsFile {path.name!r}: unknown kind of file; give a phonopy .yaml, "
           "FORCE_SETS, FORCE_CONSTANTS or force_constants.hdf5 (+ StructureFile), a phonopy "
           "folder, .castep_bin or euphonic .json")
    raise ForceConstantsError(msg)


def file_crystal(path, structure=None) -> Crystal:
    """Return the crystal of a force-constants file, without its force constants if possible.

    For checks before a run (QPath labels): the StructureFile when given, else the unit cell
    of a phonopy YAML (lengths in the file's unit; for FORCE_SETS, of phonopy_disp.yaml or the
    unit-cell file beside it), else the whole file is read. ``path`` may be a folder.

    Raises
    ------
    ForceConstantsError, StructureError
        Naming the file that cannot be read.
    """
    if structure is not None:
        return load_structure(structure)
    path = force_constants_file(path)
    kind = force_constants_kind(path)
    if kind == "force_sets":
        disp, unit_cell = force_sets_companions(path, None)
        return yaml_crystal(disp) if disp is not None else load_structure(unit_cell)
    if kind == "yaml":
        return yaml_crystal(path)
    return load_force_constants(path).crystal


def _short_ranged(fields: dict) -> ForceConstants:
    """ForceConstants from a reader's fields, the supercell dipole part taken out if needed."""
    long_range = fields.pop("long_range", False)
    result = ForceConstants(**fields)
    if long_range:
        from inslib.phonons.dipole import subtract_supercell_dipole

        subtract_supercell_dipole(result)
    return result


def check_matches(fcs: ForceConstants, crystal: Crystal, tol: float = 1e-3) -> None:
    """Refuse a structure that is not the force constants' cell (atom count, species, lattice)."""
    own = fcs.crystal
    if crystal.n_atoms != own.n_atoms:
        msg = (f"StructureFile has {crystal.n_atoms} atoms but the force constants are for "
               f"{own.n_atoms}: give the structure of the force constants' (primitive) cell")
        raise StructureError(msg)
    if sorted(crystal.symbols) != sorted(own.symbols):
        msg = (f"StructureFile species {sorted(set(crystal.symbols))} differ from the force "
               f"constants' {sorted(set(own.symbols))}")
        raise StructureError(msg)
    a, b = np.linalg.norm(crystal.cell, axis=1), np.linalg.norm(own.cell, axis=1)
    if np.max(np.abs(np.sort(a) - np.sort(b)) / np.sort(b)) > tol:
        msg = (f"StructureFile lattice lengths {np.round(a, 4).tolist()} A differ from the force "
               f"constants' {np.round(b, 4).tolist()} A (tolerance {tol:.0e} relative)")
        raise StructureError(msg)


def to_primitive(fcs: ForceConstants, symprec: float = 1e-3) -> ForceConstants:
    """Return the force constants on the primitive cell (same Cartesian frame), or ``fcs``.

    Every force constant is kept: rows of one representative atom per primitive site,
    columns re-indexed by primitive cell and atom. Dynamics in the primitive cell are
    identical and 3N smaller.
    """
    from inslib.structure import primitive_lattice

    crystal = fcs.crystal
    prim_cell = primitive_lattice(crystal, symprec)
    if abs(np.linalg.det(prim_cell) - np.linalg.det(crystal.cell)) < 1e-6 * crystal.volume:
        return fcs
    frac = crystal.cartesian @ np.linalg.inv(prim_cell)
    reps, site_of = _sites(frac)
    offsets = np.rint(frac - frac[reps][site_of]).astype(int)
    positions = frac[reps] - np.floor(frac[reps] + 1e-8)
    offsets += np.rint(frac[reps][site_of] - positions[site_of]).astype(int)
    to_prim = np.rint(crystal.cell @ np.linalg.inv(prim_cell)).astype(int)  # conv rows in prim
    sc_matrix = fcs.sc_matrix @ to_prim
    return _reindex(fcs, Crystal(prim_cell, positions, [crystal.symbols[r] for r in reps],
                                 crystal.masses[reps]), reps, site_of, offsets, to_prim, sc_matrix)


def _sites(frac) -> tuple[np.ndarray, np.ndarray]:
    """First atom of each primitive site and the site of every atom."""
    reps, site_of = [], np.zeros(len(frac), dtype=int)
    for k, position in enumerate(frac):
        for s, r in enumerate(reps):
            diff = position - frac[r]
            if np.all(np.abs(diff - np.round(diff)) < 1e-4):
                site_of[k] = s
                break
        else:
            site_of[k] = len(reps)
            reps.append(k)
    return np.array(reps), site_of


def _reindex(fcs, prim, reps, site_of, offsets, to_prim, sc_matrix) -> ForceConstants:
    n_p = prim.n_atoms
    n_cells = round(abs(np.linalg.det(sc_matrix)))
    fc = np.zeros((n_cells, 3 * n_p, 3 * n_p))
    keys: dict = {}
    cells = np.zeros((n_cells, 3), dtype=int)
    for i, rep in enumerate(reps):
        for n, origin in enumerate(fcs.cell_origins):
            for j_conv in range(fcs.crystal.n_atoms):
                rel = origin @ to_prim + offsets[j_conv] - offsets[rep]
                rel = reduce_into_supercell(rel, sc_matrix)
                index = keys.setdefault(tuple(rel), len(keys))
                cells[index] = rel
                j = site_of[j_conv]
                fc[index, 3 * i:3 * i + 3, 3 * j:3 * j + 3] = \
                    fcs.fc[n, 3 * rep:3 * rep + 3, 3 * j_conv:3 * j_conv + 3]
    born = None if fcs.born is None else fcs.born[reps]
    return ForceConstants(prim, fc, cells, sc_matrix, born, fcs.dielectric,
                          fcs.source + " (primitive cell)")
