"""q-points of the MD supercell along a high-symmetry path, on the harmonic route's path bins.

The path is parsed by :func:`inslib.simulation.qpath.parse_path` in the structure's own cell
(labels or [h,k,l]) and binned as SimulateSingleCrystalSQE's q-path (bins of about PathStep
along each segment, :func:`inslib.simulation.qpath.path_samples`). Only the points of each
segment that the supercell represents enter, Q = h (fractional) with M h integer for the
supercell matrix M (supercell rows = M x cell rows), each in the bin of its segment that
holds it (a segment's end points in its own first or last bin, so a point shared by two
segments enters both); a path bin without such a point is masked.
"""

from dataclasses import dataclass

import numpy as np

from inslib.md.qpoints import SamplingError
from inslib.simulation.qpath import PathError, parse_path, path_samples

INTEGER_TOL = 1e-6  # of M h against the nearest integer vector
MAX_STRAIN = 0.05  # trajectory cell against the integer supercell of the structure (expansion)


@dataclass(frozen=True)
class PathQPoints:
    """Commensurate q-points along a path, grouped by path bin.

    Attributes
    ----------
    q_points : numpy.ndarray, shape (n_q, 3)
        Cartesian q-vectors of the trajectory's cell, 1/Angstrom (2 pi included).
    bins : numpy.ndarray of int, shape (n_q,)
        Path bin of each q-point.
    counts : numpy.ndarray of int, shape (n_bins,)
        q-points per path bin (0 = masked).
    edges : numpy.ndarray, shape (n_bins + 1,)
        Path coordinate of the bin edges, 1/Angstrom (the structure's cell).
    ticks : list of (float, str)
        Labelled positions along the path.
    """

    q_points: np.ndarray
    bins: np.ndarray
    counts: np.ndarray
    edges: np.ndarray
    ticks: list


def supercell_matrix(cell: np.ndarray, crystal_cell: np.ndarray) -> np.ndarray:
    """Integer M with cell ~ M @ crystal_cell, shape (3, 3).

    Parameters
    ----------
    cell : numpy.ndarray, shape (3, 3)
        Trajectory (supercell) rows, Angstrom.
    crystal_cell : numpy.ndarray, shape (3, 3)
        StructureFile rows, Angstrom.

    Raises
    ------
    SamplingError
        (StructureFile) when no integer M gives the cell within :data:`MAX_STRAIN`.
    """
    matrix = np.rint(cell @ np.linalg.inv(crystal_cell)).astype(int)
    built = matrix @ crystal_cell
    strain = np.linalg.norm(cell - built) / max(np.linalg.norm(built), 1e-12)
    if round(abs(np.linalg.det(matrix))) == 0 or strain > MAX_STRAIN:
        msg = (f"the trajectory's cell {np.round(cell, 3).tolist()} Angstrom is not an integer "
               f"supercell of the structure's {np.round(crystal_cell, 3).tolist()} (within "
               f"{MAX_STRAIN:.0%}): give the StructureFile the trajectory was built from")
        raise SamplingError(msg, prop="StructureFile")
    return matrix


def commensurate_fractions(qa: np.ndarray, qb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Fractions t in [0, 1] where qa + t (qb - qa) is a q-point of the supercell.

    Parameters
    ----------
    qa, qb : numpy.ndarray, shape (3,)
        Segment ends, fractional coordinates of the structure's reciprocal lattice.
    matrix : numpy.ndarray of int, shape (3, 3)
        Supercell matrix M.

    Returns
    -------
    numpy.ndarray, shape (n_t,)
        Ascending t where M (qa + t (qb - qa)) is an integer vector.
    """
    start, step = matrix @ qa, matrix @ (qb - qa)
    axis = int(np.argmax(np.abs(step)))  # every integer point crosses an integer on this axis
    low, high = sorted((start[axis], start[axis] + step[axis]))
    k = np.arange(np.ceil(low - INTEGER_TOL), np.floor(high + INTEGER_TOL) + 1)
    t = (k - start[axis]) / step[axis]
    m = start[None, :] + t[:, None] * step[None, :]
    return np.sort(t[np.all(np.abs(m - np.rint(m)) < INTEGER_TOL, axis=1)])


def path_qpoints(*, path: str, crystal, cell: np.ndarray, step: float,
                 elastic: bool) -> PathQPoints:
    """Commensurate q-points of the path ``path`` on bins of about ``step`` (1/Angstrom).

    ``crystal``: the structure (labels, path coordinate); ``cell`` (3, 3), Angstrom: the
    trajectory's supercell (q-vectors). Q = 0 is left out (conserved density), and without
    ``elastic`` the reciprocal-lattice points (Bragg, no inelastic coherent part for a
    crystal of one atom per cell, optical modes only otherwise).

    Raises
    ------
    SamplingError
        (QPath) for a path that does not parse, or a segment holding no usable point.
    """
    try:
        segments = parse_path(path, crystal)
    except PathError as err:
        raise SamplingError(str(err), prop="QPath") from err
    matrix = supercell_matrix(cell, crystal.cell)
    _, _, edges, ticks = path_samples(segments, crystal.reciprocal, step, 1,
                                      np.random.default_rng(0))
    points, bins, offset = [], [], 0
    for a, b, qa, qb in segments:
        t = commensurate_fractions(qa, qb, matrix)
        h = qa[None, :] + t[:, None] * (qb - qa)[None, :]
        usable = ~np.all(np.abs(h - (0 if elastic else np.rint(h))) < INTEGER_TOL, axis=1)
        if not usable.any():
            raise SamplingError(_empty_segment(path, a, b, qa, qb, matrix), prop="QPath")
        n = max(1, round(float(np.linalg.norm((qb - qa) @ crystal.reciprocal)) / step))
        points.append(h[usable])
        bins.append(offset + np.minimum((t[usable] * n).astype(int), n - 1))
        offset += n
    bins = np.concatenate(bins)
    q_points = (np.concatenate(points) @ matrix.T) @ (2 * np.pi * np.linalg.inv(cell).T)
    return PathQPoints(q_points, bins, np.bincount(bins, minlength=len(edges) - 1), edges,
                       ticks)


def _empty_segment(path: str, a: str, b: str, qa, qb, matrix) -> str:
    return (f"QPath={path!r}: segment {a}-{b} ({np.round(qa, 4).tolist()} to "
            f"{np.round(qb, 4).tolist()}) holds no q-point the supercell {matrix.tolist()} "
            "represents (M h integer) other than Q = 0 and, without Elastic, reciprocal-lattice "
            "vectors: use a larger SupercellMatrix, or a path through points [h,k,l] with M h "
            "integer")
