"""Classical MD here with ASE, written as an ASE trajectory for the MD route.

The potential is ASE's EMT (metals it has parameters for) or a NEP model file through
calorine's CPU calculator (``pip install calorine``). Protocol: the structure is repeated to
the supercell, velocities are drawn from the Maxwell-Boltzmann distribution at 2T
(equipartition halves it), thermalised with a Langevin
thermostat (friction :data:`THERMALISE_FRICTION`) for ``thermalisation_steps`` at the
structure's cell (``ensemble`` "NVT"), or ("NPT") with ASE's Berendsen thermostat and barostat
at zero pressure, after which the cell is set to the mean cell of the second half of the
thermalisation (thermal expansion; the positions scaled with it); then it runs for
``steps`` with velocity Verlet (NVE, no thermostat in the dynamics) or Langevin (NVT,
friction :data:`PRODUCTION_FRICTION`, weak enough to leave phonon lifetimes longer than the
correlation window), writing positions every ``frame_interval`` steps. Times in fs,
temperatures in K, lengths in Angstrom.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.md.trajectory import TrajectoryInfo
from inslib.structure import load_structure

THERMOSTATS = ("VelocityVerlet", "Langevin")
ENSEMBLES = ("NVT", "NPT")
THERMALISE_FRICTION = 0.02  # 1/fs: ~50 fs relaxation, thermalises a metal in a few ps
PRODUCTION_FRICTION = 0.001  # 1/fs: 1 ps damping, longer than the phonon periods (< 0.2 ps)
BERENDSEN_TAU_T = 100.0  # fs, temperature coupling time of the NPT thermalisation
BERENDSEN_TAU_P = 500.0  # fs, pressure coupling time: a few hundred steps to expand
COMPRESSIBILITY = 1.0 / 100.0  # 1/GPa; sets only the barostat's speed (metals: 1/200-1/30)


@dataclass(frozen=True)
class MDRun:
    """An MD run (SimulateMDSQE property names in the comments).

    Parameters
    ----------
    structure : str
        StructureFile (any format ASE reads).
    supercell : numpy.ndarray of int, shape (3, 3)
        SupercellMatrix rows (parsed).
    temperature : float
        Temperature, K (> 0).
    time_step : float
        MDTimeStep, fs.
    steps, thermalisation_steps : int
        MDSteps (production), ThermalisationSteps.
    frame_interval : int
        FrameInterval: steps between written frames.
    thermostat : str
        Thermostat of the production run, one of :data:`THERMOSTATS`.
    ensemble : str
        Thermalisation at the structure's cell ("NVT") or at zero pressure ("NPT").
    seed : int
        Seed of the initial velocities and of the Langevin noise.
    potential : str
        PotentialFile: a NEP model file (calorine's CPUNEP); "" = ASE's EMT.
    """

    structure: str
    supercell: np.ndarray
    temperature: float
    time_step: float
    steps: int
    thermalisation_steps: int
    frame_interval: int
    thermostat: str = "VelocityVerlet"
    ensemble: str = "NVT"
    seed: int = 0
    potential: str = ""

    @property
    def frame_time(self) -> float:
        """Time between written frames, fs."""
        return self.time_step * self.frame_interval

    @property
    def n_frames(self) -> int:
        """Frames written by the production run."""
        return self.steps // self.frame_interval + 1


def emt_elements() -> set:
    """Elements ASE's EMT potential has parameters for."""
    from ase.calculators.emt import parameters

    return set(parameters)


def nep_elements(path: str) -> set:
    """Elements a NEP model file covers (calorine reads it; ValueError if it cannot)."""
    from calorine.nep import read_model

    return set(read_model(path).types)


def calculator(potential: str = ""):
    """ASE calculator: calorine's CPUNEP for a NEP model file, else ASE's EMT."""
    if potential:
        from calorine.calculators import CPUNEP

        return CPUNEP(potential)
    from ase.calculators.emt import EMT

    return EMT()


def supercell_atoms(structure: str, supercell: np.ndarray):
    """ASE Atoms (masses included) of a structure file repeated by an integer (3, 3) matrix."""
    from ase import Atoms
    from ase.build import make_supercell

    crystal = load_structure(structure)
    atoms = Atoms(crystal.symbols, scaled_positions=crystal.positions, cell=crystal.cell,
                  masses=crystal.masses, pbc=True)
    return make_supercell(atoms, np.asarray(supercell, dtype=int))


def run_md(run: MDRun, path: str | Path, report=None) -> TrajectoryInfo:
    """Run the MD of ``run`` and write its production frames to an ASE .traj file.

    ``report(fraction)`` is called every frame. Returns what :func:`scan_trajectory` would
    find in the file written (no second pass over it).
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.io.trajectory import Trajectory
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    report = report or (lambda _fraction: None)
    rng = np.random.default_rng(run.seed)
    atoms = supercell_atoms(run.structure, run.supercell)
    atoms.calc = calculator(run.potential)
    atoms.set_constraint(FixCom())  # no drift of the centre of mass (Langevin noise)
    thermalize_momenta(atoms, 2 * run.temperature, rng=rng)
    Stationary(atoms)
    step = run.time_step * units.fs
    if run.ensemble == "NPT":
        _expand(atoms, run, step)
    elif run.thermalisation_steps:
        Langevin(atoms, step, temperature_K=run.temperature, fixcm=False,
                 friction=THERMALISE_FRICTION / units.fs, rng=rng).run(run.thermalisation_steps)
    dynamics = _production(atoms, run, step, rng)
    total = run.steps + run.thermalisation_steps
    frames = []  # the first frame's positions, then one entry per frame written
    with Trajectory(str(path), "w", atoms, properties=["energy"]) as trajectory:
        def write():
            trajectory.write()
            frames.append(None if frames else atoms.get_positions())
            report((run.thermalisation_steps + dynamics.nsteps) / total)

        dynamics.attach(write, interval=run.frame_interval)
        dynamics.run(run.steps)
    return TrajectoryInfo(len(frames), atoms.cell.array.copy(),
                          tuple(atoms.get_chemical_symbols()), frames[0])


def _expand(atoms, run: MDRun, step: float) -> None:
    """Thermalise at zero pressure (Berendsen), then fix the cell at its mean (second half)."""
    from ase import units
    from ase.md.nptberendsen import NPTBerendsen

    dynamics = NPTBerendsen(atoms, step, temperature_K=run.temperature, pressure_au=0.0,
                            taut=BERENDSEN_TAU_T * units.fs, taup=BERENDSEN_TAU_P * units.fs,
                            compressibility_au=COMPRESSIBILITY / units.GPa, fixcm=False)
    cells = []
    dynamics.attach(lambda: cells.append(atoms.cell.array.copy()), interval=1)
    dynamics.run(run.thermalisation_steps)
    atoms.set_cell(np.mean(cells[len(cells) // 2:], axis=0), scale_atoms=True)


def _production(atoms, run: MDRun, step: float, rng):
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    if run.thermostat == "Langevin":
        return Langevin(atoms, step, temperature_K=run.temperature, fixcm=False,
                        friction=PRODUCTION_FRICTION / units.fs, rng=rng)
    return VelocityVerlet(atoms, step)
