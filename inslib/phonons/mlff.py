"""Force constants from offline universal machine-learned force fields (finite displacements).

A force field whose weights ship inside its PyPI wheel (sevenn 0.13: 7net-0, 7net-l3i5,
7net-mf-0; MIT) relaxes the structure (atom positions, optionally the cell, with its space
group kept) and gives the forces of phonopy's displaced supercells (0.01 Angstrom). symfc
(shipped with phonopy) fits force constants that obey the space-group symmetry, index
permutation and the acoustic sum rule. Results are cached as phonopy.yaml files named by a
SHA-256 of the structure, the force field (name and checkpoint hash) and the settings.

Only the checkpoints listed in :data:`FORCE_FIELDS` are loaded, from sevenn's own package
folder, after their SHA-256 is checked: sevenn reads checkpoints with pickle, so a file a user
names is never opened. sevenn (and torch) are imported lazily: the rest of inslib works without
them. Units: Angstrom, eV, eV/Angstrom^2.
"""

import functools
import hashlib
import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inslib.phonons.force_constants import ForceConstants
from inslib.phonons.readers.phonopy import from_phonopy, phonopy_atoms
from inslib.structure import Crystal

DISPLACEMENT = 0.01  # Angstrom, phonopy's default finite displacement
DEFAULT_MIN_LENGTH = 10.0  # Angstrom, smallest face-to-face width of an automatic supercell
MAX_SUPERCELL_ATOMS = 400  # finite-displacement budget: ~1 CPU-s per force call at 100 atoms
RELAX_FMAX = 1e-3  # eV/Angstrom, largest residual force after relaxing
RELAX_STEPS = 500  # optimiser steps at most
RELAX_MODES = ("None", "Positions", "PositionsAndCell")
CACHE_VERSION = 1  # bump when the computation changes: old cache files are then not used
INSTALL_HINT = "pip install 'inslib[predict]' (sevenn==0.13.0)"


class ForceFieldError(ValueError):
    """A force-field request that cannot run; the message names the property and the fix."""


@dataclass(frozen=True)
class ForceField:
    """A universal force field shipped inside the sevenn wheel.

    Attributes
    ----------
    name : str
        The ForceField property value.
    checkpoint : str
        Checkpoint path inside the sevenn package folder.
    sha256 : str
        Hash of the checkpoint as shipped in sevenn 0.13.0.
    modal : str or None
        Head of a multi-fidelity model (7net-mf-0: the PBE one).
    """

    name: str
    checkpoint: str
    sha256: str
    modal: str | None = None


FORCE_FIELDS = {f.name: f for f in (
    ForceField("7net-0", "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
               "7052cb42b7b3be42b40b97fa0d21077a48c54b5548948fc4dcf346629f813c36"),
    ForceField("7net-l3i5", "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth",
               "a7ff190d41efe5b8317a03d20a468e4036a1a3e64e0b14fdbab64ac3f4bfc09d"),
    ForceField("7net-mf-0", "pretrained_potentials/SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
               "81791329b37d445f46b531578c182c41792d98c7814222c9e5dde276402225fd", "PBE"),
)}
DEFAULT_FORCE_FIELD = "7net-0"


@dataclass(frozen=True)
class MLFFSettings:
    """How force constants are computed (every field but ``threads`` is in the cache key).

    Attributes
    ----------
    relax : str
        "None", "Positions" or "PositionsAndCell" (space group kept).
    supercell : tuple of int or None
        Nine integers (rows of the supercell matrix, unit-cell units); None = the smallest
        diagonal supercell whose face-to-face widths are all >= ``min_length``.
    min_length : float
        Angstrom.
    displacement : float
        Finite displacement, Angstrom.
    threads : int
        torch threads while the force field runs.
    """

    relax: str = "Positions"
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    displacement: float = DISPLACEMENT
    threads: int = 1


def force_field(name: str) -> ForceField:
    """Return the force field of a ForceField name (ForceFieldError naming the valid ones)."""
    if name not in FORCE_FIELDS:
        msg = (f"ForceField: unknown force field {name!r}; valid: {', '.join(FORCE_FIELDS)} "
               "(comma-separated for an ensemble)")
        raise ForceFieldError(msg)
    return FORCE_FIELDS[name]


def parse_force_fields(text: str) -> list:
    """Names of a ForceField property value, "7net-0" or "7net-0,7net-l3i5" (an ensemble)."""
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    if not names:
        msg = f"ForceField is empty: give one of {', '.join(FORCE_FIELDS)}, or several (comma)"
        raise ForceFieldError(msg)
    if len(set(names)) < len(names):
        msg = f"ForceField={text!r} names a force field twice: an ensemble needs distinct members"
        raise ForceFieldError(msg)
    for name in names:
        force_field(name)
    return names


def supercell_matrix(crystal: Crystal, settings: MLFFSettings) -> np.ndarray:
    """Supercell matrix (3, 3) of ints: the given one, or diagonal n_i = ceil(L / width_i).

    width_i is the distance between the faces of the cell spanned by the other two vectors
    (Angstrom), L = ``settings.min_length``.
    """
    if settings.supercell is not None:
        return np.reshape(settings.supercell, (3, 3)).astype(int)
    cell = crystal.cell
    widths = [crystal.volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
              for i in range(3)]
    return np.diag([max(1, math.ceil(settings.min_length / w - 1e-9)) for w in widths])


def budget_problem(crystal: Crystal, settings: MLFFSettings) -> str:
    """Why the supercell is too large for the finite-displacement budget ("" if it is not)."""
    matrix = supercell_matrix(crystal, settings)
    n_atoms = crystal.n_atoms * round(abs(np.linalg.det(matrix)))
    if n_atoms <= MAX_SUPERCELL_ATOMS:
        return ""
    return (f"the supercell {matrix.tolist()} has {n_atoms} atoms: at most "
            f"{MAX_SUPERCELL_ATOMS} (finite displacements in larger cells take hours on a few "
            "cores); give a smaller SupercellMatrix or MinSupercellLength, or a primitive cell")


def uncovered_elements(crystal: Crystal, name: str) -> list:
    """Elements of a crystal the force field was not trained on (loads the force field)."""
    from ase.data import atomic_numbers

    known = set(calculator(name).type_map)
    return sorted({s for s in crystal.symbols if atomic_numbers[s] not in known})


@functools.cache
def checkpoint_path(name: str) -> Path:
    """Path of a force field's checkpoint inside sevenn, its SHA-256 checked (once a process).

    Raises
    ------
    ForceFieldError
        Without sevenn (naming the extra to install), or when the file is missing or differs
        from the one shipped in sevenn 0.13.0.
    """
    spec = force_field(name)
    try:
        import sevenn
    except ImportError:
        msg = f"ForceField={name!r} needs the sevenn package: {INSTALL_HINT}"
        raise ForceFieldError(msg) from None
    path = Path(sevenn.__file__).parent / spec.checkpoint
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != spec.sha256:
        msg = (f"ForceField={name!r}: the checkpoint {path} is {digest[:12]}..., not the one "
               f"sevenn 0.13.0 ships ({spec.sha256[:12]}...): reinstall with {INSTALL_HINT}")
        raise ForceFieldError(msg)
    return path


@functools.cache
def calculator(name: str):
    """Return sevenn's ASE calculator of a force field, on the CPU (loaded once per process)."""
    path = checkpoint_path(name)
    with warnings.catch_warnings():  # torch.jit deprecation, "no tensor-product accelerator"
        warnings.simplefilter("ignore")
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(str(path), device="cpu", modal=force_field(name).modal)


@contextmanager
def torch_threads(threads: int):
    """Run torch on ``threads`` threads inside the block, restoring the count after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_atoms(crystal: Crystal):
    """Return an ASE Atoms of a crystal (periodic, the crystal's masses)."""
    from ase import Atoms

    return Atoms(crystal.symbols, cell=crystal.cell, scaled_positions=crystal.positions,
                 masses=crystal.masses, pbc=True)


def relax(crystal: Crystal, calc, mode: str) -> tuple[Crystal, bool]:
    """Relax positions (and the cell) with BFGS, the space group kept (ASE FixSymmetry).

    Returns
    -------
    Crystal
        The relaxed crystal (same masses).
    bool
        Whether the largest force (and stress) fell below RELAX_FMAX within RELAX_STEPS.
    """
    if mode == "None":
        return crystal, True
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = to_atoms(crystal)
    atoms.calc = calc
    atoms.set_constraint(FixSymmetry(atoms))
    target = FrechetCellFilter(atoms) if mode == "PositionsAndCell" else atoms
    converged = BFGS(target, logfile=None).run(fmax=RELAX_FMAX, steps=RELAX_STEPS)
    relaxed = Crystal(np.array(atoms.cell), atoms.get_scaled_positions(wrap=True),
                      crystal.symbols, crystal.masses)
    return relaxed, bool(converged)


def displaced_phonopy(crystal: Crystal, settings: MLFFSettings):
    """Return a phonopy Phonopy of a crystal, its symmetry-reduced displacements generated."""
    import phonopy

    with warnings.catch_warnings():  # phonopy 4's note on its primitive-cell default
        warnings.simplefilter("ignore", UserWarning)
        phonon = phonopy.Phonopy(phonopy_atoms(crystal),
                                 supercell_matrix=supercell_matrix(crystal, settings),
                                 primitive_matrix="auto", log_level=0)
    phonon.generate_displacements(distance=settings.displacement)
    return phonon


def supercell_forces(phonon, calc, progress=None) -> np.ndarray:
    """Return the forces (eV/Angstrom) on each displaced supercell, (n_disp, n_super, 3)."""
    from ase import Atoms

    cells = phonon.supercells_with_displacements
    forces = []
    for k, cell in enumerate(cells):
        atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                      pbc=True)
        atoms.calc = calc
        forces.append(atoms.get_forces())
        if progress is not None:
            progress((k + 1) / len(cells), f"displacement {k + 1} of {len(cells)}")
    return np.array(forces)


def compute_force_constants(crystal: Crystal, name: str, settings: MLFFSettings,
                            progress=None) -> ForceConstants:
    """Relax, displace, compute forces and fit force constants with symfc (not cached).

    Parameters
    ----------
    crystal : Crystal
        The structure as read (any cell; phonopy finds the primitive one).
    name : str
        A key of :data:`FORCE_FIELDS`.
    settings : MLFFSettings
    progress : callable, optional
        progress(fraction, message) after the relaxation and each displacement.

    Returns
    -------
    ForceConstants
        On phonopy's primitive cell of the relaxed structure, eV/Angstrom^2; ``source`` names
        the force field, the relaxation and the supercell.
    """
    report = progress or (lambda _fraction, _message: None)
    calc = calculator(name)
    with torch_threads(settings.threads):
        relaxed, converged = relax(crystal, calc, settings.relax)
        report(0.05, f"{name}: relaxed ({settings.relax})")
        phonon = displaced_phonopy(relaxed, settings)
        phonon.forces = supercell_forces(phonon, calc,
                                         lambda f, m: report(0.05 + 0.9 * f, f"{name}: {m}"))
    phonon.produce_force_constants(fc_calculator="symfc")
    note = "" if converged else f", NOT converged to {RELAX_FMAX} eV/A in {RELAX_STEPS} steps"
    source = (f"{name} force field (sevenn), relax {settings.relax}{note}, supercell "
              f"{supercell_matrix(relaxed, settings).tolist()}, displacement "
              f"{settings.displacement} A, symfc")
    return ForceConstants(**from_phonopy(phonon, source=source))


def cache_key(crystal: Crystal, name: str, settings: MLFFSettings) -> str:
    """SHA-256 (hex) of the structure, the force field and its checkpoint, and the settings."""
    fields = {k: v for k, v in asdict(settings).items() if k != "threads"}
    text = json.dumps({"version": CACHE_VERSION, "force_field": name,
                       "checkpoint": force_field(name).sha256, "settings": fields,
                       "symbols": crystal.symbols}, sort_keys=True)
    sha = hashlib.sha256(text.encode())
    for array in (crystal.cell, crystal.positions, crystal.masses):
        sha.update(np.ascontiguousarray(np.round(array, 10)).tobytes())
    return sha.hexdigest()


def cache_folder() -> Path:
    """$INSLIB_CACHE/force_fields, or ~/.cache/inslib/force_fields."""
    base = os.environ.get("INSLIB_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "inslib") / "force_fields"


def predicted_file(crystal: Crystal, name: str, settings: MLFFSettings, progress=None,
                   folder=None) -> Path:
    """phonopy.yaml of a crystal's force constants from a force field, computed once.

    The file is ``<folder>/<cache_key>.phonopy.yaml`` (``folder`` = :func:`cache_folder` by
    default); it is computed (:func:`compute_force_constants`) only when missing, and written
    whole or not at all.
    """
    folder = Path(folder) if folder is not None else cache_folder()
    path = folder / f"{cache_key(crystal, name, settings)}.phonopy.yaml"
    if path.is_file():
        if progress is not None:
            progress(1.0, f"{name}: force constants from the cache")
        return path
    fcs = compute_force_constants(crystal, name, settings, progress)
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    fcs.save_phonopy_yaml(partial)
    partial.replace(path)
    return path
