"""Put a predicted intrinsic map on a template: temperature, resolution, bins, |Q| range.

A predicted intrinsic map S0(|Q|, E) (:mod:`inslib.ml.map_data`: coherent one-phonon, energy
loss, 0 K, Gaussian FWHM ``INTRINSIC_FWHM``, mbarn/meV per atom) becomes the coherent one-phonon
term of a powder map at temperature T on a template:

- |Q|: linear interpolation at the template's |Q| bin centres;
- Bose factor and detailed balance: S0 x (n(E) + 1) at +E and S0 x n(E) at -E
  (:func:`inslib.scattering.thermal.bose`);
- Debye-Waller: S0 x exp(-Q^2 (u^2(T) - u^2(0))), u^2 the mean-square displacement along one
  direction averaged over the atoms with their coherent cross-sections as weights, from the
  predicted partial DOS (the one-phonon term of atoms i and j carries exp(-W_i - W_j); a
  single mean is the approximation);
- energy resolution: each intrinsic bin's content is a Gaussian of variance
  sigma_T(E)^2 - sigma_0^2 + dE^2 / 12 (the template's resolution less the intrinsic one, plus
  the spread within the bin) binned on the template's energy bins
  (:func:`inslib.scattering.binning.bin_kernel`).

The result is bin averages of mbarn/meV per atom, as the simulations' coherent term.
"""

import numpy as np

from inslib.ml.map_data import INTRINSIC_FWHM
from inslib.scattering.binning import FWHM_TO_SIGMA, bin_kernel


def interpolate_q(intrinsic: np.ndarray, q_edges0: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Intrinsic maps at |Q| values by linear interpolation along |Q| (ends held).

    Parameters
    ----------
    intrinsic : numpy.ndarray, shape (n_sets, n_q0, n_e0)
    q_edges0 : numpy.ndarray, shape (n_q0 + 1,)
        Intrinsic |Q| bin edges, 1/Angstrom.
    q : numpy.ndarray, shape (n_q,)
        1/Angstrom.

    Returns
    -------
    numpy.ndarray, shape (n_sets, n_q, n_e0)
    """
    centres = 0.5 * (q_edges0[1:] + q_edges0[:-1])
    pos = np.clip(np.interp(q, centres, np.arange(len(centres))), 0, len(centres) - 1)
    low = np.minimum(np.floor(pos).astype(int), len(centres) - 2)
    frac = (pos - low)[None, :, None]
    return intrinsic[:, low] * (1 - frac) + intrinsic[:, low + 1] * frac


def energy_kernel(e_edges0: np.ndarray, e_edges: np.ndarray, resolution) -> np.ndarray:
    """Matrix from intrinsic energy bins (loss, then gain) to the template's energy bins.

    Parameters
    ----------
    e_edges0 : numpy.ndarray, shape (n_e0 + 1,)
        Intrinsic energy bin edges (>= 0, uniform), meV.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Template energy-transfer bin edges, meV.
    resolution : inslib.scattering.binning.Resolution
        The template's Gaussian sigma(E), meV.

    Returns
    -------
    numpy.ndarray, shape (n_e, 2 n_e0)
        K such that K @ [weights at +E0; weights at -E0] (mbarn per atom) are bin-averaged
        densities (mbarn/meV per atom).
    """
    import torch

    centres = 0.5 * (e_edges0[1:] + e_edges0[:-1])
    points = np.concatenate([centres, -centres])
    sigma_t = resolution(torch.as_tensor(points, dtype=torch.float64)).numpy()
    sigma0 = INTRINSIC_FWHM * FWHM_TO_SIGMA
    variance = np.clip(sigma_t**2 - sigma0**2, 0.0, None) + np.diff(e_edges0)[0] ** 2 / 12.0
    return bin_kernel(points, np.sqrt(variance), e_edges)


def thermal_weights(e_edges0: np.ndarray, temperature: float) -> np.ndarray:
    """(n(E) + 1) at the intrinsic energies, then n(E) (gain side), shape (2 n_e0,)."""
    from inslib.scattering.thermal import bose

    centres = 0.5 * (e_edges0[1:] + e_edges0[:-1])
    n = bose(centres, temperature).numpy()
    return np.concatenate([n + 1.0, n])


def coherent_on_template(intrinsic: np.ndarray, grid: tuple, template, resolution,
                         temperature: float, extra_msd: np.ndarray) -> np.ndarray:
    """Coherent one-phonon term of each set on a template (see the module docstring).

    Parameters
    ----------
    intrinsic : numpy.ndarray, shape (n_sets, n_q0, n_e0)
        Intrinsic maps, mbarn/meV per atom.
    grid : tuple of numpy.ndarray
        Intrinsic |Q| (1/Angstrom) and energy (meV) bin edges.
    template : inslib.histogram.Histogram
        Axes |Q| (1/Angstrom) and E (meV).
    resolution : inslib.scattering.binning.Resolution
    temperature : float
        K.
    extra_msd : numpy.ndarray, shape (n_sets,)
        u^2(T) - u^2(0 K), Angstrom^2 (one direction, cross-section weighted).

    Returns
    -------
    numpy.ndarray, shape (n_sets, n_q, n_e)
        mbarn/meV per atom, bin averages (unmasked).
    """
    q_edges0, e_edges0 = grid
    q = template.axes[0].centres
    at_q = interpolate_q(intrinsic, q_edges0, q) * np.diff(e_edges0)[0]  # mbarn per atom
    both = np.concatenate([at_q, at_q], axis=2) * thermal_weights(e_edges0, temperature)
    debye_waller = np.exp(-(q[None, :] ** 2) * extra_msd[:, None])[..., None]
    kernel = energy_kernel(e_edges0, template.axes[1].edges, resolution)
    return (both * debye_waller) @ kernel.T

