"""Brillouin-zone folding: every equivalent copy of a q-path, from every zone, onto one path.

Everything is done in HKL coordinates of the conventional cell (the data's r.l.u.), with the
reciprocal metric of the data's lattice for distances, so no Cartesian frame has to agree
between the crystal file and the measurement. Steps:

1. voxel centres (Q dimensions D0..D2 with their projection vectors) -> hkl;
2. each hkl is reduced to the Wigner-Seitz zone of the *primitive* reciprocal lattice (the
   zone index G is kept for zone selection);
3. the path's segments are imaged by the point group (and by -1 for time reversal); a voxel
   belongs to an image when its reduced q is within ``half_width`` (1/Angstrom: one value =
   a cylinder; two values = a box along the two perpendicular directions of
   :func:`perpendiculars`, imaged with the segment) of it and projects inside it; the
   projection gives the bin along the original segment;
4. the matches form a sparse matrix (path bins x voxels) that folds the data one energy slab
   at a time, so a volume larger than memory streams from the SaveMD file.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from inslib.structure import Crystal, spglib_module, symmetry


class FoldError(ValueError):
    """A fold that cannot be done; the message names the property."""


@dataclass
class FoldGeometry:
    """Symmetry and metric of the folding, in conventional HKL coordinates.

    Attributes
    ----------
    operations : numpy.ndarray, shape (n_ops, 3, 3)
        Point-group operations acting on hkl row vectors (hkl @ op), time reversal included.
    metric : numpy.ndarray, shape (3, 3)
        Reciprocal metric B B^T of the data's lattice, 1/Angstrom^2 (2 pi included).
    to_primitive : numpy.ndarray, shape (3, 3)
        hkl @ to_primitive = coordinates in the primitive reciprocal basis.
    """

    operations: np.ndarray
    metric: np.ndarray
    to_primitive: np.ndarray


def lattice_cell(lattice) -> np.ndarray:
    """Cell rows (Angstrom) from (a, b, c, alpha, beta, gamma)."""
    from ase.geometry import cellpar_to_cell

    return np.asarray(cellpar_to_cell(list(lattice)))


def space_group_crystal(space_group: str, lattice) -> Crystal:
    """Build a conventional cell with the full symmetry of a space group (a generic orbit).

    Parameters
    ----------
    space_group : str
        International number ("227") or Hermann-Mauguin symbol ("Fd-3m").
    lattice : sequence of 6 floats
        a, b, c (Angstrom), alpha, beta, gamma (degrees) of the conventional cell.
    """
    spglib = spglib_module()
    hall = _hall_number(space_group)
    ops = spglib.get_symmetry_from_database(hall)
    seed = np.array([0.1234, 0.2345, 0.3456])
    orbit = (ops["rotations"] @ seed + ops["translations"]) % 1.0
    orbit = np.unique(np.round(orbit, 6) % 1.0, axis=0)
    crystal = Crystal(lattice_cell(lattice), orbit, ["Si"] * len(orbit), np.ones(len(orbit)))
    found = symmetry(crystal, symprec=1e-3).number
    wanted = spglib.get_spacegroup_type(hall).number
    if found != wanted:
        msg = (f"SpaceGroup {space_group!r} (No. {wanted}) is inconsistent with Lattice "
               f"{list(lattice)}: the lattice has symmetry No. {found} with that orbit; give "
               "the conventional-cell parameters of the space group")
        raise FoldError(msg)
    return crystal


def _hall_number(space_group: str) -> int:
    spglib = spglib_module()
    text = str(space_group).replace(" ", "")
    for hall in range(1, 531):
        kind = spglib.get_spacegroup_type(hall)
        names = {str(kind.number), kind.international_short.replace(" ", ""),
                 kind.international_full.replace(" ", ""), kind.international.replace(" ", "")}
        if text in names:
            return hall
    msg = f"SpaceGroup {space_group!r} is not a space-group number or Hermann-Mauguin symbol"
    raise FoldError(msg)


def fold_geometry(crystal: Crystal, data_lattice=None, time_reversal: bool = True) -> FoldGeometry:
    """Point-group operations on hkl, the data's reciprocal metric and the primitive basis."""
    sym = symmetry(crystal)
    # x -> R x on direct coordinates is h -> h R^-1 on hkl row vectors
    ops = np.linalg.inv(sym.rotations.astype(float))
    if time_reversal:
        ops = np.concatenate([ops, -ops])
    ops = np.unique(np.round(ops, 8).reshape(len(ops), -1), axis=0).reshape(-1, 3, 3)
    cell = lattice_cell(data_lattice) if data_lattice is not None else crystal.cell
    recip = 2 * math.pi * np.linalg.inv(cell).T
    return FoldGeometry(ops, recip @ recip.T, _primitive_transform(crystal))


def _primitive_transform(crystal: Crystal) -> np.ndarray:
    """Matrix M with hkl @ M = coordinates of q in the primitive reciprocal basis."""
    from inslib.structure import primitive_lattice

    prim = primitive_lattice(crystal)  # rows, Angstrom
    return (prim @ np.linalg.inv(crystal.cell)).T


def segment_images(segments, operations, frames=None) -> list:
    """Distinct oriented images (segment index, a', b', operation) of every segment.

    Images are kept as ordered pairs: a segment that some operation maps onto itself
    reversed is folded both ways, as the symmetry demands. With ``frames`` (the box
    directions of each segment), images whose boxes are turned differently about the same
    segment are distinct too (a box is symmetric under u -> -u).
    """
    images = []
    for index, (_, _, a, b) in enumerate(segments):
        keys = [a @ operations, b @ operations]
        if frames is not None:
            for side in frames[index]:
                u = side @ operations
                first_big = np.argmax(np.abs(u) > 1e-6, axis=1)
                sign = np.sign(u[np.arange(len(u)), first_big])
                keys.append(u * sign[:, None])
        ends = np.round(np.concatenate(keys, axis=1), 8)
        _, first = np.unique(ends, axis=0, return_index=True)
        images += [(index, a @ operations[k], b @ operations[k], k) for k in sorted(first)]
    return images


def perpendiculars(direction: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """Two unit directions (hkl, orthonormal in the metric) perpendicular to a segment.

    The first is the reciprocal axis c* (then b*, then a*, skipping one nearly parallel to the
    segment) made perpendicular to it; the second completes the right-angled frame.
    """
    def norm(v):
        return float(np.sqrt(v @ metric @ v))

    d = direction / norm(direction)
    frame = []
    for axis in np.eye(3)[::-1]:
        if abs(axis @ metric @ d) / norm(axis) > 0.9:
            continue
        v = axis - (axis @ metric @ d) * d - sum((axis @ metric @ u) * u for u in frame)
        if norm(v) > 1e-6:
            frame.append(v / norm(v))
        if len(frame) == 2:
            break
    return np.array(frame)


def reduce_to_zone(hkl: np.ndarray, geometry: FoldGeometry) -> tuple:
    """Wigner-Seitz reduction of hkl (n, 3) with the primitive reciprocal lattice.

    A point on a zone face (or edge) is equally close to several G: every such
    representative is returned, as the point belongs to each of those zones' copies of a
    path segment lying on the face.

    Returns
    -------
    reduced : numpy.ndarray, shape (m, 3)
        q = hkl - G in the first zone (conventional hkl), m >= n.
    zone : numpy.ndarray of int, shape (m, 3)
        G in the primitive reciprocal basis.
    voxel : numpy.ndarray of int, shape (m,)
        Index of the input point of each representative.
    """
    m = geometry.to_primitive
    # primitive G are a sublattice of the conventional integer hkl: search the 27 integer
    # points around the rounded hkl (a nearly orthogonal basis) and keep the allowed ones
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    candidates = np.rint(hkl)[:, None, :] + shifts[None]  # (n, 27, 3) conventional hkl
    primitive = candidates @ m
    allowed = np.all(np.abs(primitive - np.rint(primitive)) < 1e-6, axis=2)
    q = hkl[:, None, :] - candidates
    d = np.where(allowed, np.einsum("nsi,ij,nsj->ns", q, geometry.metric, q), np.inf)
    nearest = d.min(axis=1, keepdims=True)
    voxel, shift = np.nonzero(d <= nearest * (1 + 1e-9) + 1e-12)
    return q[voxel, shift], np.rint(primitive[voxel, shift]).astype(int), voxel


@dataclass
class Fold:
    """The sparse map from voxels to path bins, and the path's axis.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_bins, n_voxels)
        1 where a voxel contributes to a path bin (voxels in SaveMD's on-disk order).
    zones : numpy.ndarray of int, shape (n_matches, 3)
        Zone of every stored match (same order as matrix.data after construction).
    edges : numpy.ndarray, shape (n_bins + 1,)
        Path coordinate of the bin edges, 1/Angstrom.
    ticks : list of (float, str)
    """

    matrix: object
    edges: np.ndarray
    ticks: list
    match_zones: np.ndarray
    match_rows: np.ndarray
    match_cols: np.ndarray


def path_bins(segments, metric, step: float):
    """Bins along the path: per segment its count, the edges and the ticks."""
    counts, edges, ticks, position = [], [0.0], [], 0.0
    for k, (a, b, qa, qb) in enumerate(segments):
        d = qb - qa
        length = float(math.sqrt(d @ metric @ d))
        n = max(1, round(length / step))
        label = a if k == 0 or segments[k - 1][1] == a else f"{segments[k - 1][1]}|{a}"
        if ticks and ticks[-1][0] == position:
            ticks[-1] = (position, label)
        else:
            ticks.append((position, label))
        counts.append(n)
        edges.extend(position + length * np.arange(1, n + 1) / n)
        position += length
        ticks.append((position, b))
    return np.array(counts), np.array(edges), ticks


def build_fold(hkl_voxels, segments, geometry: FoldGeometry, half_width, step: float,
               chunk: int = 50_000) -> Fold:
    """Match voxel centres (n_voxels, 3 hkl) to path bins.

    ``half_width``: one value (cylinder radius) or two (box half-widths along the two
    :func:`perpendiculars` of each segment), 1/Angstrom.
    """
    widths = np.atleast_1d(np.asarray(half_width, dtype=float))
    counts, edges, ticks = path_bins(segments, geometry.metric, step)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    g = geometry.metric
    frames = [perpendiculars(qb - qa, g) for _, _, qa, qb in segments]
    images = segment_images(segments, geometry.operations, frames if len(widths) == 2 else None)
    seg = np.array([s for s, _, _, _ in images])
    start = np.array([a for _, a, _, _ in images])
    direction = np.array([b - a for _, a, b, _ in images])
    sides = np.array([frames[s] @ geometry.operations[k] for s, _, _, k in images])  # (k, 2, 3)
    g_dir, g_start = direction @ g, start @ g  # (k, 3)
    length2 = np.einsum("ki,ki->k", direction, g_dir)
    start_dir = np.einsum("ki,ki->k", start, g_dir)
    start2 = np.einsum("ki,ki->k", start, g_start)
    rows, cols, zones = [], [], []
    for first in range(0, len(hkl_voxels), chunk):
        q, zone, owner = reduce_to_zone(hkl_voxels[first:first + chunk], geometry)
        # t and squared distance from matrix products only (no (n, k, 3) temporaries)
        t = (q @ g_dir.T - start_dir) / length2
        tol = 1e-9
        if len(widths) == 1:
            rel2 = np.einsum("ni,ij,nj->n", q, g, q)[:, None] - 2 * q @ g_start.T + start2
            inside = rel2 - t**2 * length2 <= widths[0] ** 2 * (1 + tol)
        else:
            inside = np.ones(t.shape, bool)
            for side, width in enumerate(widths[:2]):
                g_side = sides[:, side] @ g  # (k, 3)
                offset = q @ g_side.T - np.einsum("ki,ki->k", start, g_side)
                inside &= np.abs(offset) <= width * (1 + tol)
        hit = (t >= -tol) & (t <= 1 + tol) & inside
        point, image = np.nonzero(hit)
        # symmetric grids put voxels exactly on bin edges: round consistently (1e-9)
        along = np.floor(np.clip(t[point, image], 0.0, 1.0) * counts[seg[image]] + tol)
        bins = offsets[seg[image]] + np.minimum(along.astype(int), counts[seg[image]] - 1)
        rows.append(bins)
        cols.append(owner[point] + first)
        zones.append(zone[point])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                               shape=(len(edges) - 1, len(hkl_voxels)))
    return Fold(matrix, edges, ticks, np.concatenate(zones), rows, cols)


def select_zones(fold: Fold, allowed) -> Fold:
    """Keep only the matches whose zone (primitive-basis G) is in ``allowed`` (set of tuples)."""
    unique, inverse = np.unique(fold.match_zones, axis=0, return_inverse=True)
    wanted = np.array([tuple(z) in allowed for z in unique.tolist()], dtype=bool)
    keep = wanted[inverse.ravel()] if len(unique) else np.zeros(0, bool)
    matrix = sparse.csr_matrix((np.ones(keep.sum()), (fold.match_rows[keep],
                                                      fold.match_cols[keep])),
                               shape=fold.matrix.shape)
    return Fold(matrix, fold.edges, fold.ticks, fold.match_zones[keep], fold.match_rows[keep],
                fold.match_cols[keep])


def zone_coverage(fold: Fold, finite_fraction_per_voxel: np.ndarray) -> dict:
    """Covered fraction (finite voxel-energy entries) of the matches of each zone."""
    fractions = finite_fraction_per_voxel[fold.match_cols]
    unique, inverse = np.unique(fold.match_zones, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    mean = np.bincount(inverse, fractions) / np.bincount(inverse)
    return {tuple(z): float(f) for z, f in zip(unique.tolist(), mean, strict=True)}

