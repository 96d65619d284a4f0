"""phonopy files: YAML (FORCE_SETS, FORCE_CONSTANTS, BORN beside), FORCE_SETS, FORCE_CONSTANTS.

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


def read_phonopy_yaml(path: Path, force_sets: Path | None = None) -> dict:
    """Fields of ForceConstants from a phonopy YAML (FORCE_SETS, FORCE_CONSTANTS, BORN beside).

    Parameters
    ----------
    path : Path
        phonopy_params.yaml, phonopy.yaml or phonopy_disp.yaml.
    force_sets : Path, optional
        The forces to use (a FORCE_SETS file given as ForceConstantsFile); by default
        FORCE_SETS or FORCE_CONSTANTS beside ``path``.
    """
    import tempfile

    import phonopy

    check_sections(check_plain_yaml(path), path)
    names = (("FORCE_SETS", "force_sets_filename"),
             ("FORCE_CONSTANTS", "force_constants_filename"))
    kwargs = {key: str(path.parent / name) for name, key in names
              if force_sets is None and (path.parent / name).is_file()}
    if force_sets is not None:
        kwargs["force_sets_filename"] = str(force_sets)
    if (path.parent / "BORN").is_file():
        kwargs["born_filename"] = str(path.parent / "BORN")
    with tempfile.TemporaryDirectory() as tmp:
        kwargs["phonopy_yaml"] = str(_modern_units(path, Path(tmp)))
        try:
            phonon = _phonopy_load(phonopy, kwargs)
        except Exception as exc:
            msg = (f"ForceConstantsFile {path.name!r} could not be read by phonopy ({exc}): "
                   f"{REWRITE}")
            raise ForceConstantsError(msg) from exc
    if phonon.force_constants is None:
        msg = (f"ForceConstantsFile {path.name!r} holds no forces or force constants: "
               "put FORCE_SETS or FORCE_CONSTANTS beside it")
        raise ForceConstantsError(msg)
    return from_phonopy(phonon, source=str(force_sets or path))


def check_plain_yaml(path: Path):
    """Refuse a YAML file that only an unsafe loader would read, before phonopy opens it.

    phonopy's load_yaml uses PyYAML's full loader, under which tags such as
    ``!!python/object/apply:os.system`` run code. The file is parsed here with the safe loader
    (the C one where available), which constructs plain data only.

    Returns
    -------
    object
        The parsed document (plain data).

    Raises
    ------
    ForceConstantsError
        Naming the file and the first YAML problem (a code tag or malformed YAML).
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, "rb") as handle:
            return yaml.load(handle, Loader=loader)  # a safe loader, chosen above
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        msg = (f"ForceConstantsFile {path.name!r} is not plain YAML ({problem}): it holds tags "
               "that could run code (such as !!python/...) or is malformed, and is not read. "
               "Give a phonopy YAML file as phonopy writes it (phonopy_params.yaml, "
               "phonopy.yaml, phonopy_disp.yaml)")
        raise ForceConstantsError(msg) from exc


REWRITE = ("the file may be truncated or not written by phonopy: write it again with phonopy "
           "(phonopy_params.yaml, phonopy.yaml, phonopy_disp.yaml)")
CELL_SECTIONS = ("primitive_cell", "unit_cell", "supercell")


def check_sections(data, path: Path) -> None:
    """Refuse a phonopy YAML whose cells or force constants are missing or cut short.

    Checks what phonopy would otherwise trip over with messages such as "'NoneType' object has
    no attribute 'values'": a mapping at the top, a unit (or primitive) cell, every cell's
    lattice (3 x 3 numbers) and atoms (symbol and 3 coordinates each, all with the same
    fields), atom counts consistent with primitive_matrix and supercell_matrix, and as many
    force-constant blocks as their shape says.

    Raises
    ------
    ForceConstantsError
        Naming the file, the section and the fix.
    """
    problem = _section_problem(data)
    if problem:
        msg = f"ForceConstantsFile {path.name!r}: {problem}; {REWRITE}"
        raise ForceConstantsError(msg)


def _section_problem(data) -> str:
    if not isinstance(data, dict):
        return "empty, or not a phonopy YAML (no 'key: value' sections at the top)"
    if not any(name in data for name in CELL_SECTIONS[:2]):
        return "no 'unit_cell' (or 'primitive_cell') section"
    counts = {}
    for name in (n for n in CELL_SECTIONS if n in data):
        problem = _cell_problem(data[name])
        if problem:
            return f"section {name!r} {problem}"
        counts[name] = len(data[name]["points"])
    return _count_problem(data, counts) or _fc_problem(data.get("force_constants"))


def _cell_problem(cell) -> str:
    if not isinstance(cell, dict) or not _numbers(cell.get("lattice"), (3, 3)):
        return "has no lattice of 3 x 3 numbers"
    points = cell.get("points")
    if not isinstance(points, list) or not points:
        return "has no atoms ('points')"
    for index, point in enumerate(points):
        if (not isinstance(point, dict) or "symbol" not in point
                or not _numbers(point.get("coordinates"), (3,))
                or set(point) != set(points[0])):
            return f"has an incomplete atom {index + 1} (symbol, coordinates...)"
    return ""


def _count_problem(data, counts: dict) -> str:
    """Atom counts of primitive_cell and supercell against unit_cell and their matrices."""
    unit = counts.get("unit_cell")
    for name, key in (("primitive_cell", "primitive_matrix"), ("supercell", "supercell_matrix")):
        if unit is None or name not in counts or not _numbers(data.get(key), (3, 3)):
            continue
        expected = unit * abs(np.linalg.det(np.asarray(data[key], dtype=float)))
        if not np.isclose(expected, counts[name]):
            return (f"the atom counts disagree: {name} has {counts[name]}, unit_cell {unit}, "
                    f"which {key} makes {expected:g} (a section is cut short)")
    return ""


def _fc_problem(fc) -> str:
    if fc is None:
        return ""
    shape = fc.get("shape") if isinstance(fc, dict) else None
    elements = fc.get("elements") if isinstance(fc, dict) else None
    if not (_numbers(shape, (2,)) and isinstance(elements, list)):
        return "section 'force_constants' has no shape or elements"
    if len(elements) != int(np.prod(shape)) or not _numbers(elements[-1], (3, 3)):
        return (f"section 'force_constants' has {len(elements)} blocks where its shape "
                f"{shape} needs {int(np.prod(shape))}")
    return ""


def _numbers(value, shape: tuple) -> bool:
    """Whether ``value`` is a nested list of finite numbers of the given shape."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return array.shape == shape and bool(np.all(np.isfinite(array)))


def yaml_crystal(path: Path) -> Crystal:
    """Return the unit (else primitive) cell of a phonopy YAML, in the file's length unit.

    Reads the cell sections only (checked as :func:`check_sections` does), not the force
    constants: for checks before a run.
    """
    data = check_plain_yaml(path)
    check_sections(data, path)
    cell = data.get("unit_cell") or data["primitive_cell"]
    points = cell["points"]
    masses = [p["mass"] for p in points] if all("mass" in p for p in points) else None
    return Crystal(np.asarray(cell["lattice"], dtype=float),
                   [p["coordinates"] for p in points], [p["symbol"] for p in points], masses)


def _phonopy_load(phonopy, kwargs: dict):
    """Run phonopy.load; where symfc fails (some non-VASP files) load unsymmetrised."""
    with warnings.catch_warnings():  # phonopy 4's note on its new primitive-cell default
        warnings.simplefilter("ignore", UserWarning)
        try:
            return phonopy.load(produce_fc=True, log_level=0, **kwargs)
        except IndexError:
            return phonopy.load(produce_fc=True, log_level=0, symmetrize_fc=False, **kwargs)


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


def check_bare_fc(path: Path, structure, supercell) -> None:
    """Check a bare force-constant file against its structure and supercell, before a run.

    Reads the text layout (or the HDF5 shape) and the structure, not the force constants.

    Raises
    ------
    ForceConstantsError
        For a truncated file, or a supercell that does not give its atom count.
    """
    hdf5 = path.suffix.lower() in {".hdf5", ".h5"}
    problem = "" if hdf5 else _text_fc_problem(path)
    if problem:
        raise ForceConstantsError(_incomplete(path, problem))
    if hdf5:
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                n_super = handle["force_constants"].shape[1]
        except (OSError, KeyError, IndexError) as exc:
            raise ForceConstantsError(_incomplete(path, str(exc))) from None
    else:  # header "n_atoms n_supercell_atoms" (or "n_supercell_atoms")
        with path.open(errors="replace") as handle:  # the layout was checked: first line
            n_super = int(handle.readline().split()[-1])
    _supercell_matrix(path, load_structure(structure), supercell, n_super)


#: Unit-cell files looked for beside a FORCE_SETS file without phonopy_disp.yaml, in order.
UNIT_CELL_NAMES = ("POSCAR-unitcell", "POSCAR")


def force_sets_companions(path: Path, structure) -> tuple[Path | None, Path | None]:
    """Return the file that gives a FORCE_SETS file its structure, before a run.

    phonopy_disp.yaml beside ``path`` is preferred (it holds the displaced structure and the
    supercell); else ``structure`` (StructureFile), else the first of :data:`UNIT_CELL_NAMES`
    beside ``path``.

    Returns
    -------
    tuple of (Path or None, Path or None)
        (phonopy_disp.yaml, None) or (None, the unit-cell structure file).

    Raises
    ------
    ForceConstantsError
        When none is found, naming ForceConstantsFile and StructureFile and what was looked for.
    """
    disp = path.parent / "phonopy_disp.yaml"
    if disp.is_file():
        return disp, None
    if structure:
        return None, Path(structure)
    found = next((path.parent / n for n in UNIT_CELL_NAMES if (path.parent / n).is_file()), None)
    if found is None:
        msg = (f"ForceConstantsFile {path.name!r} (phonopy forces) needs the structure phonopy "
               f"displaced: looked for phonopy_disp.yaml, {', '.join(UNIT_CELL_NAMES)} in "
               f"{str(path.parent)!r} and found none; put phonopy_disp.yaml beside it, or give "
               "StructureFile (the unit cell) and SupercellMatrix (phonopy's DIM)")
        raise ForceConstantsError(msg)
    return None, found


def check_force_sets(path: Path, structure, supercell) -> tuple:
    """Check a FORCE_SETS file and its companions, before a run; return what reading uses.

    Reads the FORCE_SETS header, the cell sections of phonopy_disp.yaml (checked plain YAML)
    or the unit cell, not the forces.

    Returns
    -------
    tuple of (Path or None, Crystal or None, numpy.ndarray or None)
        (phonopy_disp.yaml, None, None), or (None, unit cell, supercell matrix).

    Raises
    ------
    ForceConstantsError
        Naming ForceConstantsFile, or starting "SupercellMatrix" for a supercell that does not
        fit (or is given beside phonopy_disp.yaml, which has its own).
    StructureError
        For a unit-cell file that cannot be read.
    """
    n_super = _force_sets_atoms(path)
    disp, unit_cell = force_sets_companions(path, structure)
    if disp is None:
        crystal = load_structure(unit_cell)
        return None, crystal, _supercell_matrix(path, crystal, supercell, n_super)
    if supercell is not None:
        msg = (f"SupercellMatrix={supercell!r}: phonopy_disp.yaml beside ForceConstantsFile "
               f"{path.name!r} gives the supercell; leave SupercellMatrix empty")
        raise ForceConstantsError(msg)
    data = check_plain_yaml(disp)
    check_sections(data, disp)
    n_disp = len(data["supercell"]["points"]) if "supercell" in data else n_super
    if n_super is not None and n_disp != n_super:
        msg = (f"ForceConstantsFile {path.name!r} has forces on {n_super} atoms but the "
               f"supercell of phonopy_disp.yaml beside it has {n_disp}: they are not of the "
               "same calculation")
        raise ForceConstantsError(msg)
    return disp, None, None


def read_force_sets(path: Path, structure, supercell) -> dict:
    """Fields of ForceConstants from a FORCE_SETS file (see :func:`check_force_sets`).

    With phonopy_disp.yaml beside it, as :func:`read_phonopy_yaml` reads that file; else on the
    unit cell as primitive cell (as a bare FORCE_CONSTANTS file), phonopy making the force
    constants from the forces; BORN beside it is applied.
    """
    import phonopy

    disp, crystal, matrix = check_force_sets(path, structure, supercell)
    if disp is not None:
        return read_phonopy_yaml(disp, force_sets=path)
    kwargs = {"unitcell": phonopy_atoms(crystal), "supercell_matrix": matrix,
              "primitive_matrix": np.eye(3), "force_sets_filename": str(path)}
    if (path.parent / "BORN").is_file():
        kwargs["born_filename"] = str(path.parent / "BORN")
    try:
        phonon = _phonopy_load(phonopy, kwargs)
    except Exception as exc:
        msg = (f"ForceConstantsFile {path.name!r} could not be read by phonopy with the unit "
               f"cell of {crystal.n_atoms} atoms and SupercellMatrix {matrix.tolist()} ({exc}): "
               "check that they are the ones the displacements were made with")
        raise ForceConstantsError(msg) from exc
    return from_phonopy(phonon, source=str(path))


def _force_sets_atoms(path: Path) -> int | None:
    """Supercell atom count of a FORCE_SETS header; None for phonopy's header-less type 2."""
    with open(path, errors="replace") as handle:
        first = next((line.split() for line in handle if line.strip()), None)
    if first is None:
        msg = f"ForceConstantsFile {path.name!r} is empty: write it again with phonopy -f"
        raise ForceConstantsError(msg)
    return int(first[0]) if len(first) == 1 and first[0].isdigit() else None


def _incomplete(path: Path, problem: str) -> str:
    return (f"ForceConstantsFile {path.name!r} is not a complete phonopy force-constant file "
            f"({problem}): it may be truncated; write it again with phonopy (FORCE_CONSTANTS or "
            "force_constants.hdf5)")


def _read_fc_array(path: Path) -> np.ndarray:
    """Read the (n, n_super, 3, 3) array of a FORCE_CONSTANTS or force_constants.hdf5 file."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS, read_force_constants_hdf5

    hdf5 = path.suffix.lower() in {".hdf5", ".h5"}
    problem = "" if hdf5 else _text_fc_problem(path)
    try:
        fc = None if problem else np.asarray(
            read_force_constants_hdf5(str(path)) if hdf5 else parse_FORCE_CONSTANTS(str(path)),
            dtype=float)
    except (ValueError, IndexError, KeyError, OSError, RuntimeError) as exc:
        fc, problem = None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if fc is not None and (fc.ndim != 4 or fc.shape[2:] != (3, 3)):
        fc, problem = None, f"an array of shape {fc.shape}, not (n, n_supercell, 3, 3)"
    if fc is None:
        raise ForceConstantsError(_incomplete(path, problem))
    return fc


def _text_fc_problem(path: Path) -> str:
    """Return what is wrong with a FORCE_CONSTANTS text file's layout ("" when nothing is)."""
    lines = [line.split() for line in path.read_text(errors="replace").splitlines()
             if line.strip()]
    header = lines[0] if lines else []
    if not header or not all(v.isdigit() for v in header[:2]):
        return "no header line 'n_atoms n_supercell_atoms'"
    n_rows = int(header[0]) * int(header[-1])
    if len(lines) != 1 + 4 * n_rows:
        return (f"{len(lines) - 1} non-empty lines after the header {' '.join(header)!r}, which "
                f"announces {4 * n_rows} (a pair line and 3 rows per block)")
    if any(len(row) != 3 for k, row in enumerate(lines[1:]) if k % 4):
        return "a block row without 3 numbers"
    return ""


def parse_supercell_matrix(text: str):
    """Parse the SupercellMatrix property: None for "", else an integer (3, 3) array.

    Parameters
    ----------
    text : str
        "" (from SPOSCAR or the atom counts), "n1,n2,n3" (diagonal) or nine integers, row
        by row, of phonopy's supercell_matrix M (supercell rows = M^T @ unit-cell rows).

    Raises
    ------
    ForceConstantsError
        Naming the property, the value and the accepted forms.
    """
    if not str(text).strip():
        return None
    try:
        values = np.array([float(v) for v in str(text).replace(",", " ").split()])
    except ValueError:
        values = np.array([np.nan])
    matrix = (np.diag(values) if values.size == 3 else values.reshape(3, 3)
              if values.size == 9 else None)
    if (matrix is None or not np.all(np.isfinite(matrix)) or np.any(matrix != np.round(matrix))
            or round(abs(np.linalg.det(matrix))) == 0):
        msg = (f"SupercellMatrix={text!r} is not a supercell matrix: give 3 integers (the "
               "diagonal, e.g. '4,4,4') or 9 integers (phonopy's DIM, row by row), with a "
               "non-zero determinant")
        raise ForceConstantsError(msg)
    return np.rint(matrix).astype(int)


def _supercell_matrix(path: Path, crystal: Crystal, supercell, n_super: int | None
                      ) -> np.ndarray:
    """Phonopy's supercell matrix: SupercellMatrix, else SPOSCAR beside ``path``, else a cube.

    ``n_super`` (supercell atoms of the file) is checked against; None when not known.
    """
    if supercell is not None:
        matrix = parse_supercell_matrix(supercell if isinstance(supercell, str)
                                        else " ".join(str(v) for v in np.ravel(supercell)))
        if (n_super is not None
                and round(abs(np.linalg.det(matrix))) * crystal.n_atoms != n_super):
            msg = (f"SupercellMatrix {matrix.tolist()} makes {round(abs(np.linalg.det(matrix)))}"
                   f" cells of {crystal.n_atoms} atoms, but ForceConstantsFile {path.name!r} "
                   f"has {n_super} supercell atoms: give the matrix phonopy used (its DIM)")
            raise ForceConstantsError(msg)
        return matrix
    sposcar = path.parent / "SPOSCAR"
    if sposcar.is_file():  # phonopy's own supercell beside the force constants
        cell = load_structure(sposcar).cell
        # phonopy's matrix M: supercell rows = M^T @ unit-cell rows
        return np.rint(np.linalg.solve(crystal.cell.T, cell.T)).astype(int)
    if n_super is None:
        msg = (f"ForceConstantsFile {path.name!r} does not give its supercell atom count: "
               "give SupercellMatrix (phonopy's DIM: 3 integers such as '2,2,3', or 9), or put "
               "phonopy's SPOSCAR beside the file")
        raise ForceConstantsError(msg)
    ratio = n_super / crystal.n_atoms
    size = round(ratio ** (1 / 3))
    if size**3 != ratio:
        msg = (f"ForceConstantsFile {path.name!r} has {n_super} supercell atoms for a "
               f"{crystal.n_atoms}-atom structure, not a cube n x n x n: give SupercellMatrix "
               "(phonopy's DIM: 3 integers such as '2,2,3', or 9), or put phonopy's SPOSCAR "
               "beside the file")
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
