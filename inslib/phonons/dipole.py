"""Dipole-dipole (non-analytic) part of the dynamical matrix by Ewald summation.

Gonze and Lee, Phys. Rev. B 55, 10355 (1997), eqs. 71-75: the long-range force constants of
point dipoles with Born charges Z and dielectric tensor eps, summed with a Gaussian split
(parameter ``lam``) into a reciprocal-space and a real-space series, minus the q = 0 sum on the
diagonal (acoustic sum rule). Units: Angstrom, e, eV; the Coulomb constant e^2/(4 pi eps0) is
taken from scipy. Convention for the Born contraction: C_ij = Z_i T Z_j^T (phonopy/euphonic
index order of ``born[i]``).
"""

import math

import numpy as np
from scipy import constants
from scipy.special import erfc

COULOMB = constants.e / (4 * math.pi * constants.epsilon_0) * 1e10  # eV Angstrom per e^2
TOLERANCE = 1e-10  # terms below this fraction of the largest are dropped (Ewald truncation)
CHUNK_ELEMENTS = 1_000_000  # size of the per-q temporaries of the reciprocal sum
LAMBDA_SCALE = 0.7  # smaller Gaussian split: fewer G vectors per q, more (merged) real cells
MAX_SHELLS = 60


def _shell(n: int) -> np.ndarray:
    """Integer vectors with max-norm exactly n, shape (m, 3)."""
    rng = np.arange(-n, n + 1)
    grid = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    return grid[np.abs(grid).max(axis=1) == n].astype(float)


def _real_kernel(d: np.ndarray, inv_eps: np.ndarray, lam: float) -> np.ndarray:
    """Real-space H tensor for separations d (..., 3) Angstrom, returns (..., 3, 3)."""
    delta = d @ inv_eps
    y2 = np.einsum("...a,...a->...", delta, d) * lam**2
    y = np.sqrt(y2)
    gauss = 2 * np.exp(-y2) / (math.sqrt(math.pi) * y2)
    tail = erfc(y) / (y * y2)
    f1 = lam**2 * (3 * tail / y2 + gauss * (3 / y2 + 2))
    f2 = tail + gauss
    return (f1[..., None, None] * delta[..., :, None] * delta[..., None, :]
            - f2[..., None, None] * inv_eps)


def _real_sums(crystal, inv_eps, lam) -> tuple[np.ndarray, np.ndarray]:
    r = crystal.cartesian
    cells, blocks = [], []
    first = None
    for n in range(MAX_SHELLS):
        shell = _shell(n) if n else np.zeros((1, 3))
        d = r[None, :, None, :] - r[None, None, :, :] - (shell @ crystal.cell)[:, None, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            h = _real_kernel(d, inv_eps, lam)
        if n == 0:
            h[0, np.arange(crystal.n_atoms), np.arange(crystal.n_atoms)] = 0.0
        size = np.abs(h).max()
        first = size if first is None else first
        if n > 1 and size < TOLERANCE * first:
            break
        cells.append(shell)
        blocks.append(h)
    cells, blocks = np.concatenate(cells), np.concatenate(blocks)
    size = np.abs(blocks).reshape(len(cells), -1).max(axis=1)
    keep = size > TOLERANCE * size.max()
    return cells[keep], blocks[keep]


def _recip_vectors(crystal, eps, lam) -> np.ndarray:
    recip = crystal.reciprocal
    gvecs = [np.zeros((1, 3))]
    first = None
    for n in range(1, MAX_SHELLS):
        shell = _shell(n)
        k = shell @ recip
        size = np.max(np.exp(-np.einsum("na,ab,nb->n", k, eps, k) / (4 * lam**2)))
        first = size if first is None else first
        if n > 1 and size < TOLERANCE * first:
            break
        gvecs.append(shell)
    gvecs = np.concatenate(gvecs)
    # keep G whose Gaussian weight matters for some reduced q (corners of the +-1/2 cube)
    corners = np.array(np.meshgrid(*[[-0.5, 0.5]] * 3, indexing="ij")).reshape(3, -1).T
    k = (gvecs[None] + corners[:, None]) @ recip
    k2 = np.einsum("cga,ab,cgb->cg", k, eps, k)
    weight = (np.exp(-k2 / (4 * lam**2)) / k2).max(axis=0)
    return gvecs[(weight > TOLERANCE * weight.max()) | ~np.any(gvecs, axis=1)]


def _contract(kernel: np.ndarray, born: np.ndarray) -> np.ndarray:
    """Born-weighted dipole force constants: Z_i T Z_j^T, times the Coulomb constant."""
    return COULOMB * np.einsum("iac,...ijcd,jbd->...ijab", born, kernel, born)


class DipoleSum:
    """Ewald sums of one crystal with Born charges, evaluated for batches of q in torch.

    The real-space series and the q = 0 correction do not depend on q except through
    exp(i q.R): they form a constant table over lattice vectors (``cells``, ``table``) that
    the phonon model merges with its force-constant table. Only the reciprocal series is
    evaluated per q (:meth:`reciprocal`, batched matrix products).

    Parameters
    ----------
    crystal : Crystal
        The cell (Angstrom, fractional positions).
    born : numpy.ndarray, shape (n_atoms, 3, 3)
        Born effective charges, e.
    dielectric : numpy.ndarray, shape (3, 3)
        High-frequency dielectric tensor.
    dtype, device : torch dtype and device of the results.
    """

    def __init__(self, crystal, born, dielectric, dtype=None, device=None):
        import torch

        self.crystal = crystal
        self.eps = np.asarray(dielectric, dtype=float)
        self.born = np.asarray(born, dtype=float)
        inv_eps = np.linalg.inv(self.eps)
        det = np.linalg.det(self.eps)
        self.lam = LAMBDA_SCALE * math.sqrt(math.pi) / crystal.volume ** (1 / 3) * det ** (1 / 6)
        cells, real = _real_sums(crystal, inv_eps, self.lam)
        real = -_contract(real * self.lam**3 / math.sqrt(det), self.born)
        opts = {"dtype": dtype or torch.float64, "device": device}
        n = crystal.n_atoms
        self.cells = np.rint(cells).astype(int)
        self.gvecs = torch.as_tensor(_recip_vectors(crystal, self.eps, self.lam), **opts)
        self.recip_cell = torch.as_tensor(crystal.reciprocal, **opts)
        self.positions = torch.as_tensor(crystal.cartesian, **opts)
        self.born_t = torch.as_tensor(self.born, **opts)
        self.eps_t = torch.as_tensor(self.eps, **opts)
        origin = int(np.flatnonzero(~np.any(self.cells, axis=1))[0])
        recip0 = self.reciprocal(torch.zeros((1, 3), **opts))[0].real.cpu().numpy()
        q0 = (recip0.reshape(n, 3, n, 3).transpose(0, 2, 1, 3) + real.sum(axis=0)).sum(axis=1)
        real[origin, np.arange(n), np.arange(n)] -= 0.5 * (q0 + q0.transpose(0, 2, 1))
        self.table = torch.as_tensor(real.reshape(len(cells), n * n * 9), **opts)

    def blocks(self, q):
        """Dipole-dipole force-constant blocks at fractional q, tensor (nq, 3).

        Returns
        -------
        torch.Tensor, complex, shape (nq, n_atoms, n_atoms, 3, 3)
            eV/Angstrom^2, not mass-weighted; the G = 0 term is left out where q is a
            reciprocal lattice vector (see gamma_correction).
        """
        import torch

        n = self.crystal.n_atoms
        cells = torch.as_tensor(self.cells, dtype=q.dtype, device=q.device)
        arg = 2 * math.pi * (q @ cells.T)
        real = torch.complex(torch.cos(arg) @ self.table, torch.sin(arg) @ self.table)
        recip = self.reciprocal(q).reshape(-1, n, 3, n, 3).permute(0, 1, 3, 2, 4)
        return real.reshape(-1, n, n, 3, 3) + recip

    def reciprocal(self, q, scale=None):
        """Reciprocal-space series at fractional q (nq, 3): complex (nq, 3n, 3n), eV/A^2.

        Rows and columns in (atom, Cartesian) order; ``scale`` (3n,), optional, multiplies
        row a and column b by scale_a scale_b (the mass weighting 1/sqrt(m), amu^-1/2, at the
        cost of a (nq, g, 3n) product instead of a (nq, 3n, 3n) one).

        Evaluated in blocks of q so that temporaries stay near CHUNK_ELEMENTS complex numbers.
        """
        import torch

        step = max(1, CHUNK_ELEMENTS // (len(self.gvecs) * 3 * self.crystal.n_atoms))
        return torch.cat([self._reciprocal(q[i:i + step], scale)
                          for i in range(0, len(q), step)])

    def _reciprocal(self, q, scale=None):
        import torch

        q = q - torch.round(q)  # the sum is periodic; reduced q keeps the G window centred
        k = (q[:, None, :] + self.gvecs[None]) @ self.recip_cell
        k2 = torch.einsum("qga,ab,qgb->qg", k, self.eps_t, k)
        safe = torch.where(k2 < 1e-12, torch.ones_like(k2), k2)
        weight = torch.where(k2 < 1e-12, torch.zeros_like(k2),
                             torch.exp(-safe / (4 * self.lam**2)) / safe)
        zk = torch.einsum("iac,qgc->qgia", self.born_t, k) * torch.sqrt(weight)[..., None, None]
        kr = torch.einsum("qga,ia->qgi", k, self.positions)
        phase = torch.complex(torch.cos(kr), torch.sin(kr))
        amp = (phase[..., None] * zk).flatten(2)  # (nq, g, 3n)
        if scale is not None:
            amp = amp * scale
        # sum_g amp_ga conj(amp_gb) = conj(amp^H amp): amp.mH is a view BLAS reads directly
        recip = torch.bmm(amp.mH, amp).conj()
        return recip * (4 * math.pi * COULOMB / self.crystal.volume)


def gamma_correction(crystal, born, dielectric, direction) -> np.ndarray:
    """Non-analytic term at q = 0 approached along ``direction`` (fractional, (3,)).

    Returns
    -------
    numpy.ndarray, shape (n_atoms, n_atoms, 3, 3)
        eV/Angstrom^2 (Gonze and Lee eq. 60); zeros for a zero direction.
    """
    qc = np.asarray(direction, dtype=float) @ crystal.reciprocal
    denominator = qc @ np.asarray(dielectric) @ qc
    if denominator < 1e-12:
        return np.zeros((crystal.n_atoms, crystal.n_atoms, 3, 3))
    zq = np.einsum("iab,b->ia", born, qc)
    factor = 4 * math.pi * COULOMB / (crystal.volume * denominator)
    return factor * np.einsum("ia,jb->ijab", zq, zq)


def subtract_supercell_dipole(fcs) -> None:
    """Make phonopy's total force constants short-ranged (in place).

    The dipole-dipole force constants of the supercell at q = 0 (the periodic supercell's own
    Ewald sum) are subtracted, so that adding the Ewald term back at any q restores the
    long-range interaction exactly at the commensurate q-points.
    """
    from inslib.structure import Crystal

    c = fcs.crystal
    n_cells, n_atoms = len(fcs.cell_origins), c.n_atoms
    sc_cell = fcs.sc_matrix @ c.cell
    frac = (np.repeat(fcs.cell_origins, n_atoms, axis=0) + np.tile(c.positions, (n_cells, 1)))
    sc = Crystal(sc_cell, frac @ np.linalg.inv(fcs.sc_matrix), c.symbols * n_cells,
                 np.tile(c.masses, n_cells))
    import torch

    sc_born = np.tile(fcs.born, (n_cells, 1, 1))
    dipole = DipoleSum(sc, sc_born, fcs.dielectric)
    blocks = dipole.blocks(torch.zeros((1, 3), dtype=torch.float64))[0].real.numpy()
    origin = int(np.flatnonzero(~np.any(fcs.cell_origins, axis=1))[0])
    rows = blocks[origin * n_atoms:(origin + 1) * n_atoms]
    rows = rows.reshape(n_atoms, n_cells, n_atoms, 3, 3).transpose(1, 0, 3, 2, 4)
    fcs.fc = fcs.fc - rows.reshape(n_cells, 3 * n_atoms, 3 * n_atoms)
