"""Small MD trajectories made once per session with ASE's EMT potential (Al, 4 x 4 x 4 cells).

64 atoms at EMT's own 0 K lattice constant, 5 fs steps, a frame every 10 fs: 1,000 production
steps (501 frames, 5 ps) after 300 (NVT) or 500 (NPT) thermalisation steps; 8-15 s each on
one core. The cold run (50 K, NVT) is near-harmonic; the hot one (600 K) thermalises at zero
pressure (NPT), so it carries thermal expansion as well as anharmonic lifetimes. The long cold
run (50 K, 1,600 NVE steps, 801 frames, 8 ps) is for TOSCA, whose resolution (sigma 0.33 meV
at 3 meV) needs a 6 ps correlation window.
"""

import numpy as np
import pytest

from inslib.md.harmonic import md_force_constants, relaxed_structure
from inslib.md.run import MDRun, run_md

SUPERCELL = np.diag([4, 4, 4])


@pytest.fixture(scope="session")
def al_structure(tmp_path_factory):
    """POSCAR of primitive fcc Al relaxed with EMT (a = 3.994 Angstrom)."""
    return str(relaxed_structure("Al", "fcc", tmp_path_factory.mktemp("md") / "Al.vasp", 4.0))


def _trajectory(folder, structure: str, temperature: float, ensemble: str,
                production: int = 1000) -> str:
    path = folder / f"al_{temperature:g}K.traj"
    # NPT needs ~5 barostat times (500 fs each) to expand; NVT thermalises in ~15 x 50 fs
    steps = 500 if ensemble == "NPT" else 300
    run_md(MDRun(structure, SUPERCELL, temperature, time_step=5.0, steps=production,
                 thermalisation_steps=steps, frame_interval=2, ensemble=ensemble, seed=1),
           path)
    return str(path)


@pytest.fixture(scope="session")
def cold_trajectory(tmp_path_factory, al_structure):
    """EMT Al at 50 K, NVT thermalisation then NVE: ASE .traj, frames 10 fs apart."""
    return _trajectory(tmp_path_factory.mktemp("cold"), al_structure, 50.0, "NVT")


@pytest.fixture(scope="session")
def long_cold_trajectory(tmp_path_factory, al_structure):
    """EMT Al at 50 K as ``cold_trajectory``, 1,600 NVE steps: 801 frames 10 fs apart."""
    return _trajectory(tmp_path_factory.mktemp("long"), al_structure, 50.0, "NVT", 1600)


@pytest.fixture(scope="session")
def hot_trajectory(tmp_path_factory, al_structure):
    """EMT Al at 600 K, NPT thermalisation (expanded cell) then NVE: frames 10 fs apart."""
    return _trajectory(tmp_path_factory.mktemp("hot"), al_structure, 600.0, "NPT")


@pytest.fixture(scope="session")
def emt_phonopy(tmp_path_factory, al_structure):
    """phonopy_params.yaml of the same structure: EMT finite displacements, 4 x 4 x 4."""
    path = tmp_path_factory.mktemp("phonopy") / "phonopy_params.yaml"
    return str(md_force_constants(al_structure, SUPERCELL, path))
