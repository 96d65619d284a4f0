"""Powder q-points: reciprocal-lattice vectors of the MD supercell within each |Q| bin.

Only q-points commensurate with the supercell (its reciprocal-lattice vectors) give
correlation functions free of periodic-image artifacts; dynasor generates them. A |Q| bin then
holds the q-points whose norm falls in it (left-closed bins, as np.digitize), at most
``max_per_bin`` of them, drawn without replacement with a seed.
"""

from dataclasses import dataclass

import numpy as np


class SamplingError(ValueError):
    """q-points an output cannot be built from; ``prop`` names the property to change."""

    def __init__(self, message: str, *, prop: str):
        super().__init__(message)
        self.prop = prop


@dataclass(frozen=True)
class PowderQPoints:
    """Commensurate q-points grouped by |Q| bin.

    Attributes
    ----------
    q_points : numpy.ndarray, shape (n_q, 3)
        Cartesian q-vectors, 1/Angstrom (including 2 pi).
    bins : numpy.ndarray of int, shape (n_q,)
        |Q| bin of each q-point.
    counts : numpy.ndarray of int, shape (n_bins,)
        q-points used per |Q| bin (0 = the supercell has none there).
    """

    q_points: np.ndarray
    bins: np.ndarray
    counts: np.ndarray


def powder_qpoints(*, cell: np.ndarray, q_edges: np.ndarray, wanted: np.ndarray,
                   max_per_bin: int, seed: int) -> PowderQPoints:
    """Choose the commensurate q-points of each wanted |Q| bin.

    Parameters
    ----------
    cell : numpy.ndarray, shape (3, 3)
        Supercell vectors as rows, Angstrom.
    q_edges : numpy.ndarray, shape (n_bins + 1,)
        |Q| bin edges, 1/Angstrom, ascending.
    wanted : numpy.ndarray of bool, shape (n_bins,)
        Bins to fill (those with any unmasked energy bin).
    max_per_bin : int
        Most q-points kept per bin (>= 1).
    seed : int
        Seed of the random choice where a bin holds more.
    """
    from dynasor import get_spherical_qpoints

    q_edges = np.asarray(q_edges, dtype=float)
    low = max(float(q_edges[0]), 1e-9)  # Q = 0 is the conserved total density: no dynamics
    candidates = get_spherical_qpoints(np.asarray(cell, dtype=float), q_max=float(q_edges[-1]),
                                       q_min=low)
    bins = np.digitize(np.linalg.norm(candidates, axis=1), q_edges) - 1
    inside = (bins >= 0) & (bins < len(wanted))
    inside[inside] &= wanted[bins[inside]]
    rng = np.random.default_rng(seed)
    keep = []
    for index in np.unique(bins[inside]):
        members = np.flatnonzero(inside & (bins == index))
        if len(members) > max_per_bin:
            members = np.sort(rng.choice(members, max_per_bin, replace=False))
        keep.append(members)
    chosen = np.concatenate(keep) if keep else np.zeros(0, dtype=int)
    counts = np.bincount(bins[chosen], minlength=len(wanted))
    return PowderQPoints(candidates[chosen], bins[chosen], counts)


def reciprocal_spacing(cell: np.ndarray) -> float:
    """Shortest reciprocal-lattice vector of the supercell, 1/Angstrom (including 2 pi).

    ``cell``: rows, Angstrom, shape (3, 3). The finest |Q| the supercell resolves near Q = 0.
    """
    reciprocal = 2 * np.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T
    return float(np.min(np.linalg.norm(reciprocal, axis=1)))
