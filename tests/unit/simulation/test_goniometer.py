"""Psi scans in SimulateSingleCrystalSQE: the kinematic mask of the goniometer settings measured.

Reference: an independent brute-force scan, written for the cubic cell alone (u = (1,0,0) along
the beam at Psi = 0, v = (0,1,0) towards +x, L vertical, so Q_lab = R_y(psi) 2 pi / a (K, L, H)):
for every setting, random detector directions of ARCS's scattering-angle range and random
energies give Q_lab = k_i z - k_f n; rotated back to H, K, L and histogrammed, they mark the
bins the scan reaches.
"""

from pathlib import Path

import numpy as np
import pytest

from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.units import wavevector

EI, BANK = 40.0, (2.373, 135.955)  # meV; ARCS's detector scattering angles, degrees
GRID = {"Temperature": "10", "Instrument": "ARCS", "Ei": "40", "Dimension0Binning": "-6,0.25,6",
        "Dimension1Binning": "-6,0.25,6", "Dimension2Binning": "-0.1,0.1",
        "Dimension3Binning": "0,2,38", "MeshSize": "6", "OutputWorkspace": "s"}
SLAB = 0.1  # r.l.u., half thickness of the integrated L
SUNNY = (Path(__file__).resolve().parents[2] / "data" / "shared" / "mantid_files"
         / "Sunny.jl_1Dcut_sym_0p00T_K.nxs")  # a 4D MDNorm file


def _grid(ge_files, **properties):
    return run_algorithm("SimulateSingleCrystalSQE",
                         **{**GRID, **ge_files, **properties})["OutputWorkspace"]


def _brute_force_reach(axes, psi_deg, lattice: float, rng) -> np.ndarray:
    """Bins (n_h, n_k, 1, n_e) some setting's detector directions and energies land in.

    Directions are drawn over ARCS's scattering angles and, per angle, the azimuths whose
    vertical Q can fall inside the slab (|Q_y| <= 1.5 x its half thickness: the others cannot
    reach it), so no reachable direction is left out.
    """
    k_i, scale = wavevector(EI), lattice / (2 * np.pi)
    e_edges = axes[3].edges
    reached = np.zeros((len(axes[0].edges) - 1, len(axes[1].edges) - 1, len(e_edges) - 1), bool)
    n = 400_000
    for psi in np.deg2rad(psi_deg):
        two_theta = np.deg2rad(rng.uniform(*BANK, n))
        energy = rng.uniform(e_edges[0], e_edges[-1], n)
        k_f = wavevector(EI - energy)
        limit = np.arcsin(np.clip(1.5 * SLAB / scale / (k_f * np.sin(two_theta)), 0, 1))
        phi = rng.uniform(-1, 1, n) * limit + np.pi * rng.integers(0, 2, n)
        q_lab = np.stack([-k_f * np.sin(two_theta) * np.cos(phi),
                          -k_f * np.sin(two_theta) * np.sin(phi),
                          k_i - k_f * np.cos(two_theta)], axis=1)
        rotation = np.array([[np.cos(psi), 0, np.sin(psi)], [0, 1, 0],
                             [-np.sin(psi), 0, np.cos(psi)]])
        q_zero = q_lab @ rotation  # R^T Q_lab, rows
        h, k, ell = q_zero[:, 2] * scale, q_zero[:, 0] * scale, q_zero[:, 1] * scale
        keep = np.abs(ell) < SLAB
        index = [np.digitize(values[keep], edges) - 1 for values, edges
                 in ((h, axes[0].edges), (k, axes[1].edges), (energy, e_edges))]
        inside = np.all([(i >= 0) & (i < len(a.edges) - 1) for i, a
                         in zip(index, (axes[0], axes[1], axes[3]), strict=True)], axis=0)
        reached[tuple(i[inside] for i in index)] = True
    return reached[:, :, None, :]


def test_psi_scan_mask_keeps_every_bin_the_brute_force_reaches(ge_files):
    """Psi 0-30 degrees in 2 degree steps: no reached bin masked, few unreached bins kept.

    Kept but unreached bins come from the conservative bounds (a bin is the ball of its
    circumradius, 0.23 1/Angstrom here, and the angle and Ewald-sphere tests are separate):
    6.1 % seen (6.0 % with another brute-force seed: 6.4 M events have converged), 10 %
    allowed. Every orientation keeps 4.5 x as many bins as this scan.
    """
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.simulation.grid import hkl_cell

    psi = np.arange(0, 31, 2.0)
    out = _grid(ge_files, Psi="0,30,2")
    cell = hkl_cell(to_primitive(load_force_constants(ge_files["ForceConstantsFile"],
                                                      ge_files["StructureFile"])).crystal)
    lattice = float(np.linalg.norm(cell[0]))
    reached = _brute_force_reach(out.axes, psi, lattice, np.random.default_rng(3))
    assert reached.sum() > 1000
    assert not np.any(out.mask & reached)
    kept_unreached = np.count_nonzero(~out.mask & ~reached)
    assert kept_unreached < 0.10 * np.count_nonzero(~out.mask)
    assert np.count_nonzero(~_grid(ge_files).mask) > 4 * np.count_nonzero(~out.mask)


def test_narrow_scan_masks_more_and_a_full_turn_masks_as_all_orientations(ge_files):
    """A 10 degree scan masks a strict superset; 0-359 in 1 degree steps equals no Psi."""
    every = _grid(ge_files)
    narrow = _grid(ge_files, Psi="20,30,1")
    full = _grid(ge_files, Psi="0,359,1")
    assert np.all(narrow.mask >= every.mask)
    assert np.count_nonzero(narrow.mask) > np.count_nonzero(every.mask) + 1000
    np.testing.assert_array_equal(full.mask, every.mask)
    assert "no Psi given" in every.metadata.logs["KinematicMask"].value
    assert "11 settings" in narrow.metadata.logs["KinematicMask"].value


def test_opposite_sense_is_the_mirror_scan(ge_files):
    """Clockwise +psi is counter-clockwise -psi: the same mask."""
    clockwise = _grid(ge_files, Psi="10,40,2", GoniometerAxis="0,1,0,-1")
    mirror = _grid(ge_files, Psi="-40,-10,2")
    np.testing.assert_array_equal(clockwise.mask, mirror.mask)
    assert not np.array_equal(clockwise.mask, _grid(ge_files, Psi="10,40,2").mask)


@pytest.mark.parametrize(("properties", "prop", "fragment"), [
    ({"Psi": "0,30"}, "Psi", "is not 'from,to,step' in degrees"),
    ({"Psi": "30,0,1"}, "Psi", "needs step > 0 and from <= to <= from + 360"),
    ({"Psi": "0,30,0"}, "Psi", "needs step > 0"),
    ({"Psi": "0,360,0.01"}, "Psi", "gives 36,001 settings: at most 3,601"),
    ({"Psi": "0,30,1", "Instrument": "", "Ei": "0"}, "Psi", "needs a direct-geometry Instrument"),
    ({"Psi": "0,30,1", "Instrument": "TOSCA", "Ei": "0"}, "Psi", "indirect-geometry"),
    ({"Psi": "0,30,1", "QPath": "G-X"}, "Psi", "applies to grids, not to QPath='G-X'"),
    ({"Psi": "0,30,1", "InputWorkspace": str(SUNNY)}, "Psi", "own mask is its measured coverage"),
    ({"Psi": "0,30,1", "GoniometerAxis": "0,0,0,1"}, "GoniometerAxis", "is not 'x,y,z,sense'"),
    ({"Psi": "0,30,1", "GoniometerAxis": "0,1,0,2"}, "GoniometerAxis", "sense 1 counter"),
    ({"Psi": "0,30,1", "UVector": "1,0"}, "UVector", "is not an HKL vector"),
    ({"Psi": "0,30,1", "VVector": "2,0,0"}, "VVector", "is parallel to UVector"),
])
def test_bad_goniometer_input_names_property_value_and_fix(ge_files, properties, prop, fragment):
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulateSingleCrystalSQE", **{**GRID, **ge_files, **properties})
    assert fragment in info.value.errors[prop]
