"""Indirect-geometry S(E) per analyser bank (TOSCA, VISION) from MD powder spectra.

Each bank sees one |Q|(E) trajectory at fixed final energy
(:func:`inslib.simulation.forward.indirect_q`, as the harmonic route). The MD spectra are
powder-averaged over the commensurate q-points of |Q| bins that cover the banks' trajectories
(QBinning, default :data:`DEFAULT_Q_STEP` wide), and each bank takes at every energy the
spectrum of the |Q| bin its trajectory crosses there. Unlike the harmonic route's incoherent
approximation, the coherent part is the exact powder average (its Q dependence included).
"""

from dataclasses import dataclass

import numpy as np

from inslib.axes import parse_binning
from inslib.md.qpoints import PowderQPoints, powder_qpoints
from inslib.simulation.forward import indirect_q

DEFAULT_Q_STEP = 0.1  # 1/Angstrom: tens of commensurate q-points per bin above 1 1/A (64 atoms)


@dataclass(frozen=True)
class IndirectQPoints:
    """Commensurate q-points per |Q| bin along the banks' trajectories.

    Attributes
    ----------
    powder : PowderQPoints
        q-points, their |Q| bins and counts.
    q_edges : numpy.ndarray, shape (n_bins + 1,)
        |Q| bin edges, 1/Angstrom.
    angles : numpy.ndarray, shape (n_banks,)
        Scattering angle of each bank, degrees.
    efixed : float
        Final energy, meV.
    """

    powder: PowderQPoints
    q_edges: np.ndarray
    angles: np.ndarray
    efixed: float

    @property
    def q_points(self) -> np.ndarray:
        """Cartesian q-vectors (n_q, 3), 1/Angstrom."""
        return self.powder.q_points

    @property
    def bins(self) -> np.ndarray:
        """|Q| bin of each q-point, (n_q,)."""
        return self.powder.bins

    @property
    def counts(self) -> np.ndarray:
        """q-points per |Q| bin, (n_bins,)."""
        return self.powder.counts

    def bank_bins(self, energy: np.ndarray) -> np.ndarray:
        """|Q| bin of each bank at energies (meV, (n,)): (n_banks, n), -1 outside the bins."""
        return np.stack([_bin_of(indirect_q(energy, self.efixed, angle), self.q_edges)
                         for angle in self.angles])


def _bin_of(q: np.ndarray, q_edges: np.ndarray) -> np.ndarray:
    index = np.digitize(np.nan_to_num(q, nan=-1.0), q_edges) - 1
    return np.where((index >= 0) & (index < len(q_edges) - 1), index, -1)


def bank_angles(instrument) -> np.ndarray:
    """Mean scattering angle of each analyser bank, degrees, shape (n_banks,)."""
    return instrument.banks_deg.mean(axis=1)


def trajectory_q_edges(q_binning: str, e_edges: np.ndarray, efixed: float,
                       angles: np.ndarray) -> np.ndarray:
    """|Q| bin edges (1/Angstrom): QBinning, else :data:`DEFAULT_Q_STEP` over the banks' reach.

    ``e_edges`` (n_e + 1,), meV; ``angles`` (n_banks,), degrees.
    """
    if q_binning:
        return parse_binning(q_binning, "QBinning", "1/Angstrom")
    q = np.concatenate([indirect_q(e_edges, efixed, angle) for angle in angles])
    low = np.floor(np.nanmin(q) / DEFAULT_Q_STEP) * DEFAULT_Q_STEP
    high = np.ceil(np.nanmax(q) / DEFAULT_Q_STEP) * DEFAULT_Q_STEP
    return np.arange(round((high - low) / DEFAULT_Q_STEP) + 1) * DEFAULT_Q_STEP + low


def indirect_qpoints(*, cell: np.ndarray, q_binning: str, e_edges: np.ndarray, efixed: float,
                     angles: np.ndarray, max_per_bin: int, seed: int) -> IndirectQPoints:
    """Choose the commensurate q-points of the |Q| bins the banks cross over ``e_edges``.

    ``cell`` (3, 3): supercell rows, Angstrom; ``e_edges`` (n_e + 1,), meV; ``angles``
    (n_banks,), degrees; ``efixed`` meV.
    """
    q_edges = trajectory_q_edges(q_binning, e_edges, efixed, angles)
    fine = np.linspace(e_edges[0], e_edges[-1], 8 * len(e_edges))
    crossed = np.zeros(len(q_edges) - 1, bool)
    for angle in angles:
        index = _bin_of(indirect_q(fine, efixed, angle), q_edges)
        crossed[index[index >= 0]] = True
    powder = powder_qpoints(cell=cell, q_edges=q_edges, wanted=crossed, max_per_bin=max_per_bin,
                            seed=seed)
    return IndirectQPoints(powder, q_edges, np.asarray(angles, float), float(efixed))


def bank_rows(*, energy: np.ndarray, rows: np.ndarray, bank_bins: np.ndarray) -> np.ndarray:
    """Each bank's spectrum: at every energy the row of the |Q| bin its trajectory crosses.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n_w,)
        Energy grid, meV.
    rows : numpy.ndarray, shape (n_bins, n_w)
        Powder S(|Q|, E) per |Q| bin (mbarn/meV per atom; NaN rows: bins without q-points).
    bank_bins : numpy.ndarray of int, shape (n_banks, n_w)
        |Q| bin per bank and energy (-1: outside the bins).

    Returns
    -------
    numpy.ndarray, shape (n_banks, n_w)
        mbarn/meV per atom; NaN where the bin is empty or outside.
    """
    columns = np.arange(len(energy))
    picked = rows[np.maximum(bank_bins, 0), columns[None, :]]
    return np.where(bank_bins >= 0, picked, np.nan)
