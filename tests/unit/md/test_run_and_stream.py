"""The MD run here (EMT) through SimulateMDSQE, and flat memory while streaming a trajectory."""

import tracemalloc

import numpy as np
import pytest

from inslib.md.correlation import correlate
from inslib.md.trajectory import scan_trajectory, write_displaced
from inslib.runtime.host import run_algorithm

pytest.importorskip("dynasor")  # the md extra


def test_md_run_here_writes_its_trajectory(al_structure, tmp_path):
    """27 atoms, 520 steps: the frames written, the map finite where covered."""
    trajectory = tmp_path / "run.traj"
    seen = []
    out = run_algorithm("SimulateMDSQE", progress=lambda f, _m: seen.append(f),
                        StructureFile=al_structure, SupercellMatrix="3,3,3", Temperature="300",
                        MDTimeStep="5", MDSteps="520", ThermalisationSteps="50",
                        FrameInterval="2", Thermostat="Langevin",
                        OutputTrajectoryFile=str(trajectory), Instrument="ARCS", Ei="80",
                        EBinning="-30,5,70", QBinning="1.5,0.5,6",
                        OutputWorkspace="md")["OutputWorkspace"]
    # steps 0, 2, ..., 520; a window of 232 lags (ARCS sigma 0.85 meV) needs 233
    assert scan_trajectory(trajectory).n_frames == 261
    assert out.metadata.logs["MDFrames"].value == 261
    assert "MD run here (EMT)" in out.metadata.provenance[-1]
    assert np.isfinite(out.signal[~out.mask]).all()
    assert np.nansum(out.signal) > 0
    assert seen[-1] == pytest.approx(1.0)
    assert np.all(np.diff(seen) >= 0)


def test_the_run_reports_what_a_scan_of_its_file_finds(al_structure, tmp_path):
    """run_md's TrajectoryInfo (no second pass) is scan_trajectory's of the file it wrote."""
    from inslib.md.run import MDRun, run_md

    path = tmp_path / "short.traj"
    info = run_md(MDRun(al_structure, np.diag([2, 2, 2]), 100.0, time_step=5.0, steps=20,
                        thermalisation_steps=5, frame_interval=4, seed=3), path)
    scanned = scan_trajectory(path)
    assert (info.n_frames, info.symbols) == (scanned.n_frames, scanned.symbols) == (6, ("Al",) * 8)
    np.testing.assert_allclose(info.cell, scanned.cell)
    np.testing.assert_allclose(info.positions, scanned.positions)


def _synthetic(path, n_frames: int) -> str:
    """Random displacements of 4 x 4 x 4 Al (no MD): an ASE .traj."""
    from ase.build import bulk

    return str(write_displaced(bulk("Al", "fcc", a=4.05).repeat(4), path, n_frames=n_frames,
                               amplitude=0.05, seed=0))


def _peak_traced(path: str) -> tuple[int, int]:
    """(peak bytes traced while correlating, file size in bytes) for a window of 20 lags."""
    info = scan_trajectory(path)
    q_points = np.array([[1.0, 0.0, 0.0]]) @ (2 * np.pi * np.linalg.inv(info.cell).T)
    q_points = q_points * np.arange(1, 41)[:, None]  # 40 commensurate q-points
    tracemalloc.start()
    try:
        correlate(path, info, q_points=q_points, frame_time=10.0, window=20, window_step=5,
                  incoherent=True, elastic=False)
        return tracemalloc.get_traced_memory()[1], info.n_frames
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_while_streaming(tmp_path):
    """3 x the frames (a file 3 x larger) costs no more memory: only the window is held."""
    short = _synthetic(tmp_path / "short.traj", 60)
    long = _synthetic(tmp_path / "long.traj", 180)
    _peak_traced(short)  # warm-up: numba compilation and import-time caches
    small, _ = _peak_traced(short)
    large, _ = _peak_traced(long)
    size = (tmp_path / "long.traj").stat().st_size
    # the window (21 frames x 64 atoms) and the 40 x 21 correlations dominate; 120 more frames of
    # positions would be 180 kB more; 20 % covers allocator noise
    assert large < 1.2 * small, (small, large)
    assert large < size, (large, size)
