"""The model set-up every simulation shares: modes on a mesh, Debye-Waller, DOS; cached.

:func:`build_setup` works on force constants in memory (a file, a fit, a force field, a sampled
training set); :func:`cached_setup` caches it on the *content* of the force constants (a
SHA-256 of every array), the temperature, the mesh and the device, so a live-reduction loop
that calls an algorithm again with the same model reuses it. Given a file path, it reads the
file (cached on the path, mtime and size of the file and of phonopy's files beside it) and
then goes through the same content key.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inslib.histogram import Log
from inslib.logs import DEVICE, IMAGINARY_MODES, WARNINGS
from inslib.phonons.force_constants import (
    ForceConstants,
    force_constants_file,
    load_force_constants,
    to_primitive,
)
from inslib.simulation.errors import SimulationError

MAX_IMAGINARY_FRACTION = 0.05  # more imaginary modes than this on the grid: refused
MEMORY_FRACTION = 0.8  # of the memory available, the most a mesh pass may take
CACHE_SIZE = 4  # set-ups kept (and as many files read)
PHONOPY_SIBLINGS = ("FORCE_SETS", "FORCE_CONSTANTS", "BORN", "SPOSCAR", "phonopy_disp.yaml",
                    "POSCAR-unitcell", "POSCAR")

_SETUPS: dict = {}
_FILES: dict = {}
_BASES: dict = {}


@dataclass
class Setup:
    """Everything expensive that depends only on the model, temperature and mesh.

    Attributes
    ----------
    model : PhononModel
        The forward model on the primitive cell, on its device.
    mesh : inslib.scattering.mesh.MeshResults
        Debye-Waller matrices, regularised partial DOS (torch, one set) at the temperature,
        the imaginary-mode count and the lowest mode on the mesh.
    source : str
        Where the force constants came from (provenance).
    warnings : list of str
        What a user should know before trusting the result.
    """

    model: object
    mesh: object
    source: str
    warnings: list = field(default_factory=list)

    @property
    def dw(self):
        """Debye-Waller matrices, torch (1, n_atoms, 3, 3), Angstrom^2."""
        return self.mesh.dw


def setup_logs(setup: Setup) -> dict:
    """Return the logs every simulation carries about its model (modes, device, warnings)."""
    logs = {IMAGINARY_MODES: Log(float(setup.mesh.n_imaginary[0])),
            DEVICE: Log(str(setup.model.opts["device"]))}
    if setup.warnings:
        logs[WARNINGS] = Log("; ".join(setup.warnings))
    return logs


def build_setup(fcs: ForceConstants, temperature: float, grid: int,
                device: str = "Auto") -> Setup:
    """Model (primitive cell), DOS and Debye-Waller on a grid^3 mesh, not cached.

    Parameters
    ----------
    fcs : ForceConstants
        In memory; reduced to the primitive cell first.
    temperature : float
        K.
    grid : int
        n of the n x n x n Monkhorst-Pack mesh.
    device : str
        Device property value: Auto, CPU or GPU.

    Raises
    ------
    SimulationError
        When more than 5 % of the modes on the mesh are imaginary (an unstable model).
    """
    import torch

    from inslib.phonons.model import PhononModel, resolve_device
    from inslib.scattering.mesh import mesh_results

    primitive = to_primitive(fcs)
    mesh_memory_check(primitive.crystal.n_atoms, grid)
    model = PhononModel(primitive, device=resolve_device(device))
    with torch.no_grad():
        mesh = mesh_results(model, temperature, grid)
    n_modes = grid**3 * 3 * primitive.crystal.n_atoms
    if mesh.n_imaginary[0] > MAX_IMAGINARY_FRACTION * n_modes:
        msg = (f"ForceConstantsFile: {mesh.n_imaginary[0]} of {n_modes} modes on the {grid}^3 "
               f"mesh are imaginary (down to {mesh.lowest[0]:.2f} meV at q = "
               f"{np.round(mesh.lowest_q[0], 3)}): the structure is dynamically unstable "
               "or the force constants are not converged; relax the structure or enlarge the "
               "supercell")
        raise SimulationError(msg)
    return Setup(model, mesh, fcs.source, model_warnings(primitive, mesh))


def mesh_memory_check(n_atoms: int, grid: int) -> None:
    """Refuse a mesh whose pass would take more than MEMORY_FRACTION of the free memory.

    Raises
    ------
    SimulationError
        Naming MeshSize, the estimate (:func:`inslib.scattering.mesh.mesh_bytes`), the memory
        available and the largest MeshSize that fits.
    """
    from inslib.scattering.mesh import mesh_bytes

    free = available_bytes()
    if free is None or mesh_bytes(n_atoms, grid) <= MEMORY_FRACTION * free:
        return
    fits = [g for g in range(2, grid) if mesh_bytes(n_atoms, g) <= MEMORY_FRACTION * free]
    advice = f"use MeshSize={fits[-1]} or less" if fits else "even MeshSize=2 does not fit"
    msg = (f"MeshSize: a {grid}^3 mesh of the {n_atoms}-atom primitive cell needs about "
           f"{mesh_bytes(n_atoms, grid) / 1e9:.1f} GB (the partial DOS of every mode), more "
           f"than {MEMORY_FRACTION:.0%} of the {free / 1e9:.1f} GB available; {advice}")
    raise SimulationError(msg)


def available_bytes() -> int | None:
    """Memory available to new allocations (Linux MemAvailable), bytes; None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cached_setup(force_constants, structure: str, temperature: float, grid: int,
                 device: str = "Auto") -> Setup:
    """Return the set-up for force constants in memory or in a file, cached on their content.

    Parameters
    ----------
    force_constants : ForceConstants or str or pathlib.Path
        In memory, or a file :func:`load_force_constants` reads.
    structure : str
        StructureFile for a file ("" = none); must be "" with force constants in memory.
    temperature, grid, device
        As :func:`build_setup`.
    """
    from inslib.phonons.model import resolve_device

    fcs = force_constants
    if not isinstance(fcs, ForceConstants):
        fcs = read_force_constants(str(force_constants), structure)
    elif structure:
        msg = "StructureFile: give it with a force-constants file, not with ForceConstants"
        raise SimulationError(msg)
    key = (fcs.digest(), fcs.source, float(temperature), int(grid), resolve_device(device))
    if key not in _SETUPS:
        remember(_SETUPS, key, build_setup(fcs, temperature, grid, device))
    return _SETUPS[key]


def clear_cache() -> None:
    """Forget every cached set-up and file (the next call builds and reads again)."""
    _SETUPS.clear()
    _FILES.clear()
    _BASES.clear()


def read_force_constants(path: str, structure: str = "", supercell: str = "") -> ForceConstants:
    """Force constants of a file, read again only when it or its phonopy siblings change.

    ``structure`` and ``supercell`` (SupercellMatrix text, e.g. "2,2,2") as
    :func:`~inslib.phonons.force_constants.load_force_constants` takes them; "" = none.
    """
    key = (file_key(path), file_key(structure), supercell)
    if key not in _FILES:
        fcs = load_force_constants(path, structure=structure or None,
                                   supercell=supercell or None)
        remember(_FILES, key, replace(fcs, source=path))
    return _FILES[key]


def basis_of(fcs: ForceConstants, shells: int):
    """ParameterBasis of ForceConstants up to ``shells`` shells (cached on their digest)."""
    from inslib.phonons.parameters import ParameterBasis

    key = (fcs.digest(), int(shells))
    if key not in _BASES:
        remember(_BASES, key, ParameterBasis.from_force_constants(fcs, shells=int(shells)))
    return _BASES[key]


def reference_basis(force_constants: str, shells: int, structure: str = "",
                    supercell: str = ""):
    """ParameterBasis of a force-constants file up to ``shells`` shells (cached on content)."""
    return basis_of(read_force_constants(force_constants, structure, supercell), shells)


def remember(cache: dict, key, value) -> None:
    """Store ``value`` under ``key``, dropping the oldest entry beyond CACHE_SIZE."""
    if len(cache) >= CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value


def file_key(path: str) -> tuple:
    """Identity of an input file and of the phonopy files read beside it (name, mtime, size)."""
    if not path:
        return ("",)
    path = Path(force_constants_file(path)) if Path(path).is_dir() else Path(path)
    siblings = [path.parent / name for name in PHONOPY_SIBLINGS]
    return tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size)
                 for f in [path, *siblings] if f.is_file())


def model_warnings(fcs: ForceConstants, mesh) -> list:
    """Things a user should know about the model before trusting the result.

    ``mesh``: :class:`inslib.scattering.mesh.MeshResults` of the model's own force constants.
    """
    warnings = []
    if not fcs.has_born and len(set(fcs.crystal.symbols)) > 1:
        warnings.append("no Born charges: if the material is polar (ionic), LO-TO splitting and "
                        "the long-range dipole forces are missing; put BORN beside the phonopy "
                        "file")
    if mesh.n_imaginary[0]:
        warnings.append(f"{mesh.n_imaginary[0]} imaginary modes on the mesh (down to "
                        f"{mesh.lowest[0]:.2f} meV at q = "
                        f"{np.round(mesh.lowest_q[0], 3).tolist()}, r.l.u. of the primitive "
                        "cell): left out of the intensities")
    return warnings
