"""MD trajectories in: one streamed pass that checks what the correlation step needs.

Any trajectory ASE reads frame by frame (``ase.io.iread``: ASE .traj, extended XYZ, LAMMPS
dump, VASP XDATCAR...) is accepted. The time between frames is not stored by most formats and
is always given by the user (TimeStep, fs). Lengths are in Angstrom, times in fs, energies in
meV.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import constants

PLANCK_MEV_FS = constants.h / constants.e * 1e3 * 1e15  # h in meV fs (4135.667...)
CELL_ATOL = 1e-4  # Angstrom; text formats round the cell to ~1e-6, NPT moves it by far more
MIN_WINDOW = 3  # dynasor needs a correlation window of more than 2 lags
HBAR_MEV_FS = constants.hbar / constants.e * 1e3 * 1e15  # meV fs
TAPER_FRACTION = 3.0  # taper tau = W dt / 3: exp(-4.5) = 1.1 % left at the last lag


class TrajectoryError(ValueError):
    """A trajectory that cannot be used; the message says why and what would work."""


@dataclass(frozen=True)
class TrajectoryInfo:
    """What one pass over a trajectory found.

    Attributes
    ----------
    n_frames : int
        Frames in the file.
    cell : numpy.ndarray, shape (3, 3)
        Simulation cell (rows), Angstrom; the same in every frame.
    symbols : tuple of str
        Chemical symbol per atom, shape (n_atoms,).
    positions : numpy.ndarray, shape (n_atoms, 3)
        Cartesian positions of the first frame, Angstrom.
    """

    n_frames: int
    cell: np.ndarray
    symbols: tuple
    positions: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Atoms per frame."""
        return len(self.symbols)


def scan_trajectory(path: str | Path) -> TrajectoryInfo:
    """Stream a trajectory once: count frames, check the cell is present and fixed (not NPT).

    Holds one frame in memory at a time.

    Raises
    ------
    TrajectoryError
        Unreadable file, no frames, a frame without a full 3D cell, a cell or atom count
        that changes between frames (frame index named).
    """
    from ase.io import iread

    first, n_frames = None, 0
    try:
        for atoms in iread(str(path), index=":"):
            if first is None:
                first = _check_first(atoms)
            else:
                _check_same(first, atoms, n_frames)
            n_frames += 1
    except TrajectoryError:
        raise
    except Exception as err:  # ASE raises many types for a file it cannot parse
        msg = (f"{Path(path).name!r} is not a trajectory ASE can read ({type(err).__name__}: "
               f"{err}); give an ASE .traj, extended XYZ, LAMMPS dump or VASP XDATCAR file")
        raise TrajectoryError(msg) from err
    if first is None:
        msg = f"{Path(path).name!r} holds no frames"
        raise TrajectoryError(msg)
    return TrajectoryInfo(n_frames, first.cell.array.copy(), tuple(first.get_chemical_symbols()),
                          first.get_positions())


def _check_first(atoms):
    if atoms.cell.rank < 3 or not all(atoms.pbc):
        msg = (f"the first frame has no periodic 3D cell (cell rank {atoms.cell.rank}, pbc "
               f"{list(atoms.pbc)}): S(Q,E) needs the fixed simulation cell; write the "
               "trajectory with its cell (extended XYZ Lattice=, ASE .traj, LAMMPS box)")
        raise TrajectoryError(msg)
    return atoms


def _check_same(first, atoms, index: int) -> None:
    if len(atoms) != len(first):
        msg = (f"frame {index} has {len(atoms)} atoms, frame 0 has {len(first)}: every frame "
               "must hold the same atoms")
        raise TrajectoryError(msg)
    change = float(np.max(np.abs(atoms.cell.array - first.cell.array)))
    if change > CELL_ATOL:
        msg = (f"the cell changes by {change:.3g} Angstrom at frame {index} (NPT?): q-points "
               "are defined on a fixed cell; give a constant-volume (NVT/NVE) trajectory, e.g. "
               "production at the mean NPT cell")
        raise TrajectoryError(msg)


def window_size(*, energy_step: float, frame_time: float, sigma: float = 0.0) -> int:
    """Smallest correlation window W (lags) fine enough for the bins and the resolution.

    The energy spacing h / ((2W + 1) dt) must be <= ``energy_step``, and the broadening of
    the time taper, sigma_E = hbar / tau with tau = W dt / :data:`TAPER_FRACTION`, <= ``sigma``
    (the narrowest instrument resolution), so that the resolution applied afterwards is the
    instrument's everywhere.

    Parameters
    ----------
    energy_step : float
        Largest acceptable spacing of the MD energy grid, meV (> 0).
    frame_time : float
        Time between frames dt, fs (> 0).
    sigma : float
        Narrowest Gaussian resolution sigma, meV (0 = no resolution condition).

    Returns
    -------
    int
        W >= :data:`MIN_WINDOW`; a window holds W + 1 frames (W dt fs).
    """
    spacing = math.ceil((PLANCK_MEV_FS / (energy_step * frame_time) - 1) / 2)
    taper = math.ceil(TAPER_FRACTION * HBAR_MEV_FS / (sigma * frame_time)) if sigma > 0 else 0
    return max(MIN_WINDOW, spacing, taper)


def nyquist_energy(*, frame_time: float) -> float:
    """Highest energy h / (2 dt) (meV) resolved by frames ``frame_time`` fs apart."""
    return PLANCK_MEV_FS / (2 * frame_time)


def write_displaced(atoms, path: str | Path, *, n_frames: int, amplitude: float,
                    seed: int) -> Path:
    """Write ``n_frames`` copies of ``atoms`` with Gaussian random displacements (ASE .traj).

    Synthetic frames for timing and memory checks of the streaming path (the correlation
    step's cost does not depend on the motion). ``amplitude``: standard deviation, Angstrom.
    Frames are written one at a time.
    """
    from ase.io.trajectory import Trajectory

    rng = np.random.default_rng(seed)
    with Trajectory(str(path), "w") as out:
        for _ in range(n_frames):
            frame = atoms.copy()
            frame.positions += rng.normal(0, amplitude, frame.positions.shape)
            out.write(frame)
    return Path(path)
