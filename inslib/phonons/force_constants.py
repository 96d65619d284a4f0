"""Force constants in: phonopy files (through phonopy), CASTEP .castep_bin and euphonic JSON.

Internal layout (the one euphonic uses): ``fc[n, 3i+a, 3j+b]`` couples atom i of the cell at the
origin with atom j of the cell at ``cell_origins[n]`` (primitive-cell units), eV/Angstrom^2.
Force constants with Born charges are stored short-ranged: the dipole-dipole part of the
supercell is subtracted on reading a phonopy file (it is added back analytically for every q).
"""

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.structure import Crystal, StructureError, load_structure


class ForceConstantsError(ValueError):
    """Force constants that cannot be read or do not match their structure."""


@dataclass
class ForceConstants:
    """Real-space harmonic force constants of a crystal.

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
    """

    crystal: Crystal
    fc: np.ndarray
    cell_origins: np.ndarray
    sc_matrix: np.ndarray
    born: np.ndarray | None = None
    dielectric: np.ndarray | None = None
    source: str = ""

    @property
    def has_born(self) -> bool:
        """Whether Born charges and a dielectric tensor are present."""
        return self.born is not None and self.dielectric is not None


def load_force_constants(path, structure=None, supercell=None) -> ForceConstants:
    """Read force constants from any supported file.

    Parameters
    ----------
    path : str or Path
        phonopy_params.yaml / phonopy.yaml / phonopy_disp.yaml (FORCE_SETS, FORCE_CONSTANTS and
        BORN beside it are used), a FORCE_CONSTANTS file (needs ``structure``), a CASTEP
        .castep_bin or an euphonic ForceConstants JSON.
    structure : str or Path, optional
        Structure file: required with a bare FORCE_CONSTANTS file, otherwise checked against.
    supercell : sequence of int, optional
        Supercell diagonal (3 ints) or 3x3 matrix for a bare FORCE_CONSTANTS file; by default
        from phonopy's SPOSCAR beside it, else the cube root of the atom-count ratio.

    Returns
    -------
    ForceConstants
    """
    path = Path(path)
    if not path.is_file():
        msg = f"ForceConstantsFile {str(path)!r} does not exist"
        raise ForceConstantsError(msg)
    suffix = path.suffix.lower()
    if suffix == ".json":
        result = _from_euphonic(path, "json")
    elif suffix == ".castep_bin":
        result = _from_euphonic(path, "castep")
    elif suffix in {".yaml", ".yml"}:
        result = _from_phonopy_yaml(path)
    elif path.name.upper().startswith("FORCE_CONSTANTS") or suffix in {".hdf5", ".h5"}:
        result = _from_bare_fc(path, structure, supercell)
    else:
        msg = (f"ForceConstantsFile {path.name!r}: unknown kind; give phonopy .yaml, "
               "FORCE_CONSTANTS (+ StructureFile), .castep_bin or euphonic .json")
        raise ForceConstantsError(msg)
    if structure is not None:
        check_matches(result, load_structure(structure))
    return result


def _from_euphonic(path: Path, kind: str) -> ForceConstants:
    from euphonic import ForceConstants as EuphonicFC

    reader = EuphonicFC.from_json_file if kind == "json" else EuphonicFC.from_castep
    try:
        efc = reader(str(path))
    except Exception as exc:
        msg = f"ForceConstantsFile {path.name!r} could not be read by euphonic: {exc}"
        raise ForceConstantsError(msg) from exc
    return from_euphonic(efc, source=str(path))


def from_euphonic(efc, source: str = "") -> ForceConstants:
    """Convert an euphonic ForceConstants object (its FC are already short-ranged)."""
    c = efc.crystal
    crystal = Crystal(c.cell_vectors.to("angstrom").magnitude, c.atom_r, list(c.atom_type),
                      c.atom_mass.to("amu").magnitude)
    born = None if efc.born is None else efc.born.to("e").magnitude
    diel = None if efc.dielectric is None else np.asarray(efc.dielectric.magnitude)
    return ForceConstants(crystal, efc.force_constants.to("eV/angstrom**2").magnitude,
                          np.asarray(efc.cell_origins), np.asarray(efc.sc_matrix), born, diel,
                          source)


def _from_phonopy_yaml(path: Path) -> ForceConstants:
    import tempfile

    import phonopy

    kwargs = {}
    for name, key in (("FORCE_SETS", "force_sets_filename"),
                      ("FORCE_CONSTANTS", "force_constants_filename"),
                      ("BORN", "born_filename")):
        if (path.parent / name).is_file():
            kwargs[key] = str(path.parent / name)
    with tempfile.TemporaryDirectory() as tmp:
        readable = _modern_units(path, Path(tmp))
        try:
            phonon = _phonopy_load(phonopy, readable, kwargs)
        except Exception as exc:
            msg = f"ForceConstantsFile {path.name!r} could not be read by phonopy: {exc}"
            raise ForceConstantsError(msg) from exc
    if phonon.force_constants is None:
        msg = (f"ForceConstantsFile {path.name!r} holds no forces or force constants: "
               "put FORCE_SETS or FORCE_CONSTANTS beside it")
        raise ForceConstantsError(msg)
    return from_phonopy(phonon, source=str(path))


def _phonopy_load(phonopy, path: Path, kwargs: dict):
    """Run phonopy.load; where symfc fails (some non-VASP files) load unsymmetrised."""
    with warnings.catch_warnings():  # phonopy 4's note on its new primitive-cell default
        warnings.simplefilter("ignore", UserWarning)
        try:
            return phonopy.load(str(path), produce_fc=True, log_level=0, **kwargs)
        except IndexError:
            return phonopy.load(str(path), produce_fc=True, log_level=0, symmetrize_fc=False,
                                **kwargs)


def _modern_units(path: Path, tmp: Path) -> Path:
    """Phonopy 4 refuses YAML written by phonopy 2 with 'Angstrom' units: use a fixed copy."""
    text = path.read_text()
    fixed = re.sub(r'((?:length|force_constants)(?:_unit)?:\s*"?[^"\n]*?)Angstrom',
                   r"\1angstrom", text)
    if fixed == text:
        return path
    copy = tmp / path.name
    copy.write_text(fixed)
    return copy


def _from_bare_fc(path: Path, structure, supercell) -> ForceConstants:
    import phonopy

    if structure is None:
        msg = f"ForceConstantsFile {path.name!r} is a bare force-constant file: give StructureFile"
        raise ForceConstantsError(msg)
    crystal = load_structure(structure)
    fc = _read_fc_array(path)
    matrix = _supercell_matrix(path, crystal, supercell, fc.shape[1])
    phonon = phonopy.Phonopy(_phonopy_atoms(crystal), supercell_matrix=matrix,
                             primitive_matrix=None, log_level=0)
    phonon.force_constants = fc
    born = path.parent / "BORN"
    if born.is_file():
        from phonopy.file_IO import parse_BORN
        from phonopy.interface.calculator import get_default_physical_units

        units = get_default_physical_units("vasp")
        phonon.nac_params = parse_BORN(phonon.primitive, filename=str(born)) | {
            "factor": units["nac_factor"]}
    return from_phonopy(phonon, source=str(path))


def _read_fc_array(path: Path) -> np.ndarray:
    from phonopy.file_IO import parse_FORCE_CONSTANTS, read_force_constants_hdf5

    if path.suffix.lower() in {".hdf5", ".h5"}:
        return read_force_constants_hdf5(str(path))
    return parse_FORCE_CONSTANTS(str(path))


def _supercell_matrix(path: Path, crystal: Crystal, supercell, n_super: int) -> np.ndarray:
    if supercell is not None:
        arr = np.asarray(supercell, dtype=int)
        return np.diag(arr) if arr.shape == (3,) else arr.reshape(3, 3)
    sposcar = path.parent / "SPOSCAR"
    if sposcar.is_file():  # phonopy's own supercell beside the force constants
        cell = load_structure(sposcar).cell
        return np.rint(np.linalg.solve(crystal.cell.T, cell.T).T).astype(int)
    ratio = n_super / crystal.n_atoms
    size = round(ratio ** (1 / 3))
    if size**3 != ratio:
        msg = (f"ForceConstantsFile {path.name!r} has {n_super} supercell atoms for a "
               f"{crystal.n_atoms}-atom structure: give the supercell matrix explicitly")
        raise ForceConstantsError(msg)
    return np.diag([size] * 3)


def _phonopy_atoms(crystal: Crystal):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=crystal.symbols, cell=crystal.cell,
                        scaled_positions=crystal.positions, masses=crystal.masses)


def from_phonopy(phonon, source: str = "") -> ForceConstants:
    """Convert a phonopy Phonopy object (force constants produced) to the internal layout."""
    from phonopy.interface.calculator import get_calculator_physical_units

    prim, sup = phonon.primitive, phonon.supercell
    units = get_calculator_physical_units(phonon.calculator or "vasp")
    to_angstrom = units.distance_to_A
    crystal = Crystal(prim.cell * to_angstrom, prim.scaled_positions, list(prim.symbols),
                      prim.masses)
    sc_matrix = np.rint(np.linalg.solve(prim.cell.T, sup.cell.T).T).astype(int)
    # calculator units (force unit per length unit) -> eV/Angstrom^2
    fc_full = np.asarray(phonon.force_constants) * units.force_to_eVperA / to_angstrom
    p2s = np.asarray(prim.p2s_map)
    s2p = np.asarray(prim.s2p_map)
    atom_of = {int(s): i for i, s in enumerate(p2s)}
    origins = _lattice_offsets(sup.positions, prim, s2p, atom_of)
    n_atoms = crystal.n_atoms
    keys = {}
    fc = np.zeros((round(np.prod(np.abs(np.linalg.det(sc_matrix)))), 3 * n_atoms, 3 * n_atoms))
    cells = np.zeros((len(fc), 3), dtype=int)
    for i, s_i in enumerate(p2s):
        row = i if fc_full.shape[0] == n_atoms else s_i
        for s_j in range(len(s2p)):
            rel = _reduce(origins[s_j] - origins[s_i], sc_matrix)
            n = keys.setdefault(tuple(rel), len(keys))
            cells[n] = rel
            j = atom_of[int(s2p[s_j])]
            fc[n, 3 * i:3 * i + 3, 3 * j:3 * j + 3] = fc_full[row, s_j]
    result = ForceConstants(crystal, fc, cells, sc_matrix, source=source)
    nac = phonon.nac_params
    if nac is not None and nac.get("born") is not None:
        result.born = np.asarray(nac["born"], dtype=float)
        result.dielectric = np.asarray(nac["dielectric"], dtype=float)
        from inslib.phonons.dipole import subtract_supercell_dipole

        subtract_supercell_dipole(result)
    return result


def _lattice_offsets(sup_cart, prim, s2p, atom_of) -> np.ndarray:
    """Integer primitive-lattice vector of the cell each supercell atom sits in, (n_super, 3)."""
    frac = np.linalg.solve(prim.cell.T, np.asarray(sup_cart).T).T
    base = prim.scaled_positions[[atom_of[int(p)] for p in s2p]]
    return np.rint(frac - base).astype(int)


def _reduce(vector: np.ndarray, sc_matrix: np.ndarray) -> np.ndarray:
    """Reduce a lattice vector into the supercell (primitive units, ints)."""
    frac = vector @ np.linalg.inv(sc_matrix)
    frac -= np.floor(frac + 1e-8)
    return np.rint(frac @ sc_matrix).astype(int)


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
                rel = _reduce(rel, sc_matrix)
                index = keys.setdefault(tuple(rel), len(keys))
                cells[index] = rel
                j = site_of[j_conv]
                fc[index, 3 * i:3 * i + 3, 3 * j:3 * j + 3] = \
                    fcs.fc[n, 3 * rep:3 * rep + 3, 3 * j_conv:3 * j_conv + 3]
    born = None if fcs.born is None else fcs.born[reps]
    return ForceConstants(prim, fc, cells, sc_matrix, born, fcs.dielectric,
                          fcs.source + " (primitive cell)")
