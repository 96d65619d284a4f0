"""Accessible (|Q|, E) region of direct- and indirect-geometry spectrometers.

For a bank covering scattering angles [t_lo, t_hi] and energy transfers [e0, e1],
Q^2 = k_fix^2 + k^2 - 2 k_fix k cos(2 theta), where k_fix is the fixed wavevector (ki in
direct geometry, kf in indirect) and k the other one, which varies with E. Q grows with the
angle, and Q^2 is a convex quadratic in k, so over the bin's energies the bank reaches exactly
[min_k Q(k, t_lo), max_k Q(k, t_hi)]: the minimum is at the clamped stationary point
k* = k_fix cos(t_lo), the maximum at an end. A bin is covered when its |Q| range overlaps that
interval for some bank: the test is exact, with no sampling inside the bin.

A single crystal measured at a set of goniometer settings (a psi scan, or a file's run headers)
reaches less: :func:`rotation_coverage` keeps the bins whose component along the beam some
setting brings to the value the detectors need (see the notes above :func:`rotations`). Each
bank is a full cone about the beam (the instrument files give scattering angles only), so the
masks never remove a bin that a detector of the bank's angles could reach.
"""

import numpy as np

from inslib.units import wavevector


def _moving_k_range(e_lo, e_hi, fixed_energy, geometry):
    """Return (k_low, k_high, valid) of the varying wavevector over energy bins.

    Parameters
    ----------
    e_lo, e_hi : numpy.ndarray, shape (n_e,)
        Energy-transfer bin edges (meV).
    fixed_energy : float
        Ei (direct) or Ef (indirect), meV.
    geometry : str
        "direct" or "indirect".

    Returns
    -------
    tuple of numpy.ndarray, shape (n_e,)
        Lowest and highest varying wavevector (1/Angstrom), and whether any part of the
        bin is kinematically allowed.
    """
    if geometry == "direct":  # kf^2 ~ Ei - E, allowed for E < Ei
        valid = e_lo < fixed_energy
        ends = (np.clip(fixed_energy - e_hi, 0, None), np.clip(fixed_energy - e_lo, 0, None))
    else:  # ki^2 ~ Ef + E, allowed for E > -Ef
        valid = e_hi > -fixed_energy
        ends = (np.clip(fixed_energy + e_lo, 0, None), np.clip(fixed_energy + e_hi, 0, None))
    return wavevector(ends[0]), wavevector(ends[1]), valid


def _q(k_fixed, k, angle):
    return np.sqrt(np.clip(k_fixed**2 + k**2 - 2.0 * k_fixed * k * np.cos(angle), 0, None))


def q_limits(e_edges, fixed_energy, geometry, banks_deg):
    """Return the |Q| interval each bank reaches within each energy bin.

    Parameters
    ----------
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges in meV (positive = neutron energy loss).
    fixed_energy : float
        Ei (direct geometry) or Ef (indirect geometry) in meV.
    geometry : str
        "direct" or "indirect".
    banks_deg : numpy.ndarray, shape (n_banks, 2)
        Scattering-angle range of each bank, degrees.

    Returns
    -------
    q_min, q_max : numpy.ndarray, shape (n_e, n_banks)
        Reachable |Q| interval in 1/Angstrom; NaN where the bin is kinematically forbidden.
    """
    e_edges = np.asarray(e_edges, dtype=float)
    k_low, k_high, valid = _moving_k_range(e_edges[:-1], e_edges[1:], fixed_energy, geometry)
    k_fixed = float(wavevector(fixed_energy))
    t_lo, t_hi = np.deg2rad(np.asarray(banks_deg, dtype=float)).T
    k_low, k_high = k_low[:, None], k_high[:, None]
    k_star = np.clip(k_fixed * np.cos(t_lo)[None, :], k_low, k_high)
    q_min = _q(k_fixed, k_star, t_lo[None, :])
    q_max = np.maximum(_q(k_fixed, k_low, t_hi[None, :]), _q(k_fixed, k_high, t_hi[None, :]))
    q_min[~valid] = np.nan
    q_max[~valid] = np.nan
    return q_min, q_max


def coverage(q_edges, e_edges, fixed_energy, geometry, banks_deg) -> np.ndarray:
    """Return which (|Q|, E) bins overlap the accessible region.

    Parameters
    ----------
    q_edges : numpy.ndarray, shape (n_q + 1,)
        |Q| bin edges in 1/Angstrom.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges in meV.
    fixed_energy : float
        Ei (direct) or Ef (indirect) in meV.
    geometry : str
        "direct" or "indirect".
    banks_deg : numpy.ndarray, shape (n_banks, 2)
        Scattering-angle range of each bank, degrees.

    Returns
    -------
    numpy.ndarray of bool, shape (n_q, n_e)
        True where the bin is (at least partly) covered.
    """
    q_edges = np.asarray(q_edges, dtype=float)
    return interval_coverage(q_edges[:-1], q_edges[1:], e_edges, fixed_energy, geometry,
                             banks_deg)


def interval_coverage(q_lo, q_hi, e_edges, fixed_energy, geometry, banks_deg,
                      chunk: int = 65536) -> np.ndarray:
    """Return which (|Q| interval, energy bin) pairs overlap the accessible region.

    Parameters
    ----------
    q_lo, q_hi : numpy.ndarray, shape (n,)
        |Q| interval of each bin in 1/Angstrom (a powder bin, or the |Q| range of a
        single-crystal bin, which every sample orientation shares).
    e_edges, fixed_energy, geometry, banks_deg
        As in :func:`coverage`.
    chunk : int
        Intervals handled at a time (memory: chunk x n_e x n_banks booleans).

    Returns
    -------
    numpy.ndarray of bool, shape (n, n_e)
        True where the interval overlaps some bank's reach within the energy bin.
    """
    q_min, q_max = q_limits(e_edges, fixed_energy, geometry, banks_deg)
    q_lo, q_hi = np.asarray(q_lo, dtype=float), np.asarray(q_hi, dtype=float)
    out = np.zeros((len(q_lo), len(q_min)), dtype=bool)
    for start in range(0, len(q_lo), chunk):
        lo = q_lo[start:start + chunk, None, None]
        hi = q_hi[start:start + chunk, None, None]
        with np.errstate(invalid="ignore"):
            overlaps = (lo <= q_max[None]) & (hi >= q_min[None]) & (hi > lo)
        out[start:start + chunk] = overlaps.any(axis=2)
    return out


# --- sample rotations (single crystals, direct geometry) --------------------------------------
#
# Mantid's frames: lab z along the incident beam, y vertically up, x completing a right-handed
# set; a goniometer angle psi about a unit axis n with sense s (SetGoniometer: 1 counter-
# clockwise, -1 clockwise) is the right-handed rotation R by s * psi about n, and
# Q_lab = R U Q_crystal. For direct geometry Q = ki - kf with ki = k_i z: in the crystal's
# frame a setting reaches, at energy transfer E, the Q on the Ewald sphere |Q - k_i b| = k_f(E),
# b = (R U)^T z being the beam direction there; the scattering angle is that of |Q| and E.


def rotations(axis, angles_deg, sense: int = 1) -> np.ndarray:
    """Goniometer rotation matrices (Mantid: right-handed by sense x angle about the axis).

    Parameters
    ----------
    axis : numpy.ndarray, shape (3,)
        Rotation axis in the lab frame (z beam, y up), any length > 0.
    angles_deg : numpy.ndarray, shape (n,)
        Goniometer angles, degrees.
    sense : int
        1 counter-clockwise (right-handed), -1 clockwise, as SetGoniometer.

    Returns
    -------
    numpy.ndarray, shape (n, 3, 3)
        R with Q_lab = R Q_sample.
    """
    n = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    angle = sense * np.deg2rad(np.atleast_1d(np.asarray(angles_deg, dtype=float)))
    cross = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return c * np.eye(3) + s * cross + (1 - c) * np.outer(n, n)


def orientation_from_vectors(u, v) -> np.ndarray:
    """Sample orientation U of Mantid's SetUB(u, v) at goniometer angle 0.

    Parameters
    ----------
    u, v : numpy.ndarray, shape (3,)
        Cartesian reciprocal vectors (1/Angstrom, any common frame) of the HKL directions u
        (along the incident beam at angle 0) and v (in the horizontal plane, not along u).

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Rotation taking the frame of u and v to the lab: u -> z (beam), the part of v normal
        to u -> x, u x v -> y (up).
    """
    e1 = np.asarray(u, dtype=float) / np.linalg.norm(u)
    e3 = np.cross(e1, v)
    e3 = e3 / np.linalg.norm(e3)
    e2 = np.cross(e3, e1)
    return np.stack([e2, e3, e1])


def beam_directions(rotation_matrices, orientation) -> np.ndarray:
    """Incident-beam direction in the crystal's frame for each goniometer setting.

    Parameters
    ----------
    rotation_matrices : numpy.ndarray, shape (n, 3, 3)
        Goniometer matrices R (:func:`rotations`, or a file's run headers).
    orientation : numpy.ndarray, shape (3, 3)
        U (:func:`orientation_from_vectors`).

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        Unit vectors (R U)^T z.
    """
    return np.einsum("nij,i->nj", np.asarray(rotation_matrices) @ orientation,
                     np.array([0.0, 0.0, 1.0]))


def rotation_coverage(centres, radius, beams, e_edges, ei: float,
                      chunk: int = 4096) -> np.ndarray:
    """Return which (Q bin, energy bin) pairs some goniometer setting brings to the detectors.

    For a setting with beam direction b (crystal frame), the points reached at energy transfer
    E lie on the Ewald sphere |Q - k_i b| = k_f(E). A bin (the ball of ``radius`` about its
    centre q0, which holds the box) meets the shell of the energy bin's k_f range when
    |q0 - k_i b| lies in [k_f,min - radius, k_f,max + radius]; |q0 - k_i b|^2 =
    |q0|^2 + k_i^2 - 2 k_i (q0 . b), so that is an interval of q0 . b, searched in the sorted
    values of all settings. Combine with :func:`interval_coverage` (the detector angles):
    neither test masks a reachable bin.

    Parameters
    ----------
    centres : numpy.ndarray, shape (n, 3)
        Bin centres, Cartesian, 1/Angstrom (the crystal's frame).
    radius : numpy.ndarray, shape (n,)
        Circumradius of each bin, 1/Angstrom.
    beams : numpy.ndarray, shape (m, 3)
        Beam directions in the crystal's frame (:func:`beam_directions`).
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV.
    ei : float
        Incident energy, meV (direct geometry).
    chunk : int
        Bins handled at a time (memory: chunk x (m + 4 n_e) floats).

    Returns
    -------
    numpy.ndarray of bool, shape (n, n_e)
    """
    k_i = float(wavevector(ei))
    k_f = wavevector(np.clip(ei - np.asarray(e_edges, dtype=float), 0.0, None))  # decreasing
    out = np.zeros((len(centres), len(k_f) - 1), dtype=bool)
    for start in range(0, len(centres), chunk):
        part = slice(start, start + chunk)
        r = radius[part, None]
        base = (np.sum(centres[part] ** 2, axis=1)[:, None] + k_i**2) / (2 * k_i)
        low = base - (k_f[None, :-1] + r) ** 2 / (2 * k_i)
        high = base - np.clip(k_f[None, 1:] - r, 0.0, None) ** 2 / (2 * k_i)
        along = np.sort(centres[part] @ np.asarray(beams, dtype=float).T, axis=1)
        out[part] = _any_between(along, low, high)
    return out


def _any_between(rows, low, high) -> np.ndarray:
    """Whether each sorted row of ``rows`` (n, m) holds a value in [low, high] (n, k each)."""
    bound = float(np.abs(rows).max()) + 1.0
    span = 2 * bound + 2.0  # rows are shifted apart by more than their own range
    offset = np.arange(len(rows))[:, None] * span
    keys = (rows + offset).ravel()
    low = np.clip(low, -bound, bound) + offset
    high = np.clip(high, -bound, bound) + offset
    index = np.searchsorted(keys, low.ravel()).reshape(low.shape)
    inside = index < (np.arange(len(rows))[:, None] + 1) * rows.shape[1]
    return inside & (keys[np.minimum(index, len(keys) - 1)] <= high)
