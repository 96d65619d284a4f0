"""Incoherent approximation with multiphonon terms (Sjolander 1958; as in OCLIMAX).

For atom k with partial DOS g_k (3 states per atom) and isotropic mean-square displacement
u_k^2 = hbar^2/(2 M_k) int g_k(E)/(3E) coth(E/2kT) dE, the n-phonon term is

    S_n,k(Q, E) = sigma_k / (4 pi) exp(-Q^2 u_k^2) (Q^2 u_k^2)^n / n! T_n,k(E),

T_1 ~ g_k(|E|)/|E| (n(|E|) + 1 for E > 0, n(|E|) for E < 0) normalised to 1, T_n = T_1 * T_n-1.
Energies in meV (positive = neutron energy loss), |Q| in 1/Angstrom, S in mbarn/meV per atom.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from inslib.scattering.thermal import HBAR2_AMU_MEV, K_B

BARN_TO_MBARN = 1000.0


@dataclass
class MultiphononTerms:
    """The normalised n-phonon spectra of every atom.

    Attributes
    ----------
    energy : numpy.ndarray, shape (n_e,)
        Symmetric grid (meV) centred on 0, odd length.
    orders : numpy.ndarray, shape (max_order, n_atoms, n_e)
        T_n,k(E) per meV; each integrates to 1.
    msd : numpy.ndarray, shape (n_atoms,)
        Isotropic mean-square displacement u^2 (Angstrom^2).
    """

    energy: np.ndarray
    orders: np.ndarray
    msd: np.ndarray


def _thermal_one_phonon(dos, temperature: float, energy: np.ndarray) -> np.ndarray:
    """T_1 (unnormalised) of every atom on the symmetric grid, shape (n_atoms, n_e)."""
    absolute = np.abs(energy)
    g = np.stack([np.interp(absolute, dos.energy, row, left=0.0, right=0.0)
                  for row in dos.partial])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        base = np.where(absolute > 0, g / absolute, 0.0)
        if temperature > 0:
            occupation = 1.0 / np.expm1(absolute / (K_B * temperature))
            occupation = np.where(absolute > 0, occupation, 0.0)
        else:
            occupation = np.zeros_like(absolute)
    factor = np.where(energy > 0, occupation + 1.0, occupation)
    return base * factor[None]


def msd_from_dos(dos, crystal, temperature: float) -> np.ndarray:
    """Isotropic mean-square displacement per atom from the partial DOS, Angstrom^2 (n_atoms,)."""
    e = dos.energy
    coth = 1.0 / np.tanh(e / (2 * K_B * temperature)) if temperature > 0 else np.ones_like(e)
    integral = np.sum(dos.partial / 3.0 / e * coth, axis=1) * dos.width
    return HBAR2_AMU_MEV / (2 * crystal.masses) * integral


def multiphonon_terms(dos, crystal, temperature: float, max_order: int, e_limit: float,
                      step: float | None = None, creation_only: bool = False
                      ) -> MultiphononTerms:
    """T_n for n = 1..max_order on a grid covering +-e_limit meV (plus the phonon band).

    ``creation_only``: build the n >= 2 terms from phonon creation alone (the E > 0 part of
    T_1), OCLIMAX's "0 -> n" convention. The default is the complete expansion, where an
    n-phonon process may also annihilate thermal phonons (it obeys detailed balance; at
    room temperature it puts noticeably more weight in the n >= 2 terms).
    """
    step = step or dos.width
    half = math.ceil((e_limit + dos.energy[-1] * max_order) / step)
    energy = np.arange(-half, half + 1) * step
    one = _thermal_one_phonon(dos, temperature, energy)
    one /= one.sum(axis=1, keepdims=True) * step
    base = np.where(energy[None] > 0, one, 0.0) if creation_only else one
    orders, previous = [one], base
    for _ in range(1, max_order):
        previous = np.stack([np.clip(fftconvolve(a, b, mode="same") * step, 0.0, None)
                             for a, b in zip(previous, base, strict=True)])
        orders.append(previous)
    return MultiphononTerms(energy, np.stack(orders), msd_from_dos(dos, crystal, temperature))


def order_weights(terms: MultiphononTerms, q) -> np.ndarray:
    """Weights exp(-Q^2 u^2) (Q^2 u^2)^n / n! at |Q| = q: shape (max_order, n_atoms, *q.shape)."""
    q = np.asarray(q, dtype=float)
    x = q[None, ...] ** 2 * terms.msd.reshape((-1,) + (1,) * q.ndim)
    n = np.arange(1, len(terms.orders) + 1).reshape((-1,) + (1,) * (q.ndim + 1))
    log_w = -x[None] + n * np.log(np.where(x > 0, x, 1e-300))[None] - np.vectorize(
        math.lgamma)(n + 1)
    return np.where(x[None] > 0, np.exp(log_w), 0.0)


def incoherent_sqe(terms: MultiphononTerms, crystal, q, sigma_one, sigma_multi, energy=None):
    """S_inc(|Q|, E) per atom, summed over orders, on the terms' grid or at ``energy``.

    Parameters
    ----------
    q : numpy.ndarray, shape (n_q,)
        |Q| in 1/Angstrom.
    sigma_one, sigma_multi : numpy.ndarray, shape (n_atoms,)
        Cross-sections (barn) for the one-phonon and the n >= 2 terms.
    energy : numpy.ndarray, optional, shape (n_e,)
        Energies (meV) to interpolate the spectra to (the terms' grid when None).

    Returns
    -------
    numpy.ndarray, shape (n_q, n_e)
        mbarn/meV per atom.
    """
    weights = order_weights(terms, q)  # (n_orders, n_atoms, n_q)
    sigma = np.stack([sigma_one] + [sigma_multi] * (len(terms.orders) - 1))  # (n_orders, n_atoms)
    scale = sigma * BARN_TO_MBARN / (4 * math.pi) / crystal.n_atoms
    orders = terms.orders
    if energy is not None:
        orders = np.stack([[np.interp(energy, terms.energy, row) for row in order]
                           for order in orders])
    coefficients = (scale[:, :, None] * weights).reshape(-1, len(q))  # (orders*atoms, n_q)
    return coefficients.T @ orders.reshape(-1, orders.shape[-1])
