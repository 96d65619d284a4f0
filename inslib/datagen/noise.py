"""Counting noise for training and tests: Poisson statistics plus a constant background.

Following Sable et al. (2026): a clean spectrum is scaled to a chosen total number of counts,
a constant background (a fraction of the mean signal per bin) is added in every covered bin,
each bin is drawn from a Poisson distribution, and the result is scaled back to the spectrum's
units. The levels form a grid of (background, counts) pairs (5 x 5 by default,
:data:`inslib.datagen.config.DEFAULT_BACKGROUNDS` x :data:`~inslib.datagen.config.DEFAULT_COUNTS`).
Torch, so that a training loop can apply it on the fly (CPU or GPU), seeded by a generator.
"""

import numpy as np


def noise_grid(backgrounds, counts) -> np.ndarray:
    """Every (background, counts) pair, shape (len(backgrounds) * len(counts), 2)."""
    b, c = np.meshgrid(np.asarray(backgrounds, float), np.asarray(counts, float), indexing="ij")
    return np.stack([b.ravel(), c.ravel()], axis=1)


def counting_variance(signal, unit):
    """Poisson variance of a signal of counts x ``unit``, floored at one count: c max(s, c).

    The errors a reduction gives (sqrt(N) of the counts N, scaled by the bin's normalisation
    c = signal per count), with an empty bin kept at one count's variance so that it still
    weighs (c^2 instead of 0).

    Parameters
    ----------
    signal : numpy.ndarray, shape map_shape
        Observed (or expected) signal, c x counts, any unit.
    unit : float or numpy.ndarray, shape map_shape
        Signal per count c (> 0), the same unit.

    Returns
    -------
    numpy.ndarray, shape map_shape
        Variance, unit squared.
    """
    return unit * np.maximum(signal, unit)


def poisson_noise(spectra, counts, background, generator=None, mask=None):
    """Noisy copies of spectra: Poisson counts at a total count plus a constant background.

    Parameters
    ----------
    spectra : torch.Tensor, shape (n, *shape)
        Clean spectra (>= 0; any unit, e.g. mbarn/meV per atom).
    counts : float or torch.Tensor, shape (n,)
        Expected total signal counts per spectrum (> 0).
    background : float or torch.Tensor, shape (n,)
        Background counts per covered bin as a fraction of the mean signal counts per bin.
    generator : torch.Generator, optional
        Seeded generator (same seed, same noise).
    mask : torch.Tensor of bool, shape ``shape``, optional
        True where a bin is not covered: no signal, no background, stays 0.

    Returns
    -------
    torch.Tensor, shape (n, *shape)
        In the spectra's unit: mean = spectra + background x mean covered signal; variance =
        mean x (sum of the spectrum / counts).
    """
    import torch

    spectra = torch.as_tensor(spectra)
    n = spectra.shape[0]
    covered = torch.ones(spectra.shape[1:], dtype=torch.bool, device=spectra.device)
    if mask is not None:
        covered = ~torch.as_tensor(mask, device=spectra.device)
    if not bool(covered.any()):
        msg = "mask: every bin is masked: there is nothing to add counting noise to"
        raise ValueError(msg)
    clean = torch.where(covered, spectra, 0.0).clamp_min(0.0)
    flat = clean.reshape(n, -1)
    total = flat.sum(dim=1).clamp_min(torch.finfo(clean.dtype).tiny)
    counts = torch.as_tensor(counts, dtype=clean.dtype, device=clean.device).expand(n)
    background = torch.as_tensor(background, dtype=clean.dtype, device=clean.device).expand(n)
    per_count = (total / counts).reshape(n, *([1] * (clean.ndim - 1)))  # spectrum unit / count
    mean_bin = (background * counts / covered.sum()).reshape(per_count.shape)
    expected = torch.where(covered, clean / per_count + mean_bin, 0.0)
    return torch.poisson(expected, generator=generator) * per_count


def noisy_levels(rng, n: int, backgrounds, counts) -> np.ndarray:
    """(background, counts) level of each of ``n`` spectra, drawn from the grid, (n, 2)."""
    grid = noise_grid(backgrounds, counts)
    return grid[rng.integers(len(grid), size=n)]
