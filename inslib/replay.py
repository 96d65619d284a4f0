"""Replay of a live measurement: counts accumulating chunk by chunk, as StartLiveData sees them.

A full run's counts are drawn once and split into equal exposures, so every accumulated chunk is
a valid Poisson measurement of a fraction of the run and the last chunk is the whole run.
Used by the comparison replay test and, later, by the inversion replay.
"""

import copy
from dataclasses import replace

import numpy as np

from inslib.histogram import Histogram


def accumulating_chunks(expected_counts: np.ndarray, n_chunks: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Accumulated counts after each of ``n_chunks`` equal exposures of one simulated run.

    The run's counts N ~ Poisson(expected_counts) are drawn once; each count then falls in one
    of the n_chunks exposures with equal probability (Poisson thinning, drawn as successive
    binomials). Chunk k (0-based) accumulates the first k + 1 exposures: it is Poisson with
    mean (k + 1) / n_chunks * expected_counts, and the chunks are nested as in a live run.

    Parameters
    ----------
    expected_counts : numpy.ndarray, shape (...)
        Expected counts of the whole run per bin, finite and >= 0 (0 in uncovered bins).
    n_chunks : int
        Number of equal exposures, >= 1.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    numpy.ndarray of int64, shape (n_chunks, ...)
        Accumulated counts; the last entry is the whole run, entries never decrease.
    """
    expected = np.asarray(expected_counts, dtype=float)
    if not (np.isfinite(expected).all() and (expected >= 0).all()):
        msg = "expected_counts must be finite and >= 0 everywhere (use 0 in uncovered bins)"
        raise ValueError(msg)
    if n_chunks < 1:
        msg = f"n_chunks must be >= 1, got {n_chunks}"
        raise ValueError(msg)
    remaining = rng.poisson(expected)
    increments = np.empty((n_chunks, *expected.shape), dtype=np.int64)
    for k in range(n_chunks - 1):
        increments[k] = rng.binomial(remaining, 1.0 / (n_chunks - k))
        remaining = remaining - increments[k]
    increments[-1] = remaining
    return np.cumsum(increments, axis=0)


def counts_histogram(template: Histogram, counts: np.ndarray, exposure: float) -> Histogram:
    """Build a measured map from accumulated counts: normalised to the exposure, Poisson errors.

    Parameters
    ----------
    template : Histogram
        Bins, mask and metadata of the measurement, shape (nQ, nE).
    counts : numpy.ndarray, shape (nQ, nE)
        Accumulated counts.
    exposure : float
        Counts per unit of signal in this chunk: the whole run's counts per unit of signal
        times the fraction of the run accumulated ((k + 1) / n_chunks for chunk k).

    Returns
    -------
    Histogram
        signal = counts / exposure, variance = counts / exposure^2 (Poisson), NaN where masked.
    """
    signal = np.where(template.mask, np.nan, counts / exposure)
    variance = np.where(template.mask, 0.0, counts / exposure**2)
    return replace(template, signal=signal, variance=variance, mask=template.mask.copy(),
                   metadata=copy.deepcopy(template.metadata))
