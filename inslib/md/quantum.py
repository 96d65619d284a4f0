"""Quantum corrections of a classical MD spectrum: detailed balance from symmetric S_cl(Q,E).

Classical MD gives S_cl(Q,E) = S_cl(Q,-E) (even in energy). A correction factor Q(E) makes
S(Q,E) = Q(E) S_cl(Q,E) obey detailed balance, S(Q,-E) = exp(-E / kT) S(Q,E), with E > 0 the
neutron's energy loss (phonon creation):

- ``StokesRaman`` (harmonic correction, as Lindgren et al. 2025):
  Q(E) = beta E / (1 - exp(-beta E)), exact for a harmonic crystal;
- ``DetailedBalance`` (Schofield's symmetric correction): Q(E) = exp(beta E / 2);
- ``None``: Q(E) = 1 (the classical, symmetric spectrum).

beta = 1 / (k_B T). Both corrections give Q(E) / Q(-E) = exp(beta E) and Q(0) = 1.
"""

import numpy as np

from inslib.scattering.thermal import K_B

CORRECTIONS = ("StokesRaman", "DetailedBalance", "None")


def stokes_raman_factor(*, energy: np.ndarray, temperature: float) -> np.ndarray:
    """Harmonic quantum correction beta E / (1 - exp(-beta E)), 1 at E = 0.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n,)
        Energy transfer, meV (> 0: neutron energy loss).
    temperature : float
        K, > 0.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Dimensionless factor; tends to beta E for E >> kT and to 0 for E << -kT.
    """
    x = np.asarray(energy, dtype=float) / (K_B * temperature)
    small = np.abs(x) < 1e-8  # x / (1 - exp(-x)) = 1 + x / 2 + O(x^2)
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 + x / 2, safe / -np.expm1(-safe))


def detailed_balance_factor(*, energy: np.ndarray, temperature: float) -> np.ndarray:
    """Schofield's symmetric correction exp(beta E / 2).

    Parameters
    ----------
    energy : numpy.ndarray, shape (n,)
        Energy transfer, meV.
    temperature : float
        K, > 0.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Dimensionless factor.
    """
    return np.exp(np.asarray(energy, dtype=float) / (2 * K_B * temperature))


def correction_factor(*, energy: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Q(E) of one of :data:`CORRECTIONS` (see the module docstring), shape of ``energy``.

    ``energy`` in meV, ``temperature`` in K (> 0 unless ``kind`` is "None").
    """
    if kind == "None":
        return np.ones_like(np.asarray(energy, dtype=float))
    if kind == "StokesRaman":
        return stokes_raman_factor(energy=energy, temperature=temperature)
    if kind == "DetailedBalance":
        return detailed_balance_factor(energy=energy, temperature=temperature)
    msg = f"QuantumCorrection={kind!r}: give one of {', '.join(CORRECTIONS)}"
    raise ValueError(msg)
