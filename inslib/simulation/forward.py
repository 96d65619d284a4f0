"""Differentiable forward models: force-constant sets -> instrument-binned, masked spectra.

One torch computation from force constants (n_sets, n_cells, 3N, 3N) to what an instrument
records: Debye-Waller and partial DOS from the mesh, Bose factor, coherent one-phonon powder
average, incoherent one-phonon and multiphonon terms, energy resolution, |Q| resolution and the
template's mask; powder maps (:class:`PowderForward`), indirect S(E) per analyser bank
(:class:`IndirectForward`) and single-crystal q-points grouped into rows (:class:`RowsForward`:
q-paths and grids). Batched over the leading axis, on the model's device; the simulation
algorithms run these same objects on the model's own force constants (``fc=None``).
"""

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from inslib.phonons.model import modes_batch
from inslib.scattering.binning import FWHM_TO_SIGMA, Resolution, bin_kernel
from inslib.scattering.incoherent import (
    incoherent_sqe,
    isotropic_msd,
    match_debye_region,
    multiphonon_grid,
    multiphonon_orders,
    order_weights,
)
from inslib.scattering.mesh import DOS_MARGIN, MeshResults, mesh_results
from inslib.scattering.powder import PowderSampling, coherent_powder, shell_vectors
from inslib.structure import StructureError, symmetry_dataset

Q_SUBSAMPLES = 4  # |Q| points per bin for the (smooth) incoherent terms
OVERSAMPLE = 8  # multiphonon grid points per (smallest) output energy bin


@dataclass
class Thermal:
    """Temperature and mesh settings shared by every forward model.

    Attributes
    ----------
    temperature : float
        K.
    grid : int
        Monkhorst-Pack mesh n x n x n for Debye-Waller and DOS.
    e_max : float or None
        Top of the DOS grid, meV: fixed (:func:`dos_top`) so that a batch and single runs
        agree; None = 1.05 x the highest mode of the force constants (one set at a time).
    """

    temperature: float
    grid: int = 16
    e_max: float | None = None

    def mesh(self, model, fc=None) -> MeshResults:
        """Debye-Waller matrices and partial DOS of the sets ``fc`` (model's own: None)."""
        return mesh_results(model, self.temperature, self.grid, self.e_max, fc)


def dos_top(model, grid: int, headroom: float = 1.0) -> float:
    """DOS grid top (meV) for a model: DOS_MARGIN x its highest mesh mode x ``headroom``."""
    import torch

    from inslib.scattering.thermal import mp_grid

    with torch.no_grad():
        highest = float(model.modes(mp_grid((grid,) * 3)).frequencies.max())
    return DOS_MARGIN * highest * headroom


@dataclass(frozen=True)
class Orbits:
    """Symmetry-equivalent atoms: the incoherent terms are computed once per orbit.

    Equivalent atoms share partial DOS and u^2 (the mesh's DOS only up to its sampling, which
    the orbit average symmetrises, as :func:`inslib.scattering.thermal.symmetrise_dw` does the
    Debye-Waller matrices), so the n-phonon terms of one stand for all: a Z-molecule cell
    costs the multiphonon work and memory of one molecule.

    Attributes
    ----------
    mean : numpy.ndarray, shape (n_orbits, n_atoms)
        Averaging matrix: 1 / size of the orbit for its members, 0 elsewhere.
    size : numpy.ndarray, shape (n_orbits,)
        Atoms in each orbit.
    """

    mean: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, crystal) -> "Orbits":
        """Group spglib's equivalent atoms (every atom its own orbit where none is found).

        Atoms of other symbols or masses are never equivalent (:meth:`inslib.structure.
        Crystal.spglib_cell`): H and D on equivalent sites are two orbits.
        """
        try:
            equivalent = np.asarray(symmetry_dataset(crystal).equivalent_atoms)
        except StructureError:
            equivalent = np.arange(crystal.n_atoms)
        _, orbit = np.unique(equivalent, return_inverse=True)
        member = np.zeros((orbit.max() + 1, crystal.n_atoms))
        member[orbit, np.arange(crystal.n_atoms)] = 1.0
        size = member.sum(axis=1)
        return cls(member / size[:, None], size)

    def average(self, values):
        """Orbit means of per-atom values.

        ``values``: torch, (n_sets, n_atoms, ...); returns (n_sets, n_orbits, ...).
        """
        import torch

        mean = torch.as_tensor(self.mean, dtype=values.dtype, device=values.device)
        return torch.einsum("oa,sa...->so...", mean, values)

    def total(self, per_atom: np.ndarray) -> np.ndarray:
        """Orbit sums of a per-atom quantity (cross-sections), shape (n_orbits,)."""
        return (self.mean * self.size[:, None]) @ np.asarray(per_atom, dtype=float)


@dataclass
class Multiphonon:
    """Incoherent one-phonon + multiphonon terms (incoherent approximation) on output bins.

    Attributes
    ----------
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV.
    resolution : Resolution
    max_order : int
        Highest n-phonon order (>= 1).
    creation_only : bool
        n >= 2 from phonon creation only (OCLIMAX run with its energy window from 0 up).
    """

    e_edges: np.ndarray
    resolution: Resolution
    max_order: int = 10
    creation_only: bool = False

    def grid(self, dos_top: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Symmetric grid (meV), the points near the output range and the binning kernel.

        ``dos_top`` (meV): the highest DOS bin centre; the grid holds max_order times it.

        Returns
        -------
        energy : numpy.ndarray, shape (n_grid,)
        near : numpy.ndarray of bool, shape (n_grid,)
        kernel : numpy.ndarray, shape (n_e, n_near)
            Bin averages of the resolution Gaussians of the near points (per unit weight).
        """
        import torch

        edges = self.e_edges
        step = float(np.min(np.diff(edges))) / OVERSAMPLE
        e_limit = float(max(abs(edges[0]), abs(edges[-1])))
        energy = multiphonon_grid(dos_top, self.max_order, e_limit, step)
        pad = 5 * self.resolution.largest + step
        near = (energy > edges[0] - pad) & (energy < edges[-1] + pad)
        sigma = self.resolution(torch.as_tensor(energy[near])).numpy()
        return energy, near, bin_kernel(energy[near], sigma, edges) * step

    def orders(self, mesh: MeshResults, temperature: float, energy: np.ndarray, masses,
               orbits: Orbits):
        """T_n of every set and orbit on ``energy``, and the orbits' u^2.

        Returns torch tensors (n_sets, max_order, n_orbits, n_grid) and (n_sets, n_orbits),
        Angstrom^2. T_1 from the orbit's DOS whose Debye region carries the mode-sum u^2 (``masses``
        (n_atoms,), amu; :func:`match_debye_region`).
        """
        msd = orbits.average(isotropic_msd(mesh.dw))
        partial = match_debye_region(orbits.average(mesh.partial), mesh.dos_energy,
                                     orbits.mean @ np.asarray(masses, dtype=float), temperature,
                                     msd, mesh.debye_cut)
        return multiphonon_orders(partial, mesh.dos_energy, temperature, self.max_order,
                                  energy, self.creation_only), msd


def _cross_sections(crystal, coherent: bool) -> tuple[np.ndarray, np.ndarray]:
    """(sigma for n = 1, sigma for n >= 2), barn: incoherent + total, or total for both."""
    data = crystal.scattering
    total = data["sigma_coh"] + data["sigma_inc"]
    return (data["sigma_inc"] if coherent else total), total


@dataclass
class PowderResult:
    """A batch of powder maps.

    Attributes
    ----------
    signal : torch.Tensor, shape (n_sets, n_q, n_e)
        mbarn/meV per atom (bin averages); 0 in masked bins.
    halves : torch.Tensor or None, shape (n_sets, 2, n_q, n_e)
        Coherent part from the two interleaved halves of the directions (convergence).
    mesh : MeshResults
    """

    signal: object
    halves: object
    mesh: MeshResults


@dataclass
class PowderForward:
    """Powder S(|Q|, E) on a template's bins, mask and resolution, for force-constant sets.

    Attributes
    ----------
    model : PhononModel
    q_edges : numpy.ndarray, shape (n_q + 1,)
        |Q| bin edges, 1/Angstrom.
    mask : numpy.ndarray of bool, shape (n_q, n_e)
        True where a bin is not covered (set to 0).
    thermal : Thermal
    multiphonon : Multiphonon
        Energy bins, resolution and incoherent-term settings.
    coherent, incoherent : bool
        Which terms (with ``coherent`` off, every order uses the total cross-section).
    sampling : PowderSampling
    q_resolution : float
        Gaussian |Q| FWHM, 1/Angstrom (0 = none).
    """

    model: object
    q_edges: np.ndarray
    mask: np.ndarray
    thermal: Thermal
    multiphonon: Multiphonon
    coherent: bool = True
    incoherent: bool = True
    sampling: PowderSampling = field(default_factory=PowderSampling)
    q_resolution: float = 0.0

    @functools.cached_property
    def shells(self) -> tuple:
        """Sample points of the powder average (fixed: computed once per forward model)."""
        return shell_vectors(self.q_edges, self.sampling, self.model.crystal)

    def __call__(self, fc=None, mesh: MeshResults | None = None, progress=None) -> PowderResult:
        """Compute maps of the sets ``fc`` (n_sets, n_cells, 3N, 3N); the model's own by default.

        ``mesh`` reuses Debye-Waller and DOS computed before (a cached set-up).
        """
        import torch

        report = progress or (lambda _fraction: None)
        mesh = mesh if mesh is not None else self.thermal.mesh(self.model, fc)
        e_edges = self.multiphonon.e_edges
        n_sets = mesh.dw.shape[0]
        signal = torch.zeros((n_sets, len(self.q_edges) - 1, len(e_edges) - 1),
                             **self.model.opts)
        halves = None
        if self.coherent:
            halves = coherent_powder(self.model, self.q_edges, e_edges,
                                     self.multiphonon.resolution, self.thermal.temperature,
                                     mesh.dw, self.sampling, fc, progress=report,
                                     shells=self.shells)
            signal = signal + halves.mean(dim=1)
        if self.incoherent:
            signal = signal + self.incoherent_terms(mesh)
        signal = q_broadening(signal, self.q_edges, self.q_resolution)
        mask = torch.as_tensor(self.mask, device=signal.device)
        return PowderResult(torch.where(mask, 0.0, signal), halves, mesh)

    def incoherent_terms(self, mesh: MeshResults):
        """Incoherent one-phonon and multiphonon terms (torch, (n_sets, n_q, n_e)), unmasked."""
        import torch

        opts = self.model.opts
        energy, near, kernel = self.multiphonon.grid(float(mesh.dos_energy[-1]))
        crystal = self.model.crystal
        orders, msd = self.multiphonon.orders(mesh, self.thermal.temperature, energy,
                                              crystal.masses, self.orbits)
        frac = (np.arange(Q_SUBSAMPLES) + 0.5) / Q_SUBSAMPLES
        q = self.q_edges[:-1, None] + np.diff(self.q_edges)[:, None] * frac[None]
        sigma_one, sigma_multi = _cross_sections(crystal, self.coherent)
        sqe = incoherent_sqe(orders[..., near], msd, torch.as_tensor(q, **opts),
                             self.orbits.total(sigma_one), self.orbits.total(sigma_multi),
                             crystal.n_atoms)
        return sqe @ torch.as_tensor(kernel.T, **opts)

    @functools.cached_property
    def orbits(self) -> Orbits:
        """Symmetry-equivalent atoms of the model's crystal (computed once)."""
        return Orbits.of(self.model.crystal)

def q_broadening(signal, q_edges: np.ndarray, fwhm: float):
    """Gaussian |Q| resolution of maps whose bins hold averages over |Q| (not densities).

    Parameters
    ----------
    signal : torch.Tensor, shape (n_sets, n_q, n_e)
    q_edges : numpy.ndarray, shape (n_q + 1,)
        |Q| bin edges, 1/Angstrom (uniform or not).
    fwhm : float
        Gaussian FWHM, 1/Angstrom (0 = none).

    Returns
    -------
    torch.Tensor, shape (n_sets, n_q, n_e)
        out_i = sum_j S_j w_j m_ij / w_i, m_ij the mass of bin j's Gaussian in bin i.
    """
    import torch

    if fwhm <= 0:
        return signal
    centres = 0.5 * (q_edges[1:] + q_edges[:-1])
    kernel = bin_kernel(centres, fwhm * FWHM_TO_SIGMA, q_edges) * np.diff(q_edges)[None, :]
    return torch.as_tensor(kernel, dtype=signal.dtype, device=signal.device) @ signal


def indirect_q(energy, efixed: float, angle_deg: float) -> np.ndarray:
    """|Q| (1/Angstrom) at energy transfers E (meV) for a bank at 2theta; NaN where E <= -Ef."""
    from inslib.units import wavevector

    energy = np.asarray(energy, dtype=float)
    ki = wavevector(np.where(energy + efixed > 0, energy + efixed, np.nan))
    kf = wavevector(efixed)
    return np.sqrt(np.clip(ki**2 + kf**2 - 2 * ki * kf * math.cos(math.radians(angle_deg)),
                           0.0, None))


@dataclass
class IndirectForward:
    """S(E) per analyser bank of an indirect-geometry instrument, per order, for FC sets.

    Incoherent approximation with the total cross-section for every order (OCLIMAX TASK=0):
    each bank sees one |Q|(E) trajectory at fixed final energy.

    Attributes
    ----------
    model : PhononModel
    thermal : Thermal
    multiphonon : Multiphonon
    efixed : float
        Final energy, meV.
    angles : numpy.ndarray, shape (n_banks,)
        Scattering angle of each bank, degrees.
    """

    model: object
    thermal: Thermal
    multiphonon: Multiphonon
    efixed: float
    angles: np.ndarray

    def __call__(self, fc=None, mesh: MeshResults | None = None):
        """Spectra (torch, (n_sets, n_banks, max_order, n_e)), mbarn/meV per atom."""
        import torch

        opts = self.model.opts
        mesh = mesh if mesh is not None else self.thermal.mesh(self.model, fc)
        energy, near, kernel = self.multiphonon.grid(float(mesh.dos_energy[-1]))
        crystal = self.model.crystal
        orders, msd = self.multiphonon.orders(mesh, self.thermal.temperature, energy,
                                              crystal.masses, self.orbits)
        orders = orders[..., near]
        _, total = _cross_sections(crystal, coherent=False)
        scale = torch.as_tensor(self.orbits.total(total) * 1000.0 / (4 * math.pi)
                                / crystal.n_atoms, **opts)
        kernel = torch.as_tensor(kernel.T, **opts)
        banks = []
        for angle in self.angles:
            q = torch.as_tensor(np.nan_to_num(indirect_q(energy[near], self.efixed, angle)),
                                **opts)
            weights = order_weights(msd, q, self.multiphonon.max_order)
            banks.append(torch.einsum("a,soae,soae->soe", scale, weights, orders) @ kernel)
        return torch.stack(banks, dim=1)

    @functools.cached_property
    def orbits(self) -> Orbits:
        """Symmetry-equivalent atoms of the model's crystal (computed once)."""
        return Orbits.of(self.model.crystal)


@dataclass
class RowsForward:
    """Coherent one-phonon S(Q, E) of fixed q-points summed into rows (q-path bins, grid bins).

    Attributes
    ----------
    model : PhononModel
    q_frac : numpy.ndarray, shape (nq, 3)
        Fractional Q in the model's reciprocal lattice (the sample points).
    rows : numpy.ndarray of int, shape (nq,)
        Output row of each point.
    n_rows : int
    per_row : float
        Points per row the sum is divided by (the mean over a row's samples).
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy bin edges, meV.
    resolution : Resolution
    thermal : Thermal
    chunk : int
        q-points per batch of modes (mode calculations, with ``qe_resolution``).
    qe_resolution : QEResolution or None
        Q-E resolution covariance (:mod:`inslib.scattering.qe_resolution`): replaces
        ``resolution`` (energy only, at the points themselves) when given.
    """

    model: object
    q_frac: np.ndarray
    rows: np.ndarray
    n_rows: int
    per_row: float
    e_edges: np.ndarray
    resolution: Resolution
    thermal: Thermal
    chunk: int = 20000
    qe_resolution: object = None

    def __call__(self, fc=None, dw=None, progress=None):
        """Spectra (torch, (n_sets, n_rows, n_e)), mbarn/meV per atom (bin averages).

        ``dw`` (n_sets, n_atoms, 3, 3), Angstrom^2: Debye-Waller matrices computed before;
        from the mesh of ``fc`` when None.
        """
        import torch

        from inslib.scattering.binning import ExactDeposit
        from inslib.scattering.coherent import deposit_modes

        if dw is None:
            dw = self.thermal.mesh(self.model, fc).dw
        if self.qe_resolution is not None:
            return self._resolved(dw, fc, progress)
        deposit = ExactDeposit(self.resolution, self.e_edges, self.model.opts)
        acc = torch.zeros((dw.shape[0], self.n_rows, deposit.n_columns), **self.model.opts)
        rows = torch.as_tensor(self.rows, device=acc.device)
        step = modes_batch(self.model.n_atoms, dw.shape[0], self.chunk)
        for start in range(0, len(self.q_frac), step):
            stop = min(start + step, len(self.q_frac))
            acc = deposit_modes(acc, self.model, self.q_frac[start:stop], rows[start:stop],
                                deposit, self.thermal.temperature, dw, fc)
            if progress is not None:
                progress(stop / len(self.q_frac))
        return acc / self.per_row

    def _resolved(self, dw, fc, progress):
        """Spectra with the Q-E covariance (``qe_resolution``), as :meth:`__call__`."""
        import torch

        from inslib.scattering.qe_resolution import deposit_resolved

        qe = self.qe_resolution
        rng = np.random.default_rng(qe.seed)
        acc = torch.zeros((dw.shape[0], self.n_rows, len(self.e_edges) - 1), **self.model.opts)
        rows = torch.as_tensor(self.rows, device=acc.device)
        calculations = qe.draws * (qe.probes + 1)  # mode calculations a point
        step = max(1, modes_batch(self.model.n_atoms, dw.shape[0], self.chunk) // calculations)
        for start in range(0, len(self.q_frac), step):
            stop = min(start + step, len(self.q_frac))
            acc = deposit_resolved(acc, self.model, self.q_frac[start:stop], rows[start:stop],
                                   self.e_edges, qe, self.thermal.temperature, dw, fc, rng)
            if progress is not None:
                progress(stop / len(self.q_frac))
        return acc / self.per_row
