"""Phonon density of states from modes on a Monkhorst-Pack grid.

Partial DOS g_k(E) of atom k is the mode density weighted by |e_k|^2, normalised so that each
atom integrates to 3 (all branches), the total to 3 N. Neutron-weighted DOS weights atom k by
sigma_k / M_k (cross-section in barn, mass in amu).

A finite mesh samples the acoustic branches only at a few low energies, and the incoherent
one-phonon term g(E)/E (times kT/E at high temperature) amplifies that noise. ``regularise``
therefore (1) smooths the histogram with a Gaussian of sigma = E_max / (4 n), n the mesh size,
and (2) below E_c = E_max / n, the energy of one mesh step on a zone-boundary scale, replaces
it by the Debye law g = a E^2 holding the same number of states.
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
    lowest_q : numpy.ndarray or None, shape (3,)
        Fractional q of that mode (None when there is no imaginary mode).
    """

    energy: np.ndarray
    width: float
    partial: np.ndarray
    n_imaginary: int = 0
    lowest: float = 0.0
    lowest_q: np.ndarray | None = None

    @property
    def total(self) -> np.ndarray:
        """Total DOS, states per meV per cell, shape (n_e,), integrates to 3 N."""
        return self.partial.sum(axis=0)

    def weighted(self, crystal, cross_section: str = "total") -> np.ndarray:
        """Neutron-weighted DOS per atom of sample, mbarn/meV, shape (n_e,).

        sum_k sigma_k (<M> / M_k) g_k / N: the one-phonon intensity weight of each atom
        (cross-section over mass), scaled by the mean mass so that a monatomic crystal gives
        sigma times its DOS per atom (euphonic's convention for weighted PDOS).
        """
        return weighted_dos(self.partial, crystal, cross_section)


def weighted_dos(partial: np.ndarray, crystal, cross_section: str = "total") -> np.ndarray:
    """Neutron-weighted DOS (mbarn/meV per atom) from partial DOS (n_atoms, n_e).

    See :meth:`DensityOfStates.weighted`; ``cross_section``: "coherent", "incoherent",
    "total".
    """
    data = crystal.scattering
    sigma = {"coherent": data["sigma_coh"], "incoherent": data["sigma_inc"],
             "total": data["sigma_coh"] + data["sigma_inc"]}[cross_section] * 1000.0
    factor = sigma * crystal.masses.mean() / crystal.masses / crystal.n_atoms
    return np.einsum("k,ke->e", factor, partial)


def grid_modes(model, grid, chunk: int = 4096):
    """Yield Modes on a Monkhorst-Pack grid in chunks."""
    q = mp_grid(grid)
    for start in range(0, len(q), chunk):
        yield model.modes(q[start:start + chunk])


def regularise(partial: np.ndarray, energy: np.ndarray, width: float, e_max: float,
               grid: int) -> np.ndarray:
    """Smooth and Debye-extrapolate a mesh DOS (see the module notes), shape kept (n_atoms, n_e)."""
    from scipy.ndimage import gaussian_filter1d

    sigma = e_max / (4 * grid) / width
    mirrored = np.concatenate([partial[:, ::-1], partial], axis=1)  # even about E = 0
    smooth = gaussian_filter1d(mirrored, sigma, axis=1)[:, partial.shape[1]:]
    cut = energy < e_max / grid
    states = smooth[:, cut].sum(axis=1) * width
    debye = states[:, None] * 3 * energy[cut] ** 2 / (e_max / grid) ** 3
    smooth[:, cut] = debye
    return smooth


def histogram_pdos(freqs, atom_weights, edges, q_weights=None, frequency_min: float = 0.01):
    """Partial DOS by histogramming modes.

    Parameters
    ----------
    freqs : numpy.ndarray, shape (nq, n_modes)
        Mode energies, meV (modes at or below ``frequency_min`` are left out).
    atom_weights : numpy.ndarray, shape (nq, n_modes, n_atoms)
        |e_k|^2 of every mode on every atom.
    edges : numpy.ndarray, shape (n_e + 1,)
        Energy bin edges, meV.
    q_weights : numpy.ndarray, optional, shape (nq,)
        q-point weights (equal by default), any normalisation.

    Returns
    -------
    numpy.ndarray, shape (n_atoms, n_e)
        States per meV per atom; each row integrates to 3 over all modes kept.
    """
    q_weights = np.ones(len(freqs)) if q_weights is None else np.asarray(q_weights, float)
    q_weights = q_weights / q_weights.sum()
    keep = freqs > frequency_min
    weight = atom_weights * q_weights[:, None, None]
    partial = np.stack([np.histogram(freqs[keep], edges, weights=weight[..., k][keep])[0]
                        for k in range(atom_weights.shape[-1])])
    return partial / np.diff(edges)[None, :]


def density_of_states(model, grid=(16, 16, 16), width: float = 0.1, e_max=None,
                      frequency_min: float = 0.01, smooth: bool = True) -> DensityOfStates:
    """Partial DOS by histogramming grid modes into bins of ``width`` meV (regularised)."""
    all_modes = list(grid_modes(model, grid))
    freqs = np.concatenate([m.frequencies[0].cpu().numpy() for m in all_modes])
    weights = np.concatenate([
        (np.abs(m.eigenvectors[0].cpu().numpy()) ** 2).sum(axis=-1) for m in all_modes])
    top = float(freqs.max()) * 1.05 if e_max is None else float(e_max)
    edges = np.arange(0.0, top + width, width)
    partial = histogram_pdos(freqs, weights, edges, frequency_min=frequency_min)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if smooth and freqs.max() > frequency_min:
        partial = regularise(partial, centres, width, float(freqs.max()), min(grid))
    imaginary = freqs < -frequency_min
    lowest = float(freqs.min()) if imaginary.any() else 0.0
    where = mp_grid(grid)[np.unravel_index(np.argmin(freqs), freqs.shape)[0]]
    return DensityOfStates(centres, width, partial, int(imaginary.sum()), lowest,
                           where if imaginary.any() else None)
