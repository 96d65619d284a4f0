"""Resolution broadening and binning: the one home of energy (and |Q|) broadening.

A delta of weight w at x, broadened by a Gaussian of standard deviation sigma(x), adds to the
output bin [a, b] its exact average over the bin,

    w (Phi((b - x) / sigma) - Phi((a - x) / sigma)) / (b - a),

Phi the standard normal CDF. This is a smooth function of x, of sigma and of w, so peak
shifts carry a gradient (histogramming by floor() would not). Gaussians are cut at
:data:`REACH` sigma (the mass beyond is < 7e-6); sigma = 0 is plain binning (no gradient in x).

Two forms: :func:`deposit` for deltas whose positions change (mode energies, differentiable in
the positions, in torch) and :func:`bin_kernel` for weights on a fixed grid (a matrix).

Depositors (:func:`depositor`) apply them to many deltas: :class:`ExactDeposit` evaluates each
delta's Gaussian on the output bins it reaches; :class:`SplineDeposit` spreads each delta over
four points of a fine grid with cubic B-spline weights (twice continuously differentiable in
the position, exact in the mean, variance step^2 / 3 which the kernel's width leaves out) and
broadens the grid with one matrix product: several times cheaper for many deltas per row.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
REACH = 4.5  # Gaussians are cut at this many standard deviations
MAX_FINE = 20000  # most fine-grid points of a spline deposit


def bin_kernel(points, sigma, edges) -> np.ndarray:
    """Matrix mapping weights at fixed points to bin averages (per unit x) in the output bins.

    Each point's Gaussian is evaluated only on the edges within :data:`REACH` sigma of it (a
    band of the matrix; the mass beyond is < 7e-6).

    Parameters
    ----------
    points : numpy.ndarray, shape (n_points,)
        Positions of the weights, same unit as ``edges``.
    sigma : numpy.ndarray, shape (n_points,) or scalar
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
    n_bins = len(edges) - 1
    first = np.clip(np.searchsorted(edges, points - REACH * sigma) - 1, 0, n_bins)
    last = np.clip(np.searchsorted(edges, points + REACH * sigma) + 1, 0, n_bins)
    index = first[:, None] + np.arange(int(np.max(last - first, initial=0)) + 1)[None]
    at = edges[np.minimum(index, n_bins)]  # (n_points, window + 1)
    safe = np.where(sigma > 0, sigma, 1.0)[:, None]
    cdf = np.where(sigma[:, None] > 0,
                   0.5 * (1.0 + erf((at - points[:, None]) / (math.sqrt(2.0) * safe))),
                   (at >= points[:, None]).astype(float))
    mass = np.diff(cdf, axis=1)  # (n_points, window)
    bins = index[:, :-1]
    inside = bins < n_bins
    columns = np.broadcast_to(np.arange(len(points))[:, None], bins.shape)
    flat = bins[inside] * len(points) + columns[inside]
    kernel = np.bincount(flat, weights=mass[inside], minlength=n_bins * len(points))
    return kernel.reshape(n_bins, len(points)) / np.diff(edges)[:, None]


@dataclass
class Resolution:
    """Energy resolution as a function of energy: sigma(E) interpolated from a table.

    Attributes
    ----------
    energy : numpy.ndarray, shape (n,)
        Uniform, ascending energies, meV (at least two).
    sigma : numpy.ndarray, shape (n,)
        Gaussian standard deviation at each energy, meV (>= 0; 0 = none).
    """

    energy: np.ndarray
    sigma: np.ndarray

    def __post_init__(self):
        self.energy = np.asarray(self.energy, dtype=float)
        self.sigma = np.asarray(self.sigma, dtype=float)
        steps = np.diff(self.energy)
        if (self.energy.ndim != 1 or len(self.energy) < 2 or np.any(steps <= 0)
                or not np.allclose(steps, steps[0], rtol=1e-9)):
            msg = ("Resolution.energy: give at least two uniform, ascending energies (meV), "
                   f"got {self.energy[:4]}...")
            raise ValueError(msg)
        if self.sigma.shape != self.energy.shape or not np.all(self.sigma >= 0):
            msg = ("Resolution.sigma: give one width >= 0 (meV) per energy, got shape "
                   f"{self.sigma.shape} for {self.energy.shape}")
            raise ValueError(msg)

    @classmethod
    def from_fwhm(cls, fwhm, lo: float, hi: float, n: int = 512) -> "Resolution":
        """Tabulate ``fwhm(E)`` (callable, meV -> meV; NaN = undefined) on ``n`` points."""
        energy = np.linspace(lo, hi, n)
        width = np.asarray(fwhm(energy), dtype=float)
        known = np.isfinite(width)
        if not known.any():
            return cls(energy, np.zeros(n))
        # beyond the model's range (e.g. E > Ei) hold the nearest defined width: deltas there
        # only send their tails into the range, which should not sharpen towards the edge
        width = np.interp(energy, energy[known], width[known])
        return cls(energy, width * FWHM_TO_SIGMA)

    @classmethod
    def constant(cls, fwhm: float) -> "Resolution":
        """Return the same FWHM (meV) at every energy."""
        sigma = float(fwhm) * FWHM_TO_SIGMA
        return cls(np.array([-1e9, 1e9]), np.array([sigma, sigma]))

    @classmethod
    def of(cls, fwhm, e_edges) -> "Resolution":
        """Resolution from a FWHM (meV): a number, or a callable tabulated over the bins.

        The table reaches 10 meV and a bin beyond the edges (deltas outside the range still
        spill into it).
        """
        if not callable(fwhm):
            return cls.constant(float(fwhm))
        edges = np.asarray(e_edges, dtype=float)
        pad = float(np.max(np.diff(edges))) + 10.0
        return cls.from_fwhm(fwhm, float(edges[0]) - pad, float(edges[-1]) + pad)

    @property
    def largest(self) -> float:
        """The widest sigma of the table, meV."""
        return float(np.max(self.sigma, initial=0.0))

    def __call__(self, energy):
        """Sigma (meV) at energies (torch, any shape; linear interpolation, ends held)."""
        import torch

        x = torch.as_tensor(self.energy, dtype=energy.dtype, device=energy.device)
        y = torch.as_tensor(self.sigma, dtype=energy.dtype, device=energy.device)
        step = x[1] - x[0]
        pos = ((energy - x[0]) / step).clamp(0, len(x) - 1)
        low = pos.floor().long().clamp(max=len(x) - 2)
        frac = pos - low
        return y[low] * (1 - frac) + y[low + 1] * frac


def window(sigma_max: float, edges: np.ndarray) -> int:
    """Return how many consecutive bins a Gaussian of ``sigma_max`` touches (cut at REACH)."""
    widths = np.diff(np.asarray(edges, dtype=float))
    return math.ceil(2 * REACH * sigma_max / float(widths.min())) + 2


def deposit(acc, rows, energy, weight, sigma, edges, n_window: int):
    """Add Gaussian bin averages of deltas to an accumulator (torch, differentiable).

    Parameters
    ----------
    acc : torch.Tensor, shape (n_rows, n_bins), contiguous
        Accumulator, added to in place (autograd records it) and returned.
    rows : torch.Tensor of int, shape (n,)
        Row of each delta.
    energy, weight, sigma : torch.Tensor, shape (n,)
        Position (same unit as ``edges``), weight, Gaussian standard deviation (0 = a delta).
    edges : torch.Tensor, shape (n_bins + 1,)
        Ascending bin edges (uniform or not).
    n_window : int
        Bins per delta (:func:`window`).

    Returns
    -------
    torch.Tensor, shape (n_rows, n_bins)
        ``acc`` plus the deltas, each as a density per unit x averaged over the bins.
    """
    import torch

    n_bins = len(edges) - 1
    start = torch.searchsorted(edges, (energy - REACH * sigma).contiguous()) - 1
    index = start.clamp(0, n_bins)[:, None] + torch.arange(n_window + 1, device=energy.device)
    at = edges[index.clamp(max=n_bins)]
    safe = torch.where(sigma > 0, sigma, 1.0)[:, None] * math.sqrt(2.0)
    smooth = 0.5 * (1 + torch.erf((at - energy[:, None]) / safe))
    cdf = torch.where(sigma[:, None] > 0, smooth, (at >= energy[:, None]).to(at.dtype))
    bins = index[:, :-1]
    inside = bins < n_bins
    widths = (edges[1:] - edges[:-1])[bins.clamp(max=n_bins - 1)]
    values = torch.where(inside, (cdf[:, 1:] - cdf[:, :-1]) / widths, 0.0) * weight[:, None]
    flat = rows[:, None] * n_bins + bins.clamp(max=n_bins - 1)
    acc.view(-1).index_add_(0, flat.reshape(-1), values.reshape(-1))
    return acc


class ExactDeposit:
    """Deltas deposited as exact Gaussian bin averages on the output bins (:func:`deposit`).

    Parameters
    ----------
    resolution : Resolution
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Output bin edges, meV.
    opts : dict
        torch dtype and device.
    """

    def __init__(self, resolution: Resolution, e_edges, opts: dict):
        import torch

        self.resolution = resolution
        self.edges = torch.as_tensor(e_edges, **opts)
        self.n_window = window(resolution.largest, e_edges)
        self.n_columns = len(e_edges) - 1
        self.reach = REACH * resolution.largest
        self.lo, self.hi = float(e_edges[0]), float(e_edges[-1])

    def add(self, acc, rows, energy, weight):
        """Add deltas to acc (n_rows, n_columns) in place and return it.

        ``rows`` (int), ``energy`` (meV) and ``weight``: torch tensors of shape (n,).
        """
        return deposit(acc, rows, energy, weight, self.resolution(energy), self.edges,
                       self.n_window)

    def finish(self, acc):
        """Return the binned result (n_rows, n_e) of an accumulator."""
        return acc


class SplineDeposit:
    """Deltas spread on a fine grid by cubic B-splines, then broadened by one kernel.

    Parameters
    ----------
    start, step : float
        Centre of the first fine point and the spacing, meV.
    kernel : torch.Tensor, shape (n_e, n_fine)
        Bin averages of the Gaussians of width sqrt(sigma^2 - step^2 / 3) at the fine points.
    reach : float
        meV beyond the output range from which a delta still contributes.
    lo, hi : float
        The output energy range, meV.
    """

    def __init__(self, start: float, step: float, kernel, reach: float, lo: float, hi: float):
        self.start, self.step, self.kernel, self.reach = start, step, kernel, reach
        self.lo, self.hi = lo, hi
        self.n_columns = kernel.shape[1]

    @classmethod
    def build(cls, resolution: Resolution, e_edges, opts: dict):
        """Build the fine grid and kernel for bins and resolution; None where sigma reaches 0."""
        import torch

        e_edges = np.asarray(e_edges, dtype=float)
        reach = REACH * resolution.largest
        probe = torch.as_tensor(np.linspace(e_edges[0], e_edges[-1], 257))
        smallest = float(resolution(probe).min())
        if smallest <= 0:
            return None
        step = min(float(np.diff(e_edges).min()) / 4, smallest)
        if (e_edges[-1] - e_edges[0] + 2 * reach) / step > MAX_FINE:
            return None  # a width far below the bins: the exact deposit is cheaper
        start = e_edges[0] - reach - 2 * step
        centres = start + step * np.arange(math.ceil((e_edges[-1] - start + reach) / step) + 3)
        # beyond the range (e.g. E > Ei, where the instrument model has no width) the tails
        # entering the range take the narrowest width of the range
        sigma = np.maximum(resolution(torch.as_tensor(centres)).numpy(), smallest)
        width = np.sqrt(np.clip(sigma**2 - step**2 / 3, 0.0, None))
        kernel = torch.as_tensor(bin_kernel(centres, width, e_edges), **opts)
        return cls(float(centres[0]), step, kernel, reach, float(e_edges[0]), float(e_edges[-1]))

    def add(self, acc, rows, energy, weight):
        """Add deltas to acc (n_rows, n_fine) in place and return it.

        ``rows`` (int), ``energy`` (meV) and ``weight``: torch tensors of shape (n,).
        """
        import torch

        pos = (energy - self.start) / self.step
        node = pos.floor()
        t = pos - node
        node = node.long()
        shares = torch.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4,
                              -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3], dim=-1) / 6
        nodes = node[:, None] + torch.arange(-1, 3, device=node.device)
        inside = (nodes >= 0) & (nodes < self.n_columns)
        values = torch.where(inside, shares * weight[:, None], 0.0)
        flat = rows[:, None] * self.n_columns + nodes.clamp(0, self.n_columns - 1)
        acc.view(-1).index_add_(0, flat.reshape(-1), values.reshape(-1))
        return acc

    def finish(self, acc):
        """Return the binned result (n_rows, n_e) of an accumulator (n_rows, n_fine)."""
        return acc @ self.kernel.T


def depositor(resolution: Resolution, e_edges, opts: dict, n_rows: int,
              budget: int = 16_000_000):
    """Choose the cheaper depositor: splines unless sigma reaches 0 or memory is short.

    ``n_rows`` (of ONE force-constant set, so that a batch and its sets alone get the same
    depositor) x fine points of the spline accumulator must stay within ``budget`` elements.
    """
    spline = SplineDeposit.build(resolution, e_edges, opts)
    if spline is not None and n_rows * spline.n_columns <= budget:
        return spline
    return ExactDeposit(resolution, e_edges, opts)


def broadening_generator(centres: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Conservative second-difference operator of :func:`extra_broadening` (per unit v).

    Parameters
    ----------
    centres : numpy.ndarray, shape (n_e,)
        Energy bin centres, meV (increasing).
    sigma : numpy.ndarray, shape (n_e,)
        Model resolution (Gaussian sigma) at the centres, meV.

    Returns
    -------
    numpy.ndarray, shape (n_e, n_e)
        d(spectrum)/dv = generator @ spectrum, 1/bin (diffusion coefficient sigma^2 / 2).
    """
    centres, sigma = np.asarray(centres, float), np.asarray(sigma, float)
    mid_sigma = 0.5 * (sigma[1:] + sigma[:-1])
    flux = 0.5 * mid_sigma**2 / np.diff(centres)  # D at bin boundaries / spacing, meV
    operator = np.zeros((len(centres), len(centres)))
    idx = np.arange(len(centres) - 1)
    operator[idx, idx + 1] += flux
    operator[idx + 1, idx] += flux
    operator[idx, idx] -= flux
    operator[idx + 1, idx + 1] -= flux
    return operator / np.gradient(centres)[:, None]


def extra_broadening(centres: np.ndarray, sigma: np.ndarray, variance_fraction,
                     generator=None):
    """Kernel that widens a spectrum's energy resolution: variance sigma^2 -> (1 + v) sigma^2.

    Diffusion in energy for a time v with coefficient D(E) = sigma(E)^2 / 2 adds a Gaussian
    variance v sigma(E)^2 (exactly for constant sigma); on the bins it is the matrix exponential
    of v x a conservative second-difference operator (:func:`broadening_generator`), so it keeps
    the total intensity, is the identity at v = 0 and is differentiable in v there (a Gaussian
    of width -> 0 on bins is not). Used to fit a resolution width factor sqrt(1 + v).

    Parameters
    ----------
    centres : numpy.ndarray, shape (n_e,)
        Energy bin centres, meV (increasing).
    sigma : numpy.ndarray, shape (n_e,)
        Model resolution (Gaussian sigma) at the centres, meV.
    variance_fraction : torch.Tensor, shape (...)
        v >= 0 (dimensionless); a batch of values gives a batch of kernels.
    generator : torch.Tensor, shape (n_e, n_e), optional
        :func:`broadening_generator` of ``centres`` and ``sigma`` computed before (a fit
        evaluates the kernel many times).

    Returns
    -------
    torch.Tensor, shape (..., n_e, n_e)
        broadened = spectrum @ kernel.T for spectra on the last axis.
    """
    import torch

    if generator is None:
        generator = torch.as_tensor(broadening_generator(centres, sigma),
                                    dtype=variance_fraction.dtype,
                                    device=variance_fraction.device)
    return torch.linalg.matrix_exp(variance_fraction[..., None, None] * generator)
