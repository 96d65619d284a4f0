"""Poisson error model: weights from the fitted model instead of the measured counts.

A reduction's errors are sqrt(N) of the *observed* counts N (times the bin's normalisation c:
signal = c N, error = c sqrt(N)), so a downward fluctuation gets a larger weight than an upward
one (Neyman's chi^2); at tens of counts per bin that biases the fit and makes its sigmas too
small (benchmarks/bench_inversion.py's 5 x 5 noise grid, 100 fits: 1-sigma coverage 0.668 with
the observed-count errors, 0.714 with this model; docs/validation.md). With
``ErrorModel=Poisson`` the fit is repeated with the variance c x (the fitted model), floored
at one count (c^2; :func:`inslib.datagen.noise.counting_variance`), the normalisation of each
bin read from the data as c = error^2 / signal (c = error where nothing was counted). This holds for
count-like data (normalised counts without subtraction); a background-subtracted workspace
breaks the c estimate: keep ``ErrorModel=Data`` for those. Below ~10 counts per bin neither
weighting is honest (the Gaussian misfit itself fails; a Poisson likelihood would be needed):
tests/unit/inversion/test_gradient.py measures both.
"""

from dataclasses import replace

import numpy as np

from inslib.datagen.noise import counting_variance

REWEIGHTINGS = 2  # refits with the model's variance (the weights settle after the first)


def count_unit(signal: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Signal per count of each bin, c = error^2 / signal (error where signal <= 0).

    Parameters
    ----------
    signal, errors : numpy.ndarray, shape map_shape
        Measured values and one-sigma errors (measured units).

    Returns
    -------
    numpy.ndarray, shape map_shape
        Measured units per count (> 0 where errors > 0).
    """
    counted = signal > 0
    return np.where(counted, errors**2 / np.where(counted, signal, 1.0), errors)


def model_errors(unit: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """One-sigma errors sqrt(c max(model, c)) of Poisson counts whose mean is the model.

    Parameters
    ----------
    unit : numpy.ndarray, shape map_shape
        Measured units per count (:func:`count_unit`).
    fitted : numpy.ndarray, shape map_shape
        Fitted model, scale x model + background, measured units.

    Returns
    -------
    numpy.ndarray, shape map_shape
        Measured units; at least one count's worth (c).
    """
    return np.sqrt(counting_variance(fitted, unit))


def reweighted_fit(problem, fit, background: bool, refit):
    """Refit with the Poisson variance of the previous fit's model, REWEIGHTINGS times.

    Parameters
    ----------
    problem : inslib.inversion.problem.Problem
        With the measured errors (``problem.data.weighted`` must be True).
    fit : inslib.inversion.gradient.GradientFit
        A fit of ``problem`` (the start of the first refit).
    background : bool
        Fit a flat background.
    refit : callable
        refit(problem, u) -> GradientFit from fit variables u (a warm start).

    Returns
    -------
    GradientFit
        On the problem whose errors are the model's Poisson errors.
    """
    data = problem.data
    unit = count_unit(data.signal, data.errors)
    for _ in range(REWEIGHTINGS):
        errors = np.where(data.use, model_errors(unit, fit.model), 1.0)
        problem = replace(problem, data=replace(data, errors=errors))
        fit = refit(problem, fit.u)
    return fit
