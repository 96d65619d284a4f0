"""Phonon density of states from modes on a Monkhorst-Pack grid.

Partial DOS g_k(E) of atom k is the mode density weighted by |e_k|^2, normalised so that each
atom integrates to 3 (all branches), the total to 3 N. Neutron-weighted DOS weights atom k by
sigma_k / M_k (cross-section in barn, mass in amu).
"""

from dataclasses import dataclass

import numpy as np

from inslib.scattering.thermal import mp_grid


@dataclass
class DensityOfStates:
    """Partial densities of states on an energy grid.

    Attributes
    ----------
    energy : numpy.ndarray, shape (n_e,)
        Bin centres, meV.
    width : float
        Bin width, meV.
    partial : numpy.ndarray, shape (n_atoms, n_e)
        States per meV per atom (each row integrates to 3 over positive energies).
    n_imaginary : int
        Modes with imaginary frequency on the grid (left out).
    lowest : float
        Most negative (imaginary) mode energy found, meV (0 when none).
    """

    energy: np.ndarray
    width: float
    partial: np.ndarray
    n_imaginary: int = 0
    lowest: float = 0.0

    @property
    def total(self) -> np.ndarray:
        """Total DOS, states per meV per cell, shape (n_e,), integrates to 3 N."""
        return self.partial.sum(axis=0)

    def weighted(self, crystal, cross_section: str = "total") -> np.ndarray:
        """Neutron-weighted DOS sum_k sigma_k / M_k g_k, shape (n_e,), barn/amu per meV."""
        data = crystal.scattering
        sigma = {"coherent": data["sigma_coh"], "incoherent": data["sigma_inc"],
                 "total": data["sigma_coh"] + data["sigma_inc"]}[cross_section]
        return np.einsum("k,ke->e", sigma / crystal.masses, self.partial)


def grid_modes(model, grid, chunk: int = 4096):
    """Yield Modes on a Monkhorst-Pack grid in chunks."""
    q = mp_grid(grid)
    for start in range(0, len(q), chunk):
        yield model.modes(q[start:start + chunk])


def density_of_states(model, grid=(16, 16, 16), width: float = 0.1, e_max=None,
                      frequency_min: float = 0.01) -> DensityOfStates:
    """Partial DOS by histogramming grid modes into bins of ``width`` meV."""
    all_modes = list(grid_modes(model, grid))
    freqs = np.concatenate([m.frequencies[0].numpy() for m in all_modes])
    weights = np.concatenate([
        (np.abs(m.eigenvectors[0].numpy()) ** 2).sum(axis=-1) for m in all_modes])
    top = float(freqs.max()) * 1.05 if e_max is None else float(e_max)
    edges = np.arange(0.0, top + width, width)
    keep = freqs > frequency_min
    partial = np.stack([
        np.histogram(freqs[keep], edges, weights=weights[..., k][keep])[0]
        for k in range(model.n_atoms)]) / (len(freqs) * width)
    imaginary = freqs < -frequency_min
    lowest = float(freqs.min()) if imaginary.any() else 0.0
    return DensityOfStates(0.5 * (edges[1:] + edges[:-1]), width, partial,
                           int(imaginary.sum()), lowest)
