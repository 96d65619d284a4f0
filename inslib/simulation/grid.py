"""Single-crystal S(Q,E) on MDNorm-style projections: cuts, slices, 3D and 4D grids.

Q dimensions are given as three HKL vectors u, v, w (QDimension0..2) of the *HKL cell*
(by default the conventional standard cell of the crystal, in the force constants' Cartesian
frame), each binned "min,step,max" or integrated "min,max" (one bin), as MDNorm's
DimensionNBinning. A bin's value is an unbiased estimate of the average over the bin:
``samples`` points per bin are drawn stratified-uniformly inside it (seeded); along energy
the average is exact (each mode's Gaussian integrated over the bin, as
:func:`inslib.scattering.coherent.deposit_modes` does).
The result is an MD histogram (D0, D1, D2 = Q dimensions in r.l.u. with their projections,
D3 = DeltaE in meV) that writes to the SaveMD layout, so simulations and MDNorm output fold
through the same code.
"""

from dataclasses import dataclass, field

import numpy as np

from inslib.axes import Axis, parse_binning
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.logs import Q_RESOLUTION, SAMPLES_PER_BIN
from inslib.scattering.binning import FWHM_TO_SIGMA, Resolution
from inslib.simulation.forward import RowsForward, Thermal
from inslib.simulation.requests import q_edges
from inslib.structure import symmetry_dataset

CHUNK = 20000  # q-points per batch


@dataclass
class GridRequest:
    """A single-crystal grid as :func:`simulate_grid` runs it (property names in comments).

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
    q_resolution : float
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
    q_resolution: float = 0.0


def hkl_cell(crystal, symprec: float = 1e-3) -> np.ndarray:
    """Conventional standard cell of the crystal in its own Cartesian frame, rows (Angstrom)."""
    data = symmetry_dataset(crystal, symprec)
    return np.linalg.inv(np.asarray(data.transformation_matrix)).T @ crystal.cell


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
    rng = np.random.default_rng(request.seed)
    edges = [q_edges(text, i) for i, text in enumerate(request.q_binning)]
    e_edges = (parse_binning(request.e_binning, "Dimension3Binning", "meV")
               if isinstance(request.e_binning, str) else np.asarray(request.e_binning, float))
    cell = request.hkl_cell if request.hkl_cell is not None else hkl_cell(model.crystal)
    to_cart = np.asarray(request.projections, float) @ (2 * np.pi * np.linalg.inv(cell).T)
    to_frac = np.linalg.inv(model.crystal.reciprocal)
    coords, flat = sample_points([e for e, _ in edges], request.samples, rng)
    q_cart = coords @ to_cart
    if request.q_resolution > 0:
        q_cart = q_cart + rng.normal(scale=request.q_resolution * FWHM_TO_SIGMA,
                                     size=q_cart.shape)
    shape = [len(e) - 1 for e, _ in edges]
    forward = RowsForward(model, q_cart @ to_frac, flat, int(np.prod(shape)),
                          float(request.samples ** 3), e_edges,
                          Resolution.of(request.fwhm, e_edges), Thermal(request.temperature),
                          CHUNK)
    signal = forward(dw=dw if dw is not None else _no_dw(model), progress=progress)
    signal = signal[0].cpu().numpy()
    axes = [_q_axis(e, request.projections[i], i) for i, (e, _) in enumerate(edges)]
    meta = Metadata(temperature=request.temperature, w_matrix=np.asarray(request.projections).T,
                    lattice=cell_lattice(cell), title="Simulated single-crystal S(Q,E)",
                    logs={SAMPLES_PER_BIN: Log(float(request.samples)),
                          Q_RESOLUTION: Log(float(request.q_resolution), "1/Angstrom")})
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


def cell_lattice(cell) -> tuple:
    """Return (a, b, c, alpha, beta, gamma) in Angstrom and degrees of cell rows (3, 3), A."""
    lengths = np.linalg.norm(cell, axis=1)
    angles = [np.degrees(np.arccos(np.dot(cell[i], cell[j]) / (lengths[i] * lengths[j])))
              for i, j in ((1, 2), (0, 2), (0, 1))]
    return (*lengths.tolist(), *angles)


def _no_dw(model):
    """Zero Debye-Waller matrices (1, n_atoms, 3, 3): no Debye-Waller factor."""
    import torch

    return torch.zeros((1, model.n_atoms, 3, 3), **model.opts)
