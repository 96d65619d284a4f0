"""Single-crystal S(Q,E) on MDNorm-style projections: cuts, slices, 3D and 4D grids.

Q dimensions are given as three HKL vectors u, v, w (QDimension0..2) of the *HKL cell*
(by default the conventional standard cell of the crystal, in the force constants' Cartesian
frame), each binned "min,step,max" or integrated "min,max" (one bin), as MDNorm's
DimensionNBinning. A bin's value is an unbiased estimate of the average over the bin:
``samples`` points per bin are drawn stratified-uniformly inside it (seeded); along energy
the average is exact (each mode's Gaussian integrated over the bin, as
:func:`inslib.scattering.coherent.deposit_modes` does). The points of a bin scale with the
displayed dimensions only (:func:`sample_bins`): ``samples`` strata per binned Q dimension,
and the integrated dimensions covered by a Latin hypercube of those same points. The sample
points are generated and evaluated in batches whose working memory is estimated before they
are allocated (:func:`batch_points`).
The result is an MD histogram (D0, D1, D2 = Q dimensions in r.l.u. with their projections,
D3 = DeltaE in meV) that writes to the SaveMD layout, so simulations and MDNorm output fold
through the same code.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from inslib.axes import Axis, parse_binning
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.logs import Q_RESOLUTION, SAMPLES_PER_BIN
from inslib.phonons.model import BYTES_PER_MATRIX_ENTRY
from inslib.scattering.binning import FWHM_TO_SIGMA, Resolution, window
from inslib.simulation.forward import RowsForward, Thermal
from inslib.simulation.requests import points_per_bin, q_edges
from inslib.structure import symmetry_dataset

CHUNK = 20000  # q-points per batch
BATCH_BYTES = 256 * 2**20  # working memory of one batch of grid sample points
BYTES_PER_DEPOSIT = 64  # per point, delta and bin edge of the energy deposit


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
        SamplesPerBin: strata per binned Q dimension; a bin gets samples ** k points, k the
        number of binned Q dimensions (at least 1), see :func:`sample_bins`.
    seed : int
    q_resolution : float
        QResolution: isotropic Gaussian Q resolution FWHM in 1/Angstrom (0 = none); every
        sample point is displaced by a Gaussian draw, an unbiased estimate of the convolution.
    qe_resolution : QEResolution or None
        QEResolution=Covariance: the direct-geometry (Q, E) resolution covariance, applied by
        Monte Carlo (:mod:`inslib.scattering.qe_resolution`) in place of ``fwhm`` alone and of
        ``q_resolution``; None = the energy resolution ``fwhm``.
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
    qe_resolution: object = None


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


def sample_bins(edges_list, flat_bins, samples: int, rng,
                q_resolution: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random points in some bins of a 3D Q grid, scaling with the displayed bins.

    A bin gets ``samples ** max(k, 1)`` points, k the number of binned Q dimensions (more than
    one bin; all three where a Q resolution spreads the bins, see
    :func:`inslib.simulation.requests.points_per_bin`). Along each binned dimension the bin is
    cut into ``samples`` strata and every combination of strata holds one point (a jittered
    grid, as a fully binned 3D grid always had). The integrated dimensions (one bin) share
    those points as a randomly shifted rank-1 lattice (Korobov, generator g near n / golden
    ratio, coprime with the n points): point i sits at frac(p_i g^j / n + shift_j) along the
    j-th integrated dimension, p a random permutation, one uniform shift per bin and
    dimension. Every point is uniform in the bin (the mean is an unbiased estimate of the bin
    average), each integrated dimension is cut into n strata holding one point each (a Latin
    hypercube), the lattice spreads the points jointly, and thick integrated dimensions do not
    multiply the count.

    Parameters
    ----------
    edges_list : sequence of 3 numpy.ndarray, shapes (n_d + 1,)
        Bin edges along the three projections, r.l.u.
    flat_bins : numpy.ndarray of int, shape (n_bins,)
        The bins to sample (C order over the three dimensions).
    samples : int
        SamplesPerBin.
    rng : numpy.random.Generator
    q_resolution : float
        QResolution FWHM, 1/Angstrom (> 0: every dimension is sampled as a binned one).

    Returns
    -------
    coords : numpy.ndarray, shape (n_bins * points_per_bin, 3)
        Coordinates along the three projections, r.l.u.
    rows : numpy.ndarray of int, shape (n_bins * points_per_bin,)
        Position of each point's bin in ``flat_bins``.
    """
    shape = [len(e) - 1 for e in edges_list]
    binned = [n > 1 or q_resolution > 0 for n in shape]
    per_bin = points_per_bin(samples, shape, q_resolution)
    index = np.unravel_index(np.asarray(flat_bins), shape)
    point = np.arange(per_bin)
    coords, digit, power, g = [], 0, 1, _generator(per_bin)
    lattice = rng.permuted(np.broadcast_to(point, (len(index[0]), per_bin)), axis=1)
    for edges, bins, is_binned in zip(edges_list, index, binned, strict=True):
        if is_binned:  # jittered grid: digit ``digit`` of the point number in base samples
            stratum = np.broadcast_to(point // samples**digit % samples, (len(bins), per_bin))
            fraction = (stratum + rng.random((len(bins), per_bin))) / samples
            digit += 1
        else:  # lattice coordinate p g^j / n, shifted by one uniform draw per bin
            fraction = (lattice * power % per_bin / per_bin + rng.random((len(bins), 1))) % 1.0
            power = power * g % per_bin
        coords.append(edges[bins, None] + np.diff(edges)[bins, None] * fraction)
    rows = np.repeat(np.arange(len(flat_bins)), per_bin)
    return np.stack([c.ravel() for c in coords], axis=1), rows


def _generator(n: int) -> int:
    """Korobov generator of an n-point rank-1 lattice: the golden-ratio one, made coprime."""
    g = max(1, round(n / ((1 + 5**0.5) / 2)))
    while np.gcd(g, n) != 1:
        g += 1
    return g


def batch_points(model, n_window: int) -> int:
    """Sample points per batch so that one batch's working memory stays under BATCH_BYTES.

    The estimate (bytes per point) covers the modes (dynamical matrix, eigenvectors:
    BYTES_PER_MATRIX_ENTRY per entry of the 3N x 3N matrix) and the energy deposit (each of the
    2 x 3N deltas touches n_window + 1 bin edges, BYTES_PER_DEPOSIT each). The estimate is 2.1
    to 3.3 times the resident memory measured per point: quartz (27 modes) 52-60 kB at 11
    edges per Gaussian and 114 kB at 81, NaCl's 8-atom cell (24 modes) 211 kB at 118.

    Parameters
    ----------
    model : PhononModel
    n_window : int
        Energy bins one mode's Gaussian touches (:func:`inslib.scattering.binning.window`).
    """
    n_modes = 3 * model.n_atoms
    per_point = (BYTES_PER_MATRIX_ENTRY * n_modes**2
                 + BYTES_PER_DEPOSIT * 2 * n_modes * (n_window + 1))
    return int(np.clip(BATCH_BYTES // per_point, 1, CHUNK))


def simulate_grid(model, request: GridRequest, dw=None, progress=None) -> Histogram:
    """Coherent one-phonon S(Q, E) (Bose factor, Debye-Waller, resolution) on a 4D grid.

    The bins are sampled in batches of whole bins (:func:`sample_bins`, :func:`batch_points`)
    and the modes computed at most :func:`batch_points` points at a time, so memory stays
    bounded whatever SamplesPerBin and the grid size (a bin with more points than a batch
    holds only its coordinates whole: 32 bytes a point).

    Returns
    -------
    Histogram
        MD histogram of shape (n0, n1, n2, n_e), mbarn/meV per atom (bin averages).
    """
    edges = [q_edges(text, i)[0] for i, text in enumerate(request.q_binning)]
    e_edges = (parse_binning(request.e_binning, "Dimension3Binning", "meV")
               if isinstance(request.e_binning, str) else np.asarray(request.e_binning, float))
    cell = request.hkl_cell if request.hkl_cell is not None else hkl_cell(model.crystal)
    shape = [len(e) - 1 for e in edges]
    signal = _sample_signal(model, request, edges, e_edges, cell,
                            dw if dw is not None else _no_dw(model), progress)
    axes = [_q_axis(e, request.projections[i], i) for i, e in enumerate(edges)]
    meta = Metadata(temperature=request.temperature, w_matrix=np.asarray(request.projections).T,
                    lattice=cell_lattice(cell), title="Simulated single-crystal S(Q,E)",
                    logs={SAMPLES_PER_BIN: Log(float(request.samples)),
                          Q_RESOLUTION: Log(float(request.q_resolution), "1/Angstrom")})
    energy = Axis(e_edges, "DeltaE", "DeltaE")  # MDNorm's name for the energy dimension
    empty = np.zeros((*shape, len(e_edges) - 1))
    return Histogram([*axes, energy], signal.reshape(*shape, -1), empty, empty.astype(bool),
                     meta, kind=MDHISTO, y_unit_label="mbarn/meV per atom")


def _sample_signal(model, request: GridRequest, edges, e_edges, cell, dw, progress):
    """Bin averages (n_bins, n_e), batch by batch of whole bins, mbarn/meV per atom."""
    rng = np.random.default_rng(request.seed)
    shape = [len(e) - 1 for e in edges]
    n_bins = int(np.prod(shape))
    per_bin = points_per_bin(request.samples, shape, request.q_resolution)
    to_cart = np.asarray(request.projections, float) @ (2 * np.pi * np.linalg.inv(cell).T)
    to_frac = np.linalg.inv(model.crystal.reciprocal)
    resolution = Resolution.of(request.fwhm, e_edges)
    batch = batch_points(model, window(resolution.largest, e_edges))
    step = max(1, batch // per_bin)  # whole bins per batch; one bin's points in pieces
    signal = np.empty((n_bins, len(e_edges) - 1))
    for start in range(0, n_bins, step):
        bins = np.arange(start, min(start + step, n_bins))
        coords, rows = sample_bins(edges, bins, request.samples, rng, request.q_resolution)
        q_cart = coords @ to_cart
        if request.q_resolution > 0:
            q_cart = q_cart + rng.normal(scale=request.q_resolution * FWHM_TO_SIGMA,
                                         size=q_cart.shape)
        qe = request.qe_resolution  # its own Monte Carlo draws in every batch, from the seed
        if qe is not None:
            qe = replace(qe, seed=int(rng.integers(2**31)))
        forward = RowsForward(model, q_cart @ to_frac, rows, len(bins), float(per_bin),
                              e_edges, resolution, Thermal(request.temperature), batch,
                              qe_resolution=qe)
        signal[bins] = forward(dw=dw)[0].cpu().numpy()
        if progress is not None:
            progress((bins[-1] + 1) / n_bins)
    return signal


def bin_balls(axes, projections, cell) -> tuple[np.ndarray, np.ndarray]:
    """Centre and circumradius of every Q bin of a grid.

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
    centres : numpy.ndarray, shape (n0 n1 n2, 3)
        Bin centres, C order of the bins, Cartesian in the cell's frame, 1/Angstrom.
    radius : numpy.ndarray, shape (n0 n1 n2,)
        1/Angstrom: every point of a bin lies within this distance of its centre.
    """
    to_cart = np.asarray(projections, float) @ (2 * np.pi * np.linalg.inv(cell).T)
    centres = np.stack(np.meshgrid(*[a.centres for a in axes], indexing="ij"),
                       axis=-1).reshape(-1, 3)
    halves = np.stack(np.meshgrid(*[np.diff(a.edges) / 2 for a in axes], indexing="ij"),
                      axis=-1).reshape(-1, 3)
    signs = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]])
    radius = np.linalg.norm((halves[:, None, :] * signs[None]) @ to_cart, axis=-1).max(axis=1)
    return centres @ to_cart, radius


def bin_q_ranges(axes, projections, cell) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on |Q| over each Q bin of a grid: |centre| -+ the bin's circumradius.

    Parameters are those of :func:`bin_balls`.

    Returns
    -------
    q_lo, q_hi : numpy.ndarray, shape (n0 n1 n2,)
        1/Angstrom, C order of the bins; the true |Q| range of each bin lies inside.
    """
    centres, radius = bin_balls(axes, projections, cell)
    norm = np.linalg.norm(centres, axis=1)
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
