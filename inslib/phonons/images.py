"""Supercell images: which periodic copy of each atom pair a force constant belongs to.

A force constant computed in a periodic supercell couples atom i with every supercell image of
atom j. It is assigned to the image(s) nearest to i: those inside the Wigner-Seitz cell of the
supercell lattice centred on i, with a tolerance so images on the cell boundary share the force
constant equally. The result is a table of lattice vectors with the (weighted) force constants
that belong to each, from which the dynamical matrix is one Fourier sum.
"""

from dataclasses import dataclass

import numpy as np

SHELLS = 2  # supercells searched in each direction
BOUNDARY = 0.501  # |d.w| <= BOUNDARY |w|^2 for every Wigner-Seitz neighbour w


@dataclass
class ImageTable:
    """Where each force-constant block goes in the lattice-vector sum.

    Attributes
    ----------
    vectors : numpy.ndarray of int, shape (n_vectors, 3)
        Distinct lattice vectors L (units of the primitive lattice vectors).
    cell, atom_i, atom_j, vector : numpy.ndarray of int, shape (n_entries,)
        For each entry: supercell cell index, the two atoms and the index into ``vectors``.
    weight : numpy.ndarray, shape (n_entries,)
        1 / number of equidistant images.
    """

    vectors: np.ndarray
    cell: np.ndarray
    atom_i: np.ndarray
    atom_j: np.ndarray
    vector: np.ndarray
    weight: np.ndarray


def _neighbours(sc_vectors: np.ndarray) -> np.ndarray:
    """Return the 26 nearest supercell lattice vectors (Cartesian), shape (26, 3)."""
    grid = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    grid = grid[np.any(grid != 0, axis=1)]
    return grid @ sc_vectors


def image_table(cell, positions, cell_origins, sc_matrix) -> ImageTable:
    """Build the lattice-vector table of a supercell force-constant set.

    Parameters
    ----------
    cell : numpy.ndarray, shape (3, 3)
        Primitive lattice vectors as rows, Angstrom.
    positions : numpy.ndarray, shape (n_atoms, 3)
        Fractional atom positions.
    cell_origins : numpy.ndarray of int, shape (n_cells, 3)
        Cell origins of the supercell, primitive units.
    sc_matrix : numpy.ndarray of int, shape (3, 3)
        Supercell matrix.
    """
    sc_vectors = sc_matrix @ cell
    ws = _neighbours(sc_vectors)
    rng = np.arange(-SHELLS, SHELLS + 1)
    shifts = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    translations = shifts @ sc_matrix  # primitive units, (n_t, 3)
    lattice = cell_origins[:, None, :] + translations[None]  # (n_cells, n_t, 3)
    # d = r_i - (r_j + L), shape (n_cells, n_t, n_atoms, n_atoms, 3)
    rel = positions[:, None, :] - positions[None, :, :]
    d = (rel[None, None] - lattice[:, :, None, None, :]) @ cell
    inside = np.all(np.abs(d @ ws.T) <= BOUNDARY * np.sum(ws * ws, axis=1), axis=-1)
    count = inside.sum(axis=1)  # (n_cells, n_atoms, n_atoms)
    c, t, i, j = np.nonzero(inside)
    vectors, index = np.unique(lattice[c, t], axis=0, return_inverse=True)
    return ImageTable(vectors, c, i, j, index.ravel(), 1.0 / count[c, i, j])
