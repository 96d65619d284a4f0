"""Accessible (|Q|, E) region of direct- and indirect-geometry spectrometers.

For a bank covering scattering angles [t_lo, t_hi] and energy transfers [e0, e1],
Q^2 = k_fix^2 + k^2 - 2 k_fix k cos(2 theta), where k_fix is the fixed wavevector (ki in
direct geometry, kf in indirect) and k the other one, which varies with E. Q grows with the
angle, and Q^2 is a convex quadratic in k, so over the bin's energies the bank reaches exactly
[min_k Q(k, t_lo), max_k Q(k, t_hi)]: the minimum is at the clamped stationary point
k* = k_fix cos(t_lo), the maximum at an end. A bin is covered when its |Q| range overlaps that
interval for some bank: the test is exact, with no sampling inside the bin.
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
