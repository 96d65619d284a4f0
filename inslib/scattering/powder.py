"""Powder averaging of the coherent one-phonon S(Q, E) onto |Q| bins.

Each |Q| bin is sampled on ``n_shells`` shells at the midpoints of equal sub-intervals (so the
result is the bin average, not the centre value), each shell with ``n_directions`` points of a
Fibonacci sphere turned by a seeded random rotation. Mode intensities (times n+1 at +E and n at
-E) are accumulated on a fine energy grid; resolution and binning are applied afterwards.
Two interleaved halves of the directions are kept apart, so the relative difference between
them, after resolution and binning, estimates the sampling error (:func:`convergence`).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from inslib.scattering.coherent import coherent_structure_factor
from inslib.scattering.thermal import bose


@dataclass
class PowderSampling:
    """How the sphere of each |Q| is sampled (n_shells per bin, n_directions per shell)."""

    n_shells: int = 2
    n_directions: int = 500
    seed: int = 0
    chunk: int = 20000


def fibonacci_sphere(n: int) -> np.ndarray:
    """N nearly uniform unit vectors, shape (n, 3)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = math.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar),
                     np.cos(polar)], axis=1)


def shell_vectors(q_edges, sampling: PowderSampling):
    """Cartesian Q (1/Angstrom) of every sample point and its |Q| bin.

    Returns
    -------
    vectors : numpy.ndarray, shape (n_bins * n_shells * n_directions, 3)
    bin_index : numpy.ndarray of int, same length
    half : numpy.ndarray of int (0 or 1), same length: which interleaved half
    """
    q_edges = np.asarray(q_edges, dtype=float)
    frac = (np.arange(sampling.n_shells) + 0.5) / sampling.n_shells
    radii = q_edges[:-1, None] + np.diff(q_edges)[:, None] * frac[None]  # (n_bins, n_shells)
    sphere = fibonacci_sphere(sampling.n_directions)
    rotations = Rotation.random(radii.size, random_state=sampling.seed).as_matrix()
    dirs = np.einsum("sij,nj->sni", rotations, sphere)  # (n_bins*n_shells, n_dir, 3)
    vectors = dirs * radii.reshape(-1, 1, 1)
    bin_index = np.repeat(np.arange(len(q_edges) - 1), sampling.n_shells * sampling.n_directions)
    half = np.tile(np.arange(sampling.n_directions) % 2, radii.size)
    return vectors.reshape(-1, 3), bin_index, half


def coherent_powder(model, q_edges, fine_edges, temperature, dw=None,
                    sampling: PowderSampling | None = None, progress=None):
    """Coherent one-phonon S(|Q|, E) accumulated on a fine energy grid.

    Parameters
    ----------
    model : PhononModel
    q_edges : numpy.ndarray, shape (n_q + 1,)
        |Q| bin edges, 1/Angstrom.
    fine_edges : numpy.ndarray, shape (n_fine + 1,)
        Fine energy-transfer edges (meV), uniform.
    temperature : float
        K, for the Bose factor.
    dw : torch.Tensor, optional, shape (1, n_atoms, 3, 3)
        Debye-Waller matrices, Angstrom^2.

    Returns
    -------
    numpy.ndarray, shape (2, n_q, n_fine)
        mbarn per atom per fine bin (weights, not densities), averaged over the sphere, for
        the two interleaved halves of the directions (their mean is the result).
    """
    import torch

    sampling = sampling or PowderSampling()
    vectors, bin_index, half = shell_vectors(q_edges, sampling)
    n_q, n_fine = len(q_edges) - 1, len(fine_edges) - 1
    acc = torch.zeros(2 * n_q * n_fine, dtype=torch.float64)
    inv_recip = np.linalg.inv(model.crystal.reciprocal)
    e0, de = float(fine_edges[0]), float(fine_edges[1] - fine_edges[0])
    for start in range(0, len(vectors), sampling.chunk):
        stop = min(start + sampling.chunk, len(vectors))
        q_frac = vectors[start:stop] @ inv_recip
        modes = model.modes(q_frac)
        sf = coherent_structure_factor(model, modes, dw)[0].cpu()  # histograms on the CPU
        freqs = modes.frequencies[0].cpu()
        occupation = bose(freqs, temperature)
        slot = torch.as_tensor((half[start:stop] * n_q + bin_index[start:stop]) * n_fine)
        for energy, weight in ((freqs, sf * (occupation + 1)), (-freqs, sf * occupation)):
            e_bin = torch.floor((energy - e0) / de).long()
            inside = (e_bin >= 0) & (e_bin < n_fine)
            index = (slot[:, None] + e_bin)[inside]
            acc += torch.bincount(index, weights=weight[inside], minlength=acc.numel())
        if progress is not None:
            progress(stop / len(vectors))
    per_point = sampling.n_shells * sampling.n_directions / 2
    return (acc.reshape(2, n_q, n_fine) / per_point).numpy()


def convergence(halves: np.ndarray) -> float:
    """Sum |A - B| / sum |A + B| of the two half-sample maps: the relative sampling error."""
    a, b = halves
    norm = np.abs(a + b).sum()
    return float(np.abs(a - b).sum() / norm) if norm > 0 else 0.0
