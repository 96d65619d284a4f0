"""Symmetry-reduced second-order force-constant parameters and their map to force constants.

For a crystal (primitive cell), a supercell and a cutoff (neighbour shells or a distance), the
force constants allowed by the space group, index-permutation symmetry and the acoustic sum rule
form a linear space. symfc (Seko & Tanaka; ships with phonopy) gives an orthonormal basis of it;
this module re-expresses that basis with readable parameters: each parameter is one Cartesian
component of the force-constant block of one representative atom pair ("1NN xx", "2NN yy",
"2NN Na-Na xx"), in eV/Angstrom^2, and the on-site blocks follow from the acoustic sum rule.

Layout of the force constants (as :mod:`inslib.phonons.force_constants`): ``fc[n, 3i+a, 3j+b]``
couples atom i of the cell at the origin with atom j of the cell at ``cell_origins[n]``.
A parameter is the force constant of ONE lattice image of its pair: where a supercell pair has
several equidistant images (on the Wigner-Seitz boundary, where :class:`PhononModel` shares the
block equally) the supercell block is the parameter times the number of images, so parameters do
not depend on the supercell size.
"""

from dataclasses import dataclass

import numpy as np

from inslib.structure import Crystal, primitive_lattice

SHELL_TOL = 1e-3  # Angstrom: pair distances closer than this form one shell
IMAGE_RANGE = 2  # supercell translations searched per axis for the nearest image
COMPONENTS = ("xx", "yy", "zz", "xy", "xz", "yz", "yx", "zx", "zy")  # naming preference
_AXIS = {"x": 0, "y": 1, "z": 2}
PIVOT_TOL = 1e-8  # relative: a candidate component is independent above this residual


class ParameterError(ValueError):
    """An input to the parameter basis or the samplers that cannot be used (says why and how)."""


@dataclass
class PairImages:
    """Nearest images of every (origin atom i, cell n, atom j) entry of the layout.

    Attributes
    ----------
    distance : numpy.ndarray, shape (n_cells, N, N)
        Nearest-image distance, Angstrom.
    count : numpy.ndarray of int, shape (n_cells, N, N)
        Number of equidistant nearest images.
    bond : numpy.ndarray, shape (n_cells, N, N, 3)
        Cartesian bond vector r_j + L - r_i of the lexicographically largest nearest image,
        Angstrom.
    """

    distance: np.ndarray
    count: np.ndarray
    bond: np.ndarray


def nearest_images(crystal: Crystal, cell_origins, sc_matrix) -> PairImages:
    """Nearest periodic images of each atom pair of a supercell layout.

    Parameters
    ----------
    crystal : Crystal
        Primitive cell (Angstrom).
    cell_origins : array-like of int, shape (n_cells, 3)
        Cell origins of the supercell, primitive lattice units.
    sc_matrix : array-like of int, shape (3, 3)
        Supercell vectors = sc_matrix @ crystal.cell.

    Returns
    -------
    PairImages
    """
    rng = np.arange(-IMAGE_RANGE, IMAGE_RANGE + 1)
    shifts = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    translations = shifts @ np.asarray(sc_matrix) @ crystal.cell  # (n_t, 3)
    rel = crystal.positions[None, :, :] - crystal.positions[:, None, :]  # r_j - r_i, (N, N, 3)
    base = (np.asarray(cell_origins)[:, None, None, :] + rel[None]) @ crystal.cell
    bonds = base[..., None, :] + translations  # (n_cells, N, N, n_t, 3)
    dist = np.linalg.norm(bonds, axis=-1)
    nearest = dist.min(axis=-1)
    is_nearest = dist <= nearest[..., None] + SHELL_TOL
    # lexicographic preference (x, then y, then z) among the nearest images
    score = np.where(is_nearest, np.round(bonds, 4) @ np.array([1e8, 1e4, 1.0]), -np.inf)
    pick = np.argmax(score, axis=-1)[..., None, None]
    bond = np.take_along_axis(bonds, np.broadcast_to(pick, (*pick.shape[:-2], 1, 3)), -2)
    return PairImages(nearest, is_nearest.sum(axis=-1), bond[..., 0, :])


def shell_distances(distance: np.ndarray) -> np.ndarray:
    """Distinct non-zero pair distances (Angstrom, ascending) clustered within SHELL_TOL."""
    values = np.sort(distance[distance > SHELL_TOL].ravel())
    if len(values) == 0:
        return values
    starts = np.concatenate([[True], np.diff(values) > SHELL_TOL])
    return values[starts]


def _check_cutoff(shells, cutoff, available: np.ndarray) -> float:
    """Cutoff radius (Angstrom) for symfc that keeps the requested shells, validated."""
    if (shells is None) == (cutoff is None):
        msg = ("give exactly one of shells (number of neighbour shells, e.g. shells=2) or "
               f"cutoff (Angstrom, e.g. cutoff=4.0); got shells={shells!r}, cutoff={cutoff!r}")
        raise ParameterError(msg)
    if shells is not None:
        if isinstance(shells, bool) or not isinstance(shells, (int, np.integer)) or shells < 1:
            msg = f"shells={shells!r}: give a positive integer number of neighbour shells"
            raise ParameterError(msg)
        if shells > len(available):
            msg = (f"shells={shells}: the supercell holds only {len(available)} neighbour "
                   f"shells (up to {available[-1]:.3f} A); use shells <= {len(available)} or "
                   "force constants from a larger supercell")
            raise ParameterError(msg)
        return float(available[shells - 1]) + 0.5 * SHELL_TOL
    if not np.isfinite(cutoff) or cutoff < available[0] - SHELL_TOL:
        msg = (f"cutoff={cutoff!r} A keeps no neighbour shell: the nearest neighbours are "
               f"{available[0]:.3f} A apart; give a cutoff >= that")
        raise ParameterError(msg)
    if cutoff > available[-1] + SHELL_TOL:
        msg = (f"cutoff={cutoff} A is beyond the supercell's last shell ({available[-1]:.3f} A): "
               "use a smaller cutoff or a larger supercell")
        raise ParameterError(msg)
    return float(cutoff) + 0.5 * SHELL_TOL


def _symfc_basis(crystal: Crystal, cell_origins, sc_matrix, radius: float,
                 symprec: float) -> np.ndarray:
    """Orthogonal basis of symmetric, sum-rule-obeying force constants from symfc.

    Returns
    -------
    numpy.ndarray, shape (n_cells * 9 N^2, n_basis)
        Columns in the layout fc[n, 3i+a, 3j+b] flattened (dimensionless).
    """
    from symfc.basis_sets import FCBasisSetO2
    from symfc.utils.utils import SymfcAtoms

    n_atoms, n_cells = crystal.n_atoms, len(cell_origins)
    order = _origin_first(cell_origins, sc_matrix)
    frac = (np.asarray(cell_origins)[order][:, None, :] + crystal.positions[None]).reshape(-1, 3)
    frac = frac @ np.linalg.inv(np.asarray(sc_matrix, dtype=float))
    numbers = np.unique(crystal.symbols, return_inverse=True)[1] + 1
    supercell = SymfcAtoms(np.tile(numbers, n_cells), frac - np.floor(frac),
                           np.asarray(sc_matrix) @ crystal.cell)
    sets = FCBasisSetO2(supercell, cutoff=radius, symprec=symprec).run()
    if not np.array_equal(sets.p2s_map, np.arange(n_atoms)):
        msg = f"symfc chose atoms {sets.p2s_map} of the supercell as the primitive cell"
        raise ParameterError(msg)
    compact = np.asarray(sets.compact_compression_matrix @ sets.basis_set)
    # compact rows: (atom i of the origin cell, supercell atom k*N + j, a, b) -> (n, 3i+a, 3j+b)
    compact = compact.reshape(n_atoms, n_cells, n_atoms, 3, 3, -1).transpose(1, 0, 3, 2, 4, 5)
    layout = np.empty_like(compact)
    layout[order] = compact
    return layout.reshape(n_cells * 9 * n_atoms**2, -1)


def _origin_first(cell_origins, sc_matrix) -> np.ndarray:
    """Cell order with the origin cell first, shape (n_cells,)."""
    reduced = np.array([_reduce(o, sc_matrix) for o in np.asarray(cell_origins)])
    zero = np.flatnonzero(np.all(reduced == 0, axis=1))
    if len(zero) != 1:
        msg = "cell_origins: the supercell layout must hold the origin cell exactly once"
        raise ParameterError(msg)
    return np.concatenate([zero, np.delete(np.arange(len(reduced)), zero)])


def _candidates(pairs: PairImages, n_atoms: int) -> np.ndarray:
    """Flat layout indices of every off-site component, in naming preference order.

    Order: shell distance, origin atom i, atom j, bond vector (largest x, y, z first),
    component (COMPONENTS). The on-site blocks (same atom, same cell) are left out.
    """
    n_cells = len(pairs.distance)
    cell, i, j = (a.ravel() for a in np.indices((n_cells, n_atoms, n_atoms)))
    dist = np.round(pairs.distance.ravel() / SHELL_TOL).astype(int)
    bond = np.round(pairs.bond.reshape(-1, 3), 4)
    keep = dist > 0
    order = np.lexsort((-bond[keep, 2], -bond[keep, 1], -bond[keep, 0], j[keep], i[keep],
                        dist[keep]))
    rows = [(cell[keep][k], i[keep][k], j[keep][k]) for k in order]
    size = 3 * n_atoms
    return np.array([(c * size + 3 * a_i + _AXIS[comp[0]]) * size + 3 * a_j + _AXIS[comp[1]]
                     for c, a_i, a_j in rows for comp in COMPONENTS])


def _pivots(basis: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """First candidate rows (in order) that are linearly independent, one per basis vector."""
    scale = np.abs(basis).max()
    chosen, frame = [], np.zeros((0, basis.shape[1]))
    for index in candidates:
        row = basis[index]
        rest = row - frame.T @ (frame @ row)
        norm = np.linalg.norm(rest)
        if norm > PIVOT_TOL * scale:
            chosen.append(index)
            frame = np.vstack([frame, rest / norm])
            if len(chosen) == basis.shape[1]:
                break
    return np.array(chosen, dtype=int)


def _names(crystal: Crystal, pivots: np.ndarray, shell_of: np.ndarray) -> list[str]:
    """Readable parameter names: shell, atom pair where a shell holds several, component."""
    size = 3 * crystal.n_atoms
    cell, rest = np.divmod(pivots, size * size)
    row, col = np.divmod(rest, size)
    pairs = list(zip(cell.tolist(), (row // 3).tolist(), (col // 3).tolist(), strict=True))
    names = []
    for k, pair in enumerate(pairs):
        label = f"{shell_of[k]}NN"
        in_shell = {p for p, s in zip(pairs, shell_of, strict=True) if s == shell_of[k]}
        if len(in_shell) > 1:
            label += " " + _pair_label(crystal, pair, in_shell)
        names.append(f"{label} {'xyz'[row[k] % 3]}{'xyz'[col[k] % 3]}")
    return names


def _pair_label(crystal: Crystal, pair: tuple, pairs: set) -> str:
    """Species label of a pair; atom indices added where two pairs share the species."""
    sym = crystal.symbols

    def species(p):
        return f"{sym[p[1]]}-{sym[p[2]]}"

    def indexed(p):
        return f"{sym[p[1]]}{p[1]}-{sym[p[2]]}{p[2]}"

    if sum(species(p) == species(pair) for p in pairs) == 1:
        return species(pair)
    if sum(indexed(p) == indexed(pair) for p in pairs) == 1:
        return indexed(pair)
    return f"{indexed(pair)}#{sorted(pairs).index(pair) + 1}"


class ParameterBasis:
    """Independent force-constant parameters of a crystal and their linear map to force constants.

    Build one with :meth:`from_force_constants` or :meth:`from_crystal`; the constructor takes a
    basis already computed (e.g. from :meth:`to_dict`) and validates it.

    Parameters
    ----------
    crystal : Crystal
        Primitive cell (Angstrom, amu).
    cell_origins : array-like of int, shape (n_cells, 3)
        Cell origins of the supercell, primitive lattice units.
    sc_matrix : array-like of int, shape (3, 3)
        Supercell vectors = sc_matrix @ crystal.cell.
    matrix : array-like, shape (n_cells * 9 N^2, n_params)
        Force constants per unit parameter in the flattened layout fc[n, 3i+a, 3j+b]
        (dimensionless: parameters and force constants are both eV/Angstrom^2).
    names : sequence of str, length n_params
        Parameter names, e.g. "1NN xx".
    distances : array-like, shape (n_params,)
        Distance of each parameter's atom pair, Angstrom.
    shells : array-like of int, shape (n_params,)
        Neighbour-shell number of each parameter (1 = nearest neighbours).

    Attributes
    ----------
    n_params : int
        Number of independent parameters.
    """

    def __init__(self, crystal, cell_origins, sc_matrix, matrix, names, distances, shells):
        if not isinstance(crystal, Crystal):
            msg = f"crystal must be an inslib.structure.Crystal, got {type(crystal).__name__}"
            raise ParameterError(msg)
        self.crystal = crystal
        self.sc_matrix = _int_array("sc_matrix", sc_matrix, (3, 3))
        n_cells = round(abs(np.linalg.det(self.sc_matrix)))
        if n_cells == 0:
            msg = f"sc_matrix {self.sc_matrix.tolist()} is singular: give a supercell matrix"
            raise ParameterError(msg)
        self.cell_origins = _int_array("cell_origins", cell_origins, (n_cells, 3))
        size = 9 * crystal.n_atoms**2 * n_cells
        self.matrix = _float_array("matrix", matrix, (size, None))
        self.names = [str(n) for n in names]
        self.distances = _float_array("distances", distances, (self.n_params,))
        self.shells = _int_array("shells", shells, (self.n_params,))
        _check_labels(self)
        if np.linalg.matrix_rank(self.matrix) < self.n_params:
            msg = "matrix has dependent columns: parameters would not be independent"
            raise ParameterError(msg)
        self._pinv = np.linalg.pinv(self.matrix)
        self._tensor = None

    @property
    def n_params(self) -> int:
        """Number of independent parameters."""
        return self.matrix.shape[1]

    @classmethod
    def from_force_constants(cls, fcs, shells=None, cutoff=None, symprec: float = 1e-3):
        """Basis on the supercell of given force constants (converted to the primitive cell).

        Parameters
        ----------
        fcs : ForceConstants
            Reference force constants (their crystal, supercell and layout are used).
        shells : int, optional
            Number of neighbour shells kept (give this or ``cutoff``).
        cutoff : float, optional
            Largest pair distance kept, Angstrom.
        symprec : float
            Symmetry tolerance for spglib (through symfc), Angstrom.
        """
        from inslib.phonons.force_constants import to_primitive

        prim = to_primitive(fcs, symprec)
        return cls._build(prim.crystal, prim.cell_origins, prim.sc_matrix, shells, cutoff,
                          symprec)

    @classmethod
    def from_crystal(cls, crystal, shells=None, cutoff=None, supercell=None,
                     symprec: float = 1e-3):
        """Basis for a bare primitive crystal, on a diagonal supercell large enough for it.

        Parameters
        ----------
        crystal : Crystal
            A primitive cell.
        shells, cutoff, symprec
            As :meth:`from_force_constants`.
        supercell : int or sequence of int, optional
            Supercell of the primitive cell (n, 3 ints or a 3x3 matrix); by default the
            smallest n x n x n in which every kept pair has a single nearest image.
        """
        prim = primitive_lattice(crystal, symprec)
        if abs(np.linalg.det(prim)) < (1 - 1e-6) * crystal.volume:
            msg = (f"crystal: a {crystal.n_atoms}-atom cell that is not primitive; give its "
                   "primitive cell (inslib.structure.primitive) or use from_force_constants")
            raise ParameterError(msg)
        sc_matrix = _supercell(crystal, shells, cutoff, supercell)
        return cls._build(crystal, _origins(sc_matrix), sc_matrix, shells, cutoff, symprec)

    @classmethod
    def _build(cls, crystal, cell_origins, sc_matrix, shells, cutoff, symprec):
        pairs = nearest_images(crystal, cell_origins, sc_matrix)
        available = shell_distances(pairs.distance)
        radius = _check_cutoff(shells, cutoff, available)
        basis = _symfc_basis(crystal, cell_origins, sc_matrix, radius, symprec)
        pivots = _pivots(basis, _candidates(pairs, crystal.n_atoms))
        size = 3 * crystal.n_atoms
        cell, rest = np.divmod(pivots, size * size)
        where = (cell, rest // size // 3, rest % size // 3)
        # parameter = force constant of one image: supercell block / number of images
        readout = basis[pivots] / pairs.count[where][:, None]
        distances = pairs.distance[where]
        shell_of = np.searchsorted(available, distances - SHELL_TOL) + 1
        return cls(crystal, cell_origins, sc_matrix, basis @ np.linalg.inv(readout),
                   _names(crystal, pivots, shell_of), distances, shell_of)

    def to_force_constants(self, params):
        """Force constants of parameter sets (linear, differentiable).

        Parameters
        ----------
        params : torch.Tensor or array-like, shape (n_sets, n_params) or (n_params,)
            Parameters, eV/Angstrom^2 (a 1-D input is one set).

        Returns
        -------
        torch.Tensor, shape (n_sets, n_cells, 3N, 3N)
            Force constants in eV/Angstrom^2, the dtype and device of ``params`` when it is a
            floating-point tensor, else float64 on the CPU.
        """
        import torch

        params = _as_tensor(params)
        if params.ndim == 1:
            params = params[None]
        if params.ndim != 2 or params.shape[1] != self.n_params:
            msg = (f"params has shape {tuple(params.shape)}: give (n_sets, {self.n_params}) "
                   f"in the order of names {self.names[:3]}...")
            raise ParameterError(msg)
        if self._tensor is None:
            self._tensor = torch.as_tensor(self.matrix.T)
        size = 3 * self.crystal.n_atoms
        values = params @ self._tensor.to(dtype=params.dtype, device=params.device)
        return values.reshape(len(params), len(self.cell_origins), size, size)

    def project(self, fc):
        """Least-squares parameters of full force constants and what the basis misses.

        Parameters
        ----------
        fc : ForceConstants or array-like, shape (n_cells, 3N, 3N) or (n_sets, n_cells, 3N, 3N)
            Force constants (eV/Angstrom^2) in this basis's layout, or ForceConstants on the
            same supercell (any cell order; converted to the primitive cell).

        Returns
        -------
        params : numpy.ndarray, shape (n_sets, n_params)
            eV/Angstrom^2.
        residual_norm : numpy.ndarray, shape (n_sets,)
            Frobenius norm of fc minus the projection over the layout, eV/Angstrom^2.
        """
        flat = self._flat(fc)
        params = flat @ self._pinv.T
        return params, np.linalg.norm(flat - params @ self.matrix.T, axis=1)

    def force_constants(self, params, like=None):
        """ForceConstants of one parameter set (numpy), for PhononModel and file writers.

        Parameters
        ----------
        params : array-like, shape (n_params,)
            eV/Angstrom^2.
        like : ForceConstants, optional
            Whose Born charges and dielectric tensor to keep (the dipole part stays as it is).
        """
        from inslib.phonons.force_constants import ForceConstants

        params = np.asarray(params, dtype=float).reshape(self.n_params)
        size = 3 * self.crystal.n_atoms
        fc = (self.matrix @ params).reshape(len(self.cell_origins), size, size)
        born = None if like is None else like.born
        diel = None if like is None else like.dielectric
        return ForceConstants(self.crystal, fc, self.cell_origins.copy(), self.sc_matrix.copy(),
                              born, diel, f"{self.n_params} force-constant parameters")

    def to_dict(self) -> dict:
        """Plain lists and strings (JSON/HDF5-attribute friendly) that :meth:`from_dict` reads."""
        c = self.crystal
        return {"cell": c.cell.tolist(), "positions": c.positions.tolist(),
                "symbols": list(c.symbols), "masses": c.masses.tolist(),
                "cell_origins": self.cell_origins.tolist(), "sc_matrix": self.sc_matrix.tolist(),
                "matrix": self.matrix.tolist(), "names": list(self.names),
                "distances": self.distances.tolist(), "shells": self.shells.tolist()}

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild (and validate) a basis written by :meth:`to_dict`."""
        missing = {"cell", "positions", "symbols", "masses", "cell_origins", "sc_matrix",
                   "matrix", "names", "distances", "shells"} - set(data)
        if missing:
            msg = f"parameter basis dict lacks {sorted(missing)}: write it with to_dict()"
            raise ParameterError(msg)
        crystal = Crystal(data["cell"], data["positions"], data["symbols"], data["masses"])
        return cls(crystal, data["cell_origins"], data["sc_matrix"], data["matrix"],
                   data["names"], data["distances"], data["shells"])

    def _flat(self, fc) -> np.ndarray:
        """Force constants as (n_sets, n_cells * 9 N^2) in this layout."""
        if hasattr(fc, "cell_origins"):
            fc = _aligned(self, fc)
        arr = fc.detach().cpu().numpy() if hasattr(fc, "detach") else np.asarray(fc, float)
        size = 3 * self.crystal.n_atoms
        shape = (len(self.cell_origins), size, size)
        if arr.shape[-3:] != shape or arr.ndim not in (3, 4):
            msg = (f"fc has shape {arr.shape}: give (n_cells, 3N, 3N) = {shape} or a batch "
                   "(n_sets, ...) in this basis's layout, or ForceConstants on its supercell")
            raise ParameterError(msg)
        return arr.reshape(-1, self.matrix.shape[0])


def _as_tensor(params):
    import torch

    if isinstance(params, torch.Tensor) and params.is_floating_point():
        return params
    return torch.as_tensor(np.asarray(params, dtype=float))


def _int_array(name: str, value, shape: tuple) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape or not np.all(np.asarray(arr, float) == np.rint(np.asarray(arr, float))):
        msg = f"{name}: expected integers of shape {shape}, got shape {arr.shape}"
        raise ParameterError(msg)
    return np.rint(np.asarray(arr, float)).astype(int)


def _float_array(name: str, value, shape: tuple) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape,
                                                                             strict=True)):
        msg = f"{name}: expected shape {shape} (None = any), got {arr.shape}"
        raise ParameterError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"{name} holds NaN or infinite values: rebuild the basis"
        raise ParameterError(msg)
    return arr


def _check_labels(basis: ParameterBasis) -> None:
    if basis.n_params == 0:
        msg = "matrix has no columns: a basis needs at least one parameter"
        raise ParameterError(msg)
    if len(basis.names) != basis.n_params or len(set(basis.names)) != basis.n_params:
        msg = (f"names: {len(basis.names)} given ({len(set(basis.names))} distinct) for "
               f"{basis.n_params} parameters: give one distinct name per matrix column")
        raise ParameterError(msg)
    if np.any(basis.distances <= 0) or np.any(basis.shells < 1):
        msg = (f"distances {basis.distances.tolist()} / shells {basis.shells.tolist()}: "
               "pair distances must be > 0 A and shells >= 1")
        raise ParameterError(msg)


def _supercell(crystal: Crystal, shells, cutoff, supercell) -> np.ndarray:
    """Supercell matrix: the given one, or the smallest n x n x n that holds the cutoff."""
    if supercell is not None:
        arr = np.asarray(supercell, dtype=int)
        return np.diag([int(arr)] * 3) if arr.ndim == 0 else (
            np.diag(arr) if arr.shape == (3,) else _int_array("supercell", arr, (3, 3)))
    for n in range(1, 13):
        matrix = np.diag([n] * 3)
        pairs = nearest_images(crystal, _origins(matrix), matrix)
        available = shell_distances(pairs.distance)
        if len(available) == 0 or (shells is not None and len(available) <= shells):
            continue
        radius = available[shells - 1] if shells is not None else cutoff
        if 2 * radius + SHELL_TOL < _shortest(matrix @ crystal.cell):
            return matrix
    msg = (f"shells={shells}, cutoff={cutoff}: no supercell up to 12x12x12 holds it; give a "
           "smaller cutoff or an explicit supercell")
    raise ParameterError(msg)


def _shortest(vectors: np.ndarray) -> float:
    """Length of the shortest non-zero lattice vector near the given basis (Angstrom)."""
    grid = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    lengths = np.linalg.norm(grid @ vectors, axis=1)
    return float(lengths[lengths > 0].min())


def _origins(sc_matrix: np.ndarray) -> np.ndarray:
    """Cell origins of a diagonal supercell, shape (n_cells, 3)."""
    axes = [np.arange(n) for n in np.diag(sc_matrix)]
    return np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T


def _aligned(basis: ParameterBasis, fcs) -> np.ndarray:
    """ForceConstants re-ordered to the basis's cells, (n_cells, 3N, 3N) eV/Angstrom^2."""
    from inslib.phonons.force_constants import to_primitive

    prim = to_primitive(fcs)
    same_cell = np.allclose(prim.crystal.cell, basis.crystal.cell, atol=1e-4)
    change = np.linalg.solve(basis.sc_matrix.T, prim.sc_matrix.T).T
    same_lattice = np.allclose(change, np.rint(change), atol=1e-6) and round(
        abs(np.linalg.det(change))) == 1
    if not (same_cell and same_lattice and prim.crystal.n_atoms == basis.crystal.n_atoms):
        msg = (f"ForceConstants ({prim.source or 'in memory'}) are not on this basis's crystal "
               f"and supercell (sc_matrix {basis.sc_matrix.tolist()}): build the basis from them "
               "or recompute them on that supercell")
        raise ParameterError(msg)
    index = {tuple(_reduce(o, basis.sc_matrix)): n for n, o in enumerate(basis.cell_origins)}
    order = [index[tuple(_reduce(o, basis.sc_matrix))] for o in prim.cell_origins]
    fc = np.zeros_like(prim.fc)
    fc[order] = prim.fc
    return fc


def _reduce(vector: np.ndarray, sc_matrix: np.ndarray) -> np.ndarray:
    """Lattice vector (primitive units) reduced into the supercell, ints."""
    frac = np.asarray(vector) @ np.linalg.inv(sc_matrix)
    return np.rint((frac - np.floor(frac + 1e-8)) @ sc_matrix).astype(int)
