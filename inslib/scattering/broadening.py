"""Energy (or |Q|) resolution: bin-averaged Gaussians of variable width.

A delta function at x with weight w, broadened by a Gaussian of standard deviation sigma(x),
contributes to the output bin [a, b] its exact average w (Phi((b-x)/s) - Phi((a-x)/s)) / (b-a).
Spectra are first accumulated on a fine grid; the kernel then maps fine points to output bins.
"""

import math

import numpy as np
from scipy.special import erf

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def bin_kernel(points, sigma, edges) -> np.ndarray:
    """Matrix mapping weights at points to bin averages (per unit x) in the output bins.

    Parameters
    ----------
    points : numpy.ndarray, shape (n_points,)
        Positions of the (fine-grid) weights, same unit as ``edges``.
    sigma : numpy.ndarray, shape (n_points,)
        Gaussian standard deviation at each point (0 = no broadening: plain binning).
    edges : numpy.ndarray, shape (n_bins + 1,)
        Output bin edges, ascending.

    Returns
    -------
    numpy.ndarray, shape (n_bins, n_points)
        K such that ``K @ weights`` is the density (weight per unit x) averaged over each bin.
    """
    points = np.asarray(points, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), points.shape)
    edges = np.asarray(edges, dtype=float)
    safe = np.where(sigma > 0, sigma, 1.0)
    z = (edges[:, None] - points[None, :]) / (math.sqrt(2.0) * safe[None, :])
    cdf = 0.5 * (1.0 + erf(z))
    sharp = (edges[:, None] >= points[None, :]).astype(float)
    cdf = np.where(sigma[None, :] > 0, cdf, sharp)
    return np.diff(cdf, axis=0) / np.diff(edges)[:, None]
