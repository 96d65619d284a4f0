"""Thermal factors: Bose occupation, detailed balance and the (anisotropic) Debye-Waller matrix.

Energies in meV, temperatures in K, Debye-Waller matrices W in Angstrom^2 with the convention
W_ab = <u_a u_b> / 2, so the amplitude factor of atom k is exp(-Q.W_k.Q) (intensity
exp(-2 Q.W.Q)).
"""

import math

import numpy as np
from scipy import constants

K_B = constants.k / constants.e * 1e3  # meV per K
# hbar^2 / (amu meV) in Angstrom^2
HBAR2_AMU_MEV = constants.hbar**2 / (constants.atomic_mass * constants.e * 1e-3) * 1e20


def check_temperature(temperature: float) -> float:
    """Refuse a negative or non-finite temperature (K)."""
    if not np.isfinite(temperature) or temperature < 0:
        msg = f"Temperature must be >= 0 K, got {temperature}"
        raise ValueError(msg)
    return float(temperature)


def bose(energy, temperature: float):
    """Bose occupation n(E) for energies (meV, any shape; 0 at T = 0 and for E <= 0)."""
    import torch

    energy = torch.as_tensor(energy)
    if temperature <= 0:
        return torch.zeros_like(energy)
    x = energy / (K_B * temperature)
    safe = torch.where(x > 0, x, torch.ones_like(x))
    return torch.where(x > 0, 1.0 / torch.expm1(safe), torch.zeros_like(x))


def mp_grid(size) -> np.ndarray:
    """Monkhorst-Pack grid of fractional q-points, shape (n1 n2 n3, 3), no Gamma for even n."""
    axes = [(2 * np.arange(1, n + 1) - n - 1) / (2 * n) for n in size]
    return np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T


def debye_waller(model, temperature: float, grid=(6, 6, 6), fc=None, frequency_min=0.01,
                 symmetrise: bool = True, chunk: int = 4096):
    """Debye-Waller matrices from the modes on a Monkhorst-Pack grid.

    Parameters
    ----------
    model : PhononModel
    temperature : float
        K.
    grid : tuple of int
        Monkhorst-Pack grid size.
    fc : torch.Tensor, optional, shape (n_sets, n_cells, 3N, 3N)
        Force-constant sets; the model's own by default.
    frequency_min : float
        Modes below this energy (meV, including imaginary ones) are left out.
    symmetrise : bool
        Average over the crystal's space-group operations.

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms, 3, 3)
        W in Angstrom^2.
    """
    temperature = check_temperature(temperature)
    q = mp_grid(grid)
    total = 0.0
    for start in range(0, len(q), chunk):
        modes = model.modes(q[start:start + chunk], fc)
        total = total + dw_sum(modes, temperature, frequency_min)
    w = dw_normalise(total, model.crystal.masses, len(q))
    return symmetrise_dw(w, model.crystal) if symmetrise else w


def dw_normalise(total, masses, n_q):
    """Debye-Waller matrices (Angstrom^2) from the weighted mode sum of :func:`dw_sum`."""
    import torch

    masses = torch.as_tensor(masses, dtype=total.dtype, device=total.device)
    return total * HBAR2_AMU_MEV / (4 * n_q * masses[None, :, None, None])


def dw_sum(modes, temperature, frequency_min, weights=None):
    """Sum over modes of coth(E/2kT)/E e e* per atom, shape (n_sets, n_atoms, 3, 3) (1/meV).

    ``weights`` (nq,) are q-point weights (1 each by default; they sum to the grid size).
    """
    import torch

    energy = modes.frequencies
    keep = energy > frequency_min
    safe = torch.where(keep, energy, torch.ones_like(energy))
    if temperature > 0:
        coth = 1.0 / torch.tanh(safe / (2 * K_B * temperature))
    else:
        coth = torch.ones_like(safe)
    factor = torch.where(keep, coth / safe, torch.zeros_like(safe))
    if weights is not None:
        factor = factor * torch.as_tensor(weights, dtype=factor.dtype,
                                          device=factor.device)[None, :, None]
    e = modes.eigenvectors
    outer = torch.einsum("sqm,sqmia,sqmib->siab", factor.to(e.dtype), e, e.conj())
    return outer.real


def symmetrise_dw(w, crystal):
    """Average W (n_sets, n_atoms, 3, 3) over the space-group operations of the crystal.

    The operations never swap atoms of other symbols or masses (:meth:`inslib.structure.
    Crystal.spglib_cell`): an isotope on an equivalent site keeps its own W.
    """
    import torch

    from inslib.structure import symmetry

    sym = symmetry(crystal)
    cart = crystal.cell.T @ sym.rotations @ np.linalg.inv(crystal.cell.T)
    result = torch.zeros_like(w)
    for rot, frac, trans in zip(cart, sym.rotations, sym.translations, strict=True):
        target = _atom_map(crystal, frac, trans)
        r = torch.as_tensor(rot, dtype=w.dtype, device=w.device)
        result[:, target] += r @ w @ r.T
    return result / len(cart)


def _atom_map(crystal, rotation, translation) -> np.ndarray:
    """Index of the atom each atom is sent to by a space-group operation, shape (n_atoms,)."""
    moved = crystal.positions @ rotation.T + translation
    diff = moved[:, None, :] - crystal.positions[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ crystal.cell, axis=-1)
    target = np.argmin(dist, axis=1)
    if np.max(dist[np.arange(len(target)), target]) > 1e-2 * math.sqrt(3):
        msg = "a symmetry operation does not map the crystal onto itself"
        raise ValueError(msg)
    return target
