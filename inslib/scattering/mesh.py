"""Debye-Waller matrices and partial DOS from one pass over a Monkhorst-Pack mesh (torch).

Both need the modes on the same mesh; computing them together halves the eigensolves. Batched
over force-constant sets and differentiable in them.
"""

from dataclasses import dataclass

import numpy as np

from inslib.phonons.model import MODES_BATCH_BYTES, modes_batch
from inslib.scattering.dos import debye_cut, mesh_dos
from inslib.scattering.thermal import (
    check_temperature,
    dw_normalise,
    dw_sum,
    mp_grid,
    symmetrise_dw,
)

DOS_MARGIN = 1.05  # default DOS grid top over the highest mode


@dataclass
class MeshResults:
    """What the mesh gives each force-constant set.

    Attributes
    ----------
    dw : torch.Tensor, shape (n_sets, n_atoms, 3, 3)
        Debye-Waller matrices W, Angstrom^2.
    partial : torch.Tensor, shape (n_sets, n_atoms, n_dos)
        Regularised partial DOS, states per meV per atom, on ``dos_energy``.
    dos_energy : numpy.ndarray, shape (n_dos,)
        Uniform bin centres, meV.
    n_imaginary : numpy.ndarray of int, shape (n_sets,)
        Modes with imaginary frequency (below -frequency_min) on the mesh (left out).
    lowest : numpy.ndarray, shape (n_sets,)
        Lowest mode energy on the mesh, meV (negative = imaginary).
    lowest_q : numpy.ndarray, shape (n_sets, 3)
        Fractional q of that mode.
    debye_cut : numpy.ndarray, shape (n_sets,)
        Below this energy (meV) ``partial`` is the Debye law of the regularisation
        (:func:`inslib.scattering.dos.debye_cut`; 0 = none).
    """

    dw: object
    partial: object
    dos_energy: np.ndarray
    n_imaginary: np.ndarray
    lowest: np.ndarray
    lowest_q: np.ndarray
    debye_cut: np.ndarray

    @property
    def width(self) -> float:
        """DOS bin width, meV."""
        return float(self.dos_energy[1] - self.dos_energy[0])


def mesh_results(model, temperature: float, grid: int, e_max: float | None = None, fc=None,
                 width: float = 0.05, frequency_min: float = 0.01,
                 chunk: int = 4096) -> MeshResults:
    """Debye-Waller matrices and regularised partial DOS of force-constant sets.

    Parameters
    ----------
    model : PhononModel
    temperature : float
        K.
    grid : int
        Monkhorst-Pack mesh n x n x n.
    e_max : float, optional
        Top of the DOS grid, meV. Fixed by the caller so that every set of a batch (and the
        same set alone) gets the same grid; a set with modes above it is refused. By default
        1.05 x the highest mode (for one set).
    fc : torch.Tensor, optional, shape (n_sets, n_cells, 3N, 3N)
        Force-constant sets (the model's own by default).
    width : float
        DOS bin width, meV.
    chunk : int
        Most q-points per batch of modes; fewer where their working memory would pass the
        budget (:func:`inslib.phonons.model.modes_batch`).
    """
    temperature = check_temperature(temperature)
    q = mp_grid((grid,) * 3)
    chunk = modes_batch(model.n_atoms, 1 if fc is None else int(fc.shape[0]), chunk)
    total, freqs, weights = 0.0, None, None
    for start in range(0, len(q), chunk):
        stop = min(start + chunk, len(q))
        modes = model.modes(q[start:stop], fc)
        total = total + dw_sum(modes, temperature, frequency_min)
        weight = (modes.eigenvectors.real**2 + modes.eigenvectors.imag**2).sum(-1)
        if weights is None:  # filled batch by batch: joining batches would copy them all
            freqs = modes.frequencies.new_empty((len(weight), len(q), weight.shape[2]))
            weights = weight.new_empty((len(weight), len(q), *weight.shape[2:]))
        freqs[:, start:stop] = modes.frequencies
        weights[:, start:stop] = weight
    flat = freqs.detach().reshape(len(freqs), -1).cpu()
    e_max = _dos_top(float(flat.max()), e_max)
    partial, centres = mesh_dos(freqs, weights, width, grid, e_max, frequency_min)
    dw = symmetrise_dw(dw_normalise(total, model.crystal.masses, len(q)), model.crystal)
    where = flat.argmin(dim=1).numpy() // freqs.shape[-1]
    return MeshResults(dw, partial, centres, (flat < -frequency_min).sum(dim=1).numpy(),
                       flat.min(dim=1).values.numpy(), q[where],
                       debye_cut(freqs, grid, frequency_min))


def mesh_bytes(n_atoms: int, grid: int, n_sets: int = 1) -> int:
    """Memory (bytes) :func:`mesh_results` holds at its peak for a grid^3 mesh.

    The frequencies and per-atom eigenvector weights of every mode (float64, 3N x (N + 1) a
    q-point and set), plus one batch of modes (:data:`inslib.phonons.model.MODES_BATCH_BYTES`).
    Quartz on 48^3: 500 MB estimated, 576 MB measured (peak resident rise; the DOS binning's
    temporaries); joining the batches instead of filling one array had taken 847 MB.
    """
    return 8 * grid**3 * 3 * n_atoms * (n_atoms + 1) * n_sets + MODES_BATCH_BYTES


def _dos_top(highest: float, e_max: float | None) -> float:
    """Top of the DOS grid (meV): e_max, refused below the highest mode; 1.05 x it by default."""
    if e_max is None:
        return DOS_MARGIN * highest
    if highest >= e_max:
        msg = (f"force constants with modes up to {highest:.2f} meV, above the {e_max:.2f} meV "
               "the forward model was set up for: set it up with a larger e_max (or narrow the "
               "parameter range)")
        raise ValueError(msg)
    return float(e_max)
