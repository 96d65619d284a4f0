"""Goniometer rotations and the rotation-coverage search (inslib.instruments.kinematics)."""

import numpy as np

from inslib.instruments.kinematics import (
    _any_between,
    beam_directions,
    orientation_from_vectors,
    rotation_coverage,
    rotations,
)
from inslib.units import wavevector


def test_rotation_sense_follows_set_goniometer():
    """Sense 1 about +y (counter-clockwise seen from above) takes the beam z to +x."""
    np.testing.assert_allclose(rotations([0, 2, 0], [90.0])[0] @ [0, 0, 1], [1, 0, 0],
                               atol=1e-12)
    np.testing.assert_allclose(rotations([0, 1, 0], [90.0], -1)[0] @ [0, 0, 1], [-1, 0, 0],
                               atol=1e-12)


def test_orientation_puts_u_on_the_beam_and_v_towards_x():
    u, v = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0])
    orientation = orientation_from_vectors(u, v)
    np.testing.assert_allclose(orientation @ orientation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(orientation @ u, [0, 0, np.linalg.norm(u)], atol=1e-12)
    assert abs((orientation @ v)[1]) < 1e-12
    assert (orientation @ v)[0] > 0
    beams = beam_directions(rotations([0, 1, 0], [0.0, 30.0]), orientation)
    np.testing.assert_allclose(beams[0], u / np.linalg.norm(u), atol=1e-12)


def test_any_between_matches_a_direct_search():
    rng = np.random.default_rng(0)
    rows = np.sort(rng.normal(size=(50, 7)), axis=1)
    low = rng.normal(size=(50, 4)) * 2
    high = low + rng.uniform(0, 0.3, size=low.shape)
    direct = ((rows[:, None, :] >= low[..., None])
              & (rows[:, None, :] <= high[..., None])).any(-1)
    np.testing.assert_array_equal(_any_between(rows, low, high), direct)


def test_a_point_is_covered_exactly_where_it_lies_on_an_ewald_sphere():
    """A tiny bin at Q is covered at E only for settings with |Q - k_i b| = k_f(E)."""
    ei, energy = 50.0, 10.0
    k_i, k_f = wavevector(ei), wavevector(ei - energy)
    beam = np.array([[0.0, 0.0, 1.0]])
    angle = np.deg2rad(40.0)
    on_sphere = k_i * beam[0] - k_f * np.array([np.sin(angle), 0.0, np.cos(angle)])
    e_edges = np.array([energy - 0.5, energy + 0.5, energy + 20.0])
    covered = rotation_coverage(on_sphere[None], np.array([1e-3]), beam, e_edges, ei)
    np.testing.assert_array_equal(covered, [[True, False]])
    away = rotation_coverage(on_sphere[None] * 1.2, np.array([1e-3]), beam, e_edges, ei)
    assert not away[0, 0]
