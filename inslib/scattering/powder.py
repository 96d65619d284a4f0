"""Powder averaging of the coherent one-phonon S(Q, E) onto |Q| bins.

Each |Q| bin is sampled on ``n_shells`` shells at the midpoints of equal sub-intervals (so the
result is the bin average, not the centre value), each shell with ``n_directions`` points of a
Fibonacci sphere turned by a seeded random rotation. Mode intensities (times n+1 at +E and n at
-E) are deposited as resolution Gaussians averaged over the energy bins (torch, batched over
force-constant sets, differentiable).
Two interleaved halves of the directions are kept apart, so the relative difference between
them, after resolution and binning, estimates the sampling error (:func:`convergence`).
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from inslib.phonons.model import modes_batch
from inslib.scattering.coherent import deposit_modes


@dataclass
class PowderSampling:
    """How the sphere of each |Q| is sampled.

    Attributes
    ----------
    n_shells : int
        Shells per |Q| bin (midpoints of equal sub-intervals).
    n_directions : int
        Directions per shell.
    seed : int
        Seed of the random rotation of each shell's Fibonacci sphere.
    chunk : int
        Most q-points per batch of modes.
    irreducible : bool
        Place the directions in one irreducible wedge of the crystal's Laue group (S(gQ, E) =
        S(Q, E) for every rotation g of the point group and inversion, so the wedge average is
        the sphere average): the same cost samples the sphere |G| times more densely (48 x
        for cubic crystals). Needs ``crystal`` in :func:`shell_vectors`.
    """

    n_shells: int = 2
    n_directions: int = 500
    seed: int = 0
    chunk: int = 20000
    irreducible: bool = True


def fibonacci_sphere(n: int) -> np.ndarray:
    """N nearly uniform unit vectors, shape (n, 3)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = math.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar),
                     np.cos(polar)], axis=1)


def laue_rotations(crystal) -> np.ndarray:
    """Cartesian rotations of the crystal's Laue group (point group and inversion), (n, 3, 3)."""
    from inslib.structure import symmetry

    ops = symmetry(crystal).point_group_cartesian(crystal.cell)
    return np.unique(np.round(np.concatenate([ops, -ops]), 8), axis=0)


WEDGE_AXIS = np.array([0.8191520442889918, 0.3987490689252462, 0.41217039744412245])  # generic


def in_wedge(directions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Whether unit vectors lie in the Dirichlet wedge of a generic axis v, shape (n,) bool.

    u is kept when u.v >= (g u).v for every rotation g: one wedge of equal solid angle per
    group element, tiling the sphere (ties have zero measure). Only directions inside the cap
    around v that holds the wedge get the full test (about a tenth of them for cubic groups).
    """
    normals, cap = _wedge(rotations.tobytes(), len(rotations))
    candidates = np.flatnonzero(directions @ WEDGE_AXIS >= cap)
    inside = np.zeros(len(directions), bool)
    inside[candidates] = np.all(directions[candidates] @ normals.T >= -1e-12, axis=1)
    return inside


@functools.lru_cache(maxsize=16)
def _wedge(rotations: bytes, n_ops: int) -> tuple[np.ndarray, float]:
    """Half-space normals v - g^T v (n_ops, 3) and cos of the cap around v holding the wedge."""
    ops = np.frombuffer(rotations).reshape(n_ops, 3, 3)
    normals = WEDGE_AXIS[None] - ops.transpose(0, 2, 1) @ WEDGE_AXIS
    probe = fibonacci_sphere(1000 * n_ops)
    inside = np.all(probe @ normals.T >= -1e-12, axis=1)
    spacing = math.sqrt(4 * math.pi / len(probe))  # radians between neighbouring probes
    widest = math.acos(float(np.clip((probe[inside] @ WEDGE_AXIS).min(), -1.0, 1.0)))
    return normals, math.cos(min(math.pi, widest + 3 * spacing))


def shell_vectors(q_edges, sampling: PowderSampling, crystal=None):
    """Cartesian Q (1/Angstrom) of every sample point, its |Q| bin, half and weight.

    Returns
    -------
    vectors : numpy.ndarray, shape (n_points, 3)
    bin_index : numpy.ndarray of int, shape (n_points,)
    half : numpy.ndarray of int (0 or 1), shape (n_points,): which interleaved half
    weight : numpy.ndarray, shape (n_points,)
        Weights summing to 1 over each (bin, half): the mean over the half's directions.
    """
    q_edges = np.asarray(q_edges, dtype=float)
    rotations = laue_rotations(crystal) if sampling.irreducible else np.eye(3)[None]
    return _shell_vectors(q_edges.tobytes(), sampling.n_shells, sampling.n_directions,
                          sampling.seed, rotations.tobytes(), len(rotations))


@functools.lru_cache(maxsize=8)
def _shell_vectors(q_bytes: bytes, n_shells: int, n_directions: int, seed: int,
                   rotation_bytes: bytes, n_ops: int) -> tuple:
    """:func:`shell_vectors` on hashable arguments, cached (live loops reuse the points)."""
    q_edges = np.frombuffer(q_bytes)
    rotations = np.frombuffer(rotation_bytes).reshape(n_ops, 3, 3)
    sampling = PowderSampling(n_shells, n_directions, seed)
    frac = (np.arange(sampling.n_shells) + 0.5) / sampling.n_shells
    radii = (q_edges[:-1, None] + np.diff(q_edges)[:, None] * frac[None]).ravel()
    sphere = fibonacci_sphere(sampling.n_directions * len(rotations))
    turns = Rotation.random(radii.size, random_state=sampling.seed).as_matrix()
    vectors, bin_index, half, weight = [], [], [], []
    for shell, (radius, turn) in enumerate(zip(radii, turns, strict=True)):
        dirs = sphere @ turn.T
        halves = np.arange(len(dirs)) % 2  # by Fibonacci index: two interleaved spirals
        if len(rotations) > 1:
            keep = in_wedge(dirs, rotations)
            dirs, halves = dirs[keep], halves[keep]
        counts = np.bincount(halves, minlength=2)
        vectors.append(dirs * radius)
        bin_index.append(np.full(len(dirs), shell // sampling.n_shells))
        half.append(halves)
        weight.append(1.0 / (sampling.n_shells * counts[halves]))
    # shared by every caller of the cache: read, never written
    return tuple(np.concatenate(a) for a in (vectors, bin_index, half, weight))


def coherent_powder(model, q_edges, e_edges, resolution, temperature, dw=None,
                    sampling: PowderSampling | None = None, fc=None, progress=None,
                    budget: int = 4_000_000, shells=None):
    """Coherent one-phonon S(|Q|, E), resolution-broadened and bin-averaged (torch).

    Every mode (n+1 at +E, n at -E) is deposited as a Gaussian of the resolution's width
    (:func:`inslib.scattering.binning.deposit`), so the result is differentiable in the force
    constants through energies and intensities alike.

    Parameters
    ----------
    model : PhononModel
    q_edges : numpy.ndarray, shape (n_q + 1,)
        |Q| bin edges, 1/Angstrom.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV (ascending; uniform or not).
    resolution : inslib.scattering.binning.Resolution
        Gaussian sigma(E), meV.
    temperature : float
        K, for the Bose factor.
    dw : torch.Tensor, optional, shape (n_sets, n_atoms, 3, 3)
        Debye-Waller matrices, Angstrom^2.
    fc : torch.Tensor, optional, shape (n_sets, n_cells, 3N, 3N)
        Force-constant sets (the model's own by default: n_sets = 1).
    budget : int
        Rough number of (delta, bin) pairs held at once; sets the q chunk.
    shells : tuple, optional
        :func:`shell_vectors` of ``q_edges`` and ``sampling`` computed before (they do not
        depend on the force constants).

    Returns
    -------
    torch.Tensor, shape (n_sets, 2, n_q, n_e)
        mbarn/meV per atom (bin averages), averaged over the sphere, for the two interleaved
        halves of the directions (their mean is the result).
    """
    import torch

    from inslib.scattering.binning import depositor

    sampling = sampling or PowderSampling()
    shells = shells or shell_vectors(q_edges, sampling, model.crystal)
    vectors, bin_index, half, q_weight = shells
    n_q = len(q_edges) - 1
    n_sets = 1 if fc is None else fc.shape[0]
    deposit = depositor(resolution, e_edges, model.opts, 2 * n_q)  # per set: batch = singles
    per_q = n_sets * 6 * model.n_atoms * min(deposit.n_columns, 16)
    chunk = min(max(64, min(sampling.chunk, budget // per_q)),
                modes_batch(model.n_atoms, n_sets, sampling.chunk))
    acc = torch.zeros((n_sets, 2 * n_q, deposit.n_columns), **model.opts)
    rows = torch.as_tensor(half * n_q + bin_index, device=acc.device)
    q_weight = torch.as_tensor(q_weight, **model.opts)
    inv_recip = np.linalg.inv(model.crystal.reciprocal)
    for start in range(0, len(vectors), chunk):
        stop = min(start + chunk, len(vectors))
        acc = deposit_modes(acc, model, vectors[start:stop] @ inv_recip, rows[start:stop],
                            deposit, temperature, dw, fc, q_weight[start:stop])
        if progress is not None:
            progress(stop / len(vectors))
    return deposit.finish(acc).reshape(n_sets, 2, n_q, -1)


def convergence(halves: np.ndarray, mask=None) -> np.ndarray:
    """Sum |A - B| / sum |A + B| of the two half-sample maps: the relative sampling error.

    Parameters
    ----------
    halves : numpy.ndarray, shape (..., 2, n_q, n_e)
        The two interleaved halves (any leading axes: force-constant sets).
    mask : numpy.ndarray of bool, optional, shape (n_q, n_e)
        Bins left out (not covered).

    Returns
    -------
    numpy.ndarray, shape (...)
        0 where both halves are empty.
    """
    if mask is not None:
        halves = np.where(mask, 0.0, halves)
    a, b = halves[..., 0, :, :], halves[..., 1, :, :]
    diff = np.abs(a - b).sum(axis=(-2, -1))
    total = np.abs(a + b).sum(axis=(-2, -1))
    return np.divide(diff, total, out=np.zeros_like(diff), where=total > 0)
