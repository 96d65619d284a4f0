"""Single-crystal S(Q,E) on MDNorm-style projections: cuts, slices, 3D and 4D grids.

Q dimensions are given as three HKL vectors u, v, w (QDimension0..2) of the *HKL cell*
(by default the conventional standard cell of the crystal, in the force constants' Cartesian
frame), each binned "min,step,max" or integrated "min,max" (one bin), as MDNorm's
DimensionNBinning. A bin's value is an unbiased estimate of the average over the bin:
``samples`` points per bin are drawn stratified-uniformly inside it (seeded); along energy
the average is exact (each mode's Gaussian integrated over the bin, :func:`mode_spectra`).
The result is an MD histogram (D0, D1, D2 = Q dimensions in r.l.u. with their projections,
D3 = DeltaE in meV) that writes to the SaveMD layout, so simulations and MDNorm output fold
through the same code.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from inslib.axes import Axis, parse_binning
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.scattering.broadening import FWHM_TO_SIGMA
from inslib.scattering.coherent import coherent_structure_factor
from inslib.scattering.thermal import bose
from inslib.structure import symmetry_dataset

CHUNK = 20000  # q-points per batch


@dataclass
class GridRequest:
    """A single-crystal simulation (SimulateSingleCrystalSQE property names in comments).

    Parameters
    ----------
    projections : numpy.ndarray, shape (3, 3)
        Rows u, v, w in r.l.u. of the HKL cell (QDimension0..2).
    q_binning : list of (str or numpy.ndarray)
        Dimension0Binning..Dimension2Binning: "min,step,max" or "min,max" (integrated), or
        bin edges (r.l.u.) taken from a template.
    e_binning : str or numpy.ndarray
        Dimension3Binning "min,step,max" in meV, or bin edges.
    temperature : float
        K.
    fwhm : float or callable
        Energy resolution FWHM in meV, constant or a function of energy.
    samples : int
        Random points per bin and Q dimension (SamplesPerBin).
    seed : int
    q_fwhm : float
        QResolution: isotropic Gaussian Q resolution FWHM in 1/Angstrom (0 = none); every
        sample point is displaced by a Gaussian draw, an unbiased estimate of the convolution.
    """

    projections: np.ndarray
    q_binning: list
    e_binning: str
    temperature: float
    fwhm: object = 0.0
    samples: int = 1
    seed: int = 0
    hkl_cell: np.ndarray | None = None
    names: list = field(default_factory=list)
    q_fwhm: float = 0.0


def hkl_cell(crystal, symprec: float = 1e-3) -> np.ndarray:
    """Conventional standard cell of the crystal in its own Cartesian frame, rows (Angstrom)."""
    data = symmetry_dataset(crystal, symprec)
    return np.linalg.inv(np.asarray(data.transformation_matrix)).T @ crystal.cell


def _q_edges(text, index: int) -> tuple[np.ndarray, bool]:
    if not isinstance(text, str):  # edges taken from a template workspace
        edges = np.asarray(text, dtype=float)
        return edges, len(edges) == 2
    values = [float(v) for v in text.replace(" ", "").split(",") if v]
    prop = f"Dimension{index}Binning"
    if len(values) == 2:
        if values[1] <= values[0]:
            msg = f"{prop}: integration range {text!r} must have max > min"
            raise ValueError(msg)
        return np.array(values), True
    return parse_binning(text, prop, "r.l.u."), False


def axis_name(vector, index: int) -> str:
    """Return MDNorm's caption of Q dimension ``index``.

    The letter is H, K, L by dimension: dimension 1 along (-0.5, 1, 0) -> "[-0.5K,K,0]".
    """
    letter = "HKL"[index]
    parts = []
    for c in vector:
        if abs(c) < 1e-9:
            parts.append("0")
        elif abs(c - 1) < 1e-9:
            parts.append(letter)
        elif abs(c + 1) < 1e-9:
            parts.append(f"-{letter}")
        else:
            parts.append(f"{c:g}{letter}")
    return "[" + ",".join(parts) + "]"


def sample_points(edges_list, samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random points in every bin of a 3D Q grid.

    Returns
    -------
    coords : numpy.ndarray, shape (n_points, 3)
        Coordinates along the three projections.
    flat_bin : numpy.ndarray of int, shape (n_points,)
        Index of the Q bin (C order over the three dimensions).
    """
    per_dim = []
    for edges in edges_list:
        lo = np.repeat(edges[:-1], samples)
        width = np.repeat(np.diff(edges), samples)
        stratum = np.tile(np.arange(samples), len(edges) - 1)
        per_dim.append(lo + width * (stratum + rng.random(len(lo))) / samples)
    grids = np.meshgrid(*per_dim, indexing="ij")
    coords = np.stack([g.ravel() for g in grids], axis=1)
    shape = [len(e) - 1 for e in edges_list]
    index = np.meshgrid(*[np.repeat(np.arange(n), samples) for n in shape], indexing="ij")
    flat = np.ravel_multi_index([i.ravel() for i in index], shape)
    return coords, flat


def simulate_grid(model, request: GridRequest, dw=None, progress=None) -> Histogram:
    """Coherent one-phonon S(Q, E) (Bose factor, Debye-Waller, resolution) on a 4D grid.

    Returns
    -------
    Histogram
        MD histogram of shape (n0, n1, n2, n_e), mbarn/meV per atom (bin averages).
    """
    import torch

    rng = np.random.default_rng(request.seed)
    edges = [_q_edges(text, i) for i, text in enumerate(request.q_binning)]
    e_edges = (parse_binning(request.e_binning, "Dimension3Binning", "meV")
               if isinstance(request.e_binning, str) else np.asarray(request.e_binning, float))
    cell = request.hkl_cell if request.hkl_cell is not None else hkl_cell(model.crystal)
    to_cart = np.asarray(request.projections, float) @ (2 * np.pi * np.linalg.inv(cell).T)
    to_frac = np.linalg.inv(model.crystal.reciprocal)
    coords, flat = sample_points([e for e, _ in edges], request.samples, rng)
    sigma = request.q_fwhm * FWHM_TO_SIGMA
    shape = [len(e) - 1 for e, _ in edges]
    signal = torch.zeros((int(np.prod(shape)), len(e_edges) - 1), dtype=torch.float64)
    for start in range(0, len(coords), CHUNK):
        stop = min(start + CHUNK, len(coords))
        q_cart = coords[start:stop] @ to_cart
        if sigma > 0:
            q_cart = q_cart + rng.normal(scale=sigma, size=q_cart.shape)
        spectra = mode_spectra(model, q_cart @ to_frac, e_edges, request.fwhm,
                               request.temperature, dw)
        signal.index_add_(0, torch.as_tensor(flat[start:stop]), spectra)
        if progress is not None:
            progress(stop / len(coords))
    signal = signal.numpy() / request.samples ** 3
    axes = [_q_axis(e, request.projections[i], i) for i, (e, _) in enumerate(edges)]
    meta = Metadata(temperature=request.temperature, w_matrix=np.asarray(request.projections).T,
                    lattice=_lattice(cell), title="Simulated single-crystal S(Q,E)",
                    logs={"SamplesPerBin": Log(float(request.samples)),
                          "QResolution": Log(float(request.q_fwhm), "1/Angstrom")})
    energy = Axis(e_edges, "DeltaE", "DeltaE")  # MDNorm's name for the energy dimension
    return Histogram([*axes, energy], signal.reshape(*shape, -1),
                     np.zeros((*shape, len(e_edges) - 1)), np.zeros((*shape, len(e_edges) - 1),
                                                                  bool),
                     meta, kind=MDHISTO, y_unit_label="mbarn/meV per atom")


def bin_q_ranges(axes, projections, cell) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on |Q| over each Q bin of a grid: |centre| -+ the bin's circumradius.

    Parameters
    ----------
    axes : sequence of 3 Axis
        The HKL dimensions (bin edges in r.l.u. along each projection).
    projections : numpy.ndarray, shape (3, 3)
        Rows u, v, w in r.l.u. of ``cell``.
    cell : numpy.ndarray, shape (3, 3)
        The HKL cell, rows in Angstrom.

    Returns
    -------
    q_lo, q_hi : numpy.ndarray, shape (n0 n1 n2,)
        1/Angstrom, C order of the bins; the true |Q| range of each bin lies inside.
    """
    to_cart = np.asarray(projections, float) @ (2 * np.pi * np.linalg.inv(cell).T)
    centres = np.stack(np.meshgrid(*[a.centres for a in axes], indexing="ij"), axis=-1)
    halves = np.stack(np.meshgrid(*[np.diff(a.edges) / 2 for a in axes], indexing="ij"),
                      axis=-1).reshape(-1, 3)
    signs = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]])
    radius = np.linalg.norm((halves[:, None, :] * signs[None]) @ to_cart, axis=-1).max(axis=1)
    norm = np.linalg.norm(centres.reshape(-1, 3) @ to_cart, axis=1)
    return np.clip(norm - radius, 0.0, None), norm + radius


def _q_axis(edges, vector, index) -> Axis:
    return Axis(edges, "r.l.u.", axis_name(vector, index), frame="HKL",
                projection=tuple(float(c) for c in vector))


def _lattice(cell) -> tuple:
    lengths = np.linalg.norm(cell, axis=1)
    angles = [np.degrees(np.arccos(np.dot(cell[i], cell[j]) / (lengths[i] * lengths[j])))
              for i, j in ((1, 2), (0, 2), (0, 1))]
    return (*lengths.tolist(), *angles)


def mode_spectra(model, q_frac, e_edges, fwhm, temperature, dw):
    """Bin-averaged, resolution-broadened S(Q, E) of the modes at each q, exactly.

    Every mode (n+1 at +E, n at -E) is a Gaussian of FWHM ``fwhm(E)`` (or a constant, 0 = a
    delta); its exact average over each energy bin is added to the bins within 5 sigma.

    Parameters
    ----------
    q_frac : numpy.ndarray, shape (nq, 3)
        Fractional Q in the model's reciprocal lattice.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Uniform energy-transfer bin edges, meV.

    Returns
    -------
    torch.Tensor, shape (nq, n_e)
        mbarn/meV per atom.
    """
    import torch

    modes = model.modes(q_frac)
    sf = coherent_structure_factor(model, modes, dw)[0].cpu()  # histograms on the CPU
    freqs = modes.frequencies[0].cpu()
    occupation = bose(freqs, temperature)
    energy = torch.cat([freqs, -freqs], dim=1)
    weight = torch.cat([sf * (occupation + 1), sf * occupation], dim=1)
    rows = torch.arange(len(q_frac))[:, None].expand_as(energy)
    width = float(e_edges[1] - e_edges[0])
    sigma = _sigma(energy, fwhm)
    # beyond 4.5 sigma a Gaussian holds < 7e-6 of its weight
    reach = math.ceil(4.5 * float(sigma.max()) / width) + 1 if float(sigma.max()) > 0 else 0
    near = ((energy + (reach + 1) * width > float(e_edges[0]))
            & (energy - (reach + 1) * width < float(e_edges[-1])) & (weight > 0))
    energy, weight, sigma, rows = energy[near], weight[near], sigma[near], rows[near]
    edges = torch.as_tensor(e_edges, dtype=energy.dtype)
    centre = torch.floor((energy - float(e_edges[0])) / width).long()
    bins = centre[:, None] + torch.arange(-reach, reach + 1)  # (deltas, window)
    inside = (bins >= 0) & (bins < len(e_edges) - 1)
    safe = bins.clamp(0, len(e_edges) - 2)
    lo, hi = edges[safe] - energy[:, None], edges[safe + 1] - energy[:, None]
    values = (weight[:, None] * _gaussian_mass(lo, hi, sigma[:, None]) / width)[inside]
    flat = (rows[:, None] * (len(e_edges) - 1) + bins)[inside]
    out = torch.zeros(len(q_frac) * (len(e_edges) - 1), dtype=sf.dtype)
    return out.index_add_(0, flat, values).reshape(len(q_frac), len(e_edges) - 1)


def _sigma(energy, fwhm):
    import torch

    if callable(fwhm):
        values = np.nan_to_num(fwhm(energy.reshape(-1).numpy())).reshape(energy.shape)
        return torch.as_tensor(values, dtype=energy.dtype) * FWHM_TO_SIGMA
    return torch.full_like(energy, float(fwhm) * FWHM_TO_SIGMA)


def _gaussian_mass(lo, hi, sigma):
    """Probability mass of N(0, sigma) in [lo, hi) (a delta at 0 where sigma = 0)."""
    import torch

    safe = torch.where(sigma > 0, sigma, torch.ones_like(sigma)) * math.sqrt(2.0)
    smooth = 0.5 * (torch.erf(hi / safe) - torch.erf(lo / safe))
    sharp = ((lo <= 0) & (hi > 0)).to(lo.dtype)
    return torch.where(sigma > 0, smooth, sharp)
