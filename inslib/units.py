"""Physical constants and unit conversions used at the edges of the library.

Inside the library energies are in meV, momentum transfer in 1/Angstrom and temperatures
in K. Constants come from :mod:`scipy.constants` (CODATA), never typed by hand.
"""

import numpy as np
from scipy import constants as sc

#: meV per cm^-1 (h c / e, in meV cm).
MEV_PER_INVERSE_CM = sc.h * sc.c * 100.0 / sc.e * 1e3
#: meV per THz (h / e, in meV / THz).
MEV_PER_THZ = sc.h * 1e12 / sc.e * 1e3
#: E = NEUTRON_E_PER_K2 * k^2 with E in meV and k in 1/Angstrom (hbar^2 / 2 m_n).
NEUTRON_E_PER_K2 = sc.hbar**2 / (2.0 * sc.m_n) / sc.e * 1e3 * 1e20
#: Neutron speed per sqrt(energy): v (m/s) = NEUTRON_V_PER_SQRT_MEV sqrt(E / meV) (437.393,
#: PyChop's E2V).
NEUTRON_V_PER_SQRT_MEV = float(np.sqrt(2e-3 * sc.e / sc.m_n))

_TO_MEV = {
    "meV": 1.0,
    "cm^-1": MEV_PER_INVERSE_CM,
    "THz": MEV_PER_THZ,
}

#: Energy units accepted at the edges, with their Mantid unit IDs.
MANTID_ENERGY_UNITS = {"meV": "DeltaE", "cm^-1": "DeltaE_inWavenumber", "THz": "DeltaE"}


def energy_units() -> list[str]:
    """Return the energy units accepted at the edges of the library.

    Returns
    -------
    list of str
        Unit names: "meV", "cm^-1" and "THz".
    """
    return list(_TO_MEV)


def to_mev(values, unit: str) -> np.ndarray:
    """Convert energies to meV.

    Parameters
    ----------
    values : array_like, shape (...)
        Energies in ``unit``.
    unit : str
        One of :func:`energy_units`.

    Returns
    -------
    numpy.ndarray, shape (...)
        Energies in meV.
    """
    if unit not in _TO_MEV:
        msg = f"Unknown energy unit {unit!r}: use one of {energy_units()}."
        raise ValueError(msg)
    return np.asarray(values, dtype=float) * _TO_MEV[unit]


def from_mev(values, unit: str) -> np.ndarray:
    """Convert energies from meV to ``unit``.

    Parameters
    ----------
    values : array_like, shape (...)
        Energies in meV.
    unit : str
        One of :func:`energy_units`.

    Returns
    -------
    numpy.ndarray, shape (...)
        Energies in ``unit``.
    """
    if unit not in _TO_MEV:
        msg = f"Unknown energy unit {unit!r}: use one of {energy_units()}."
        raise ValueError(msg)
    return np.asarray(values, dtype=float) / _TO_MEV[unit]


def wavevector(energy_mev) -> np.ndarray:
    """Return the neutron wavevector for a kinetic energy.

    Parameters
    ----------
    energy_mev : array_like, shape (...)
        Neutron kinetic energy in meV (>= 0).

    Returns
    -------
    numpy.ndarray, shape (...)
        Wavevector k in 1/Angstrom.
    """
    return np.sqrt(np.asarray(energy_mev, dtype=float) / NEUTRON_E_PER_K2)
