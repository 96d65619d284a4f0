"""From per-q-point MD spectra to a powder map (or path, or bank spectra) on a template's bins.

Steps: average S(q, E) over the q-points of each |Q| bin (or path bin); mirror the classical
spectrum to E < 0 (S_cl is even); multiply by the quantum correction Q(E); then deposit each
energy point E_k, weight S(E_k) dE, as a Gaussian bin average on the template's energy bins
(:func:`inslib.scattering.binning.bin_kernel`). The Gaussian's variance is the instrument's
sigma_res(E)^2 less the variance the MD time taper already gave (sigma_taper^2), at least 0.
"""

import numpy as np

from inslib.md.quantum import correction_factor
from inslib.scattering.binning import bin_kernel


def bin_average(*, values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Mean of per-q-point rows over each |Q| bin; NaN rows for bins without q-points.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_q, n_w)
        Any per-q-point quantity (here mbarn/meV per atom).
    bins : numpy.ndarray of int, shape (n_q,)
        Bin of each q-point, 0 <= bin < n_bins.
    n_bins : int

    Returns
    -------
    numpy.ndarray, shape (n_bins, n_w)
    """
    total = np.zeros((n_bins, values.shape[1]))
    np.add.at(total, bins, values)
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts[:, None]


def mirror(*, energy: np.ndarray, spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extend an even spectrum given on E >= 0 to -E_max..E_max.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        0, dE, 2 dE, ... meV.
    spectrum : numpy.ndarray, shape (n_rows, n_w)

    Returns
    -------
    (numpy.ndarray, shape (2 n_w - 1,), numpy.ndarray, shape (n_rows, 2 n_w - 1))
        Energies (meV, ascending) and S(-E) = S(E).
    """
    return (np.concatenate([-energy[:0:-1], energy]),
            np.concatenate([spectrum[:, :0:-1], spectrum], axis=1))


def resample(*, energy: np.ndarray, spectrum: np.ndarray, e_edges: np.ndarray,
             sigma: np.ndarray) -> np.ndarray:
    """Bin averages on ``e_edges`` of a density sampled on a uniform energy grid, broadened.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        Uniform grid, meV.
    spectrum : numpy.ndarray, shape (n_rows, n_w)
        Density per meV at each grid energy.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Output bin edges, meV.
    sigma : numpy.ndarray, shape (n_w,)
        Gaussian standard deviation at each grid energy, meV (0 = plain binning).

    Returns
    -------
    numpy.ndarray, shape (n_rows, n_e)
        Density per meV averaged over each output bin (weights S(E_k) dE conserved).
    """
    step = float(energy[1] - energy[0])
    kernel = bin_kernel(energy, sigma, e_edges)  # (n_e, n_w)
    return np.nan_to_num(spectrum) @ kernel.T * step


def corrected(*, energy: np.ndarray, rows: np.ndarray, temperature: float,
              correction: str) -> tuple[np.ndarray, np.ndarray]:
    """Mirror classical rows to E < 0 and apply the quantum correction.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        MD energy grid from 0, meV.
    rows : numpy.ndarray, shape (n_rows, n_w)
        Classical S(E), mbarn/meV per atom.
    temperature : float
        K (used by the correction).
    correction : str
        One of :data:`inslib.md.quantum.CORRECTIONS`.

    Returns
    -------
    (numpy.ndarray, shape (2 n_w - 1,), numpy.ndarray, shape (n_rows, 2 n_w - 1))
        Energies (meV, ascending) and Q(E) S_cl(E), mbarn/meV per atom.
    """
    full_e, full = mirror(energy=energy, spectrum=rows)
    return full_e, full * correction_factor(energy=full_e, temperature=temperature,
                                            kind=correction)


def broadened(*, energy: np.ndarray, rows: np.ndarray, e_edges: np.ndarray, resolution_sigma,
              taper_sigma: float) -> np.ndarray:
    """Bin averages on ``e_edges`` with the instrument resolution less the taper's broadening.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        Uniform energy grid, meV.
    rows : numpy.ndarray, shape (n_rows, n_w)
        mbarn/meV per atom; NaN counts as 0.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Template energy edges, meV.
    resolution_sigma : callable
        Instrument Gaussian sigma (meV) at energies (meV), numpy in and out.
    taper_sigma : float
        Broadening already in ``rows`` (meV, Gaussian sigma).

    Returns
    -------
    numpy.ndarray, shape (n_rows, n_e)
        mbarn/meV per atom.
    """
    sigma = np.sqrt(np.maximum(np.asarray(resolution_sigma(energy)) ** 2 - taper_sigma**2, 0.0))
    return resample(energy=energy, spectrum=rows, e_edges=e_edges, sigma=sigma)


def powder_map(*, energy: np.ndarray, spectra: np.ndarray, bins: np.ndarray, n_bins: int,
               e_edges: np.ndarray, resolution_sigma, taper_sigma: float, temperature: float,
               correction: str) -> np.ndarray:
    """Powder S(|Q|, E) (or S along path bins) on a template from per-q-point classical spectra.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        MD energy grid from 0, meV.
    spectra : numpy.ndarray, shape (n_q, n_w)
        Classical S(q, E), mbarn/meV per atom.
    bins : numpy.ndarray of int, shape (n_q,)
        Row (|Q| bin or path bin) of each q-point.
    n_bins : int
        Rows of the template.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Template energy edges, meV.
    resolution_sigma : callable
        Instrument Gaussian sigma (meV) at energies (meV), numpy in and out.
    taper_sigma : float
        Broadening already in ``spectra`` (meV, Gaussian sigma).
    temperature : float
        K (used by the correction).
    correction : str
        One of :data:`inslib.md.quantum.CORRECTIONS`.

    Returns
    -------
    numpy.ndarray, shape (n_bins, n_e)
        mbarn/meV per atom; NaN rows for bins without q-points.
    """
    full_e, full = corrected(energy=energy, rows=bin_average(values=spectra, bins=bins,
                                                             n_bins=n_bins),
                             temperature=temperature, correction=correction)
    result = broadened(energy=full_e, rows=full, e_edges=e_edges,
                       resolution_sigma=resolution_sigma, taper_sigma=taper_sigma)
    result[~np.isfinite(full).all(axis=1)] = np.nan
    return result
