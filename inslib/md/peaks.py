"""Mode energies and widths from classical MD spectra at single q-points.

E^2 times the classical S(q, E) weights each one-phonon mode by |Q.e|^2 alone (harmonic:
S_cl = kT |Q.e|^2 / (M w^2) per mode), so its maximum is the mode of largest |Q.e|^2: the
longitudinal one along high-symmetry directions in the first zone.
"""

import numpy as np
from scipy.signal import peak_widths


def strongest_mode(*, energy: np.ndarray, spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy and FWHM of the strongest mode of E^2 S_cl(q, E) at each q.

    The peak is refined between grid points by the parabola through the maximum and its two
    neighbours; the FWHM is measured on the grid (scipy's peak_widths, linear interpolation).

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        Uniform energy grid from 0, meV.
    spectra : numpy.ndarray, shape (n_q, n_w)
        Classical S(q, E) (any unit), E >= 0; the maximum must not be at either end.

    Returns
    -------
    (numpy.ndarray, shape (n_q,), numpy.ndarray, shape (n_q,))
        Peak energies and full widths at half maximum, meV.
    """
    current = spectra * energy**2
    peaks = current.argmax(axis=1)
    rows = np.arange(len(peaks))
    left, mid, right = current[rows, peaks - 1], current[rows, peaks], current[rows, peaks + 1]
    offset = 0.5 * (left - right) / (left - 2 * mid + right)
    step = float(energy[1] - energy[0])
    widths = np.array([peak_widths(row, [peak])[0][0] for row, peak in zip(current, peaks,
                                                                           strict=True)])
    return energy[0] + (peaks + offset) * step, widths * step
