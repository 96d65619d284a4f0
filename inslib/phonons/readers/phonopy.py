"""phonopy files: YAML (with FORCE_SETS / FORCE_CONSTANTS / BORN beside it), bare FORCE_CONSTANTS.

Returns the fields of :class:`inslib.phonons.force_constants.ForceConstants` in euphonic's
(n_cells, 3N, 3N) layout, eV/Angstrom^2, on phonopy's primitive cell. With Born charges the
force constants are phonopy's total ones (``long_range`` True): the caller subtracts the
supercell's dipole part.
"""

import re
import warnings
from pathlib import Path

import numpy as np

from inslib.phonons.errors import ForceConstantsError
from inslib.structure import Crystal, load_structure


def read_phonopy_yaml(path: Path) -> dict:
    """Fields of ForceConstants from a phonopy YAML (FORCE_SETS, FORCE_CONSTANTS, BORN beside)."""
    import tempfile

    import phonopy

    check_plain_yaml(path)
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


def check_plain_yaml(path: Path) -> None:
    """Refuse a YAML file that only an unsafe loader would read, before phonopy opens it.

    phonopy's load_yaml uses PyYAML's full loader, under which tags such as
    ``!!python/object/apply:os.system`` run code. The file is parsed here with the safe loader
    (the C one where available), which constructs plain data only.

    Raises
    ------
    ForceConstantsError
        Naming the file and the first YAML problem (a code tag or malformed YAML).
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, "rb") as handle:
            yaml.load(handle, Loader=loader)  # a safe loader, chosen above
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        msg = (f"ForceConstantsFile {path.name!r} is not plain YAML ({problem}): it holds tags "
               "that could run code (such as !!python/...) or is malformed, and is not read. "
               "Give a phonopy YAML file as phonopy writes it (phonopy_params.yaml, "
               "phonopy.yaml, phonopy_disp.yaml)")
        raise ForceConstantsError(msg) from exc


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


def read_bare_fc(path: Path, structure, supercell) -> dict:
    """Fields of ForceConstants from FORCE_CONSTANTS (text or hdf5), a structure and BORN."""
    import phonopy

    if structure is None:
        msg = f"ForceConstantsFile {path.name!r} is a bare force-constant file: give StructureFile"
        raise ForceConstantsError(msg)
    crystal = load_structure(structure)
    fc = _read_fc_array(path)
    matrix = _supercell_matrix(path, crystal, supercell, fc.shape[1])
    # the symmetry search (0.45 s for Ge) only serves phonopy's own symmetrisations; the
    # force constants are taken as they are (BORN below is still symmetrised by phonopy)
    phonon = phonopy.Phonopy(phonopy_atoms(crystal), supercell_matrix=matrix,
                             primitive_matrix=None, is_symmetry=False, log_level=0)
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


def phonopy_atoms(crystal: Crystal):
    """Return phonopy's PhonopyAtoms of a crystal (cell, fractional positions, masses)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=crystal.symbols, cell=crystal.cell,
                        scaled_positions=crystal.positions, masses=crystal.masses)


def from_phonopy(phonon, source: str = "") -> dict:
    """Fields of ForceConstants from a phonopy Phonopy object (force constants produced).

    With Born charges the force constants are phonopy's total ones: ``long_range`` is True
    and the supercell dipole part is still to be subtracted.
    """
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
            rel = reduce_into_supercell(origins[s_j] - origins[s_i], sc_matrix)
            n = keys.setdefault(tuple(rel), len(keys))
            cells[n] = rel
            j = atom_of[int(s2p[s_j])]
            fc[n, 3 * i:3 * i + 3, 3 * j:3 * j + 3] = fc_full[row, s_j]
    fields = {"crystal": crystal, "fc": fc, "cell_origins": cells, "sc_matrix": sc_matrix,
              "source": source}
    nac = phonon.nac_params
    if nac is not None and nac.get("born") is not None:
        fields |= {"born": np.asarray(nac["born"], dtype=float),
                   "dielectric": np.asarray(nac["dielectric"], dtype=float), "long_range": True}
    return fields


def _lattice_offsets(sup_cart, prim, s2p, atom_of) -> np.ndarray:
    """Integer primitive-lattice vector of the cell each supercell atom sits in, (n_super, 3)."""
    frac = np.linalg.solve(prim.cell.T, np.asarray(sup_cart).T).T
    base = prim.scaled_positions[[atom_of[int(p)] for p in s2p]]
    return np.rint(frac - base).astype(int)


def reduce_into_supercell(vector: np.ndarray, sc_matrix: np.ndarray) -> np.ndarray:
    """Reduce a lattice vector into the supercell (primitive units, ints)."""
    frac = vector @ np.linalg.inv(sc_matrix)
    frac -= np.floor(frac + 1e-8)
    return np.rint(frac @ sc_matrix).astype(int)
