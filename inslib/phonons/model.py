"""The forward model in torch: dynamical matrices, frequencies and eigenvectors.

Batched over q-points and over sets of force constants (leading batch axis), differentiable
with respect to the force constants, float64 by default, on CPU or GPU. Eigenvectors use the
"cell" phase convention (no exp(i q.r) inside), so the structure-factor phase is exp(i Q.r).
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import constants

from inslib.phonons.asr import acoustic_correction, translations
from inslib.phonons.images import image_table

# sqrt(eV / (Angstrom^2 amu)) expressed as hbar*omega in meV
FREQUENCY_MEV = (constants.hbar * math.sqrt(constants.e / (1e-20 * constants.atomic_mass))
                 / constants.e * 1e3)


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the installation
        msg = "the forward model needs torch: pip install 'inslib[phonons]'"
        raise ImportError(msg) from exc
    return torch


@dataclass
class Modes:
    """Phonon modes at a batch of q-points.

    Attributes
    ----------
    q : torch.Tensor, shape (nq, 3)
        Fractional q (reciprocal lattice units of the crystal's cell).
    frequencies : torch.Tensor, shape (n_sets, nq, 3 n_atoms)
        Mode energies in meV, ascending; imaginary modes are negative (sign of omega^2).
    eigenvectors : torch.Tensor, complex, shape (n_sets, nq, 3 n_atoms, n_atoms, 3)
        Normalised Cartesian eigenvectors per mode.
    """

    q: object
    frequencies: object
    eigenvectors: object


class PhononModel:
    """Harmonic lattice dynamics of one crystal for batches of q and force-constant sets.

    Parameters
    ----------
    fcs : ForceConstants
        Force constants (short-ranged when Born charges are present).
    dtype : torch.dtype, optional
        Real dtype, float64 by default.
    device : str or torch.device, optional
        Where the tensors live ("cpu" by default; see :func:`resolve_device`). The set-up is
        computed on the CPU and then moved (:meth:`to`).
    asr : bool
        Impose the acoustic sum rule (reciprocal-space correction, :mod:`inslib.phonons.asr`).
    """

    def __init__(self, fcs, dtype=None, device=None, asr: bool = True):
        torch = _torch()
        self.fcs = fcs
        self.crystal = fcs.crystal
        self.opts = {"dtype": dtype or torch.float64, "device": "cpu"}
        table = image_table(fcs.crystal.cell, fcs.crystal.positions, fcs.cell_origins,
                            fcs.sc_matrix)
        self.n_atoms = n = fcs.crystal.n_atoms
        self.dipole = None
        if fcs.has_born:
            from inslib.phonons.dipole import DipoleSum

            self.dipole = DipoleSum(fcs.crystal, fcs.born, fcs.dielectric, **self.opts)
        vectors, where = self._lattice_vectors(table)
        self._src = torch.as_tensor(table.cell)
        self._i = torch.as_tensor(table.atom_i)
        self._j = torch.as_tensor(table.atom_j)
        self._dest = torch.as_tensor((where[table.vector] * n + table.atom_i) * n + table.atom_j)
        self._weight = torch.as_tensor(table.weight, **self.opts)
        masses = np.repeat(fcs.crystal.masses, 3)
        self.inv_sqrt_mass = torch.as_tensor(1 / np.sqrt(masses), **self.opts)
        self._mass_weight = (self.inv_sqrt_mass[:, None] * self.inv_sqrt_mass[None, :]).reshape(-1)
        self._constant = self._dipole_table(len(vectors), where[len(table.vectors):])
        self._own_asr = None
        self.fc = torch.as_tensor(fcs.fc, **self.opts)
        self.asr = asr
        self._moves = translations(n, **self.opts)
        self.to(device or "cpu")

    @property
    def fc(self):
        """The model's own force constants, torch (n_cells, 3N, 3N), eV/Angstrom^2.

        Setting them drops the cached acoustic-sum-rule term of the old ones.
        """
        return self._fc

    @fc.setter
    def fc(self, value):
        self._fc = value
        self._own_asr = None

    def to(self, device):
        """Move every tensor of the model (and of its dipole sums) to ``device``; returns self."""
        torch = _torch()
        for owner in (self, self.dipole) if self.dipole is not None else (self,):
            for name, value in vars(owner).items():
                if isinstance(value, torch.Tensor):
                    setattr(owner, name, value.to(device))
        self.opts["device"] = torch.device(device)
        return self

    def _lattice_vectors(self, table):
        """All lattice vectors (force constants, dipole cells, and each one's negative).

        Returns the vectors (n, 3) and, for the table's vectors followed by the dipole cells,
        their index in them; sets ``vectors`` and ``_negative`` (index of -L for each L).
        """
        torch = _torch()
        own = [table.vectors] + ([self.dipole.cells] if self.dipole is not None else [])
        vectors = np.unique(np.concatenate([*own, *(-v for v in own)]), axis=0)
        lookup = {tuple(v): k for k, v in enumerate(vectors)}
        where = np.array([lookup[tuple(v)] for v in np.concatenate(own)])
        self._negative = torch.as_tensor([lookup[tuple(-v)] for v in vectors])
        self.vectors = torch.as_tensor(vectors, **self.opts)
        return vectors, where

    def _dipole_table(self, n_vectors: int, rows):
        """Mass-weighted real-space dipole sums on the lattice-vector table (zeros without)."""
        torch = _torch()
        n = self.n_atoms
        constant = torch.zeros((n_vectors, 9 * n * n), **self.opts)
        if self.dipole is not None:
            dip = self.dipole.table.reshape(-1, n, n, 3, 3).permute(0, 1, 3, 2, 4)
            constant[rows] = dip.reshape(-1, 9 * n * n)
        return constant * self._mass_weight

    def lattice_table(self, fc):
        """Mass-weighted force constants (plus real-space dipole sums) per lattice vector.

        Returns
        -------
        torch.Tensor, shape (n_sets, n_vectors, 3N * 3N)
            Blocks in (i, a, j, b) order, eV/(Angstrom^2 amu).
        """
        torch = _torch()
        n = self.n_atoms
        blocks = fc.reshape(fc.shape[0], fc.shape[1], n, 3, n, 3).permute(1, 2, 4, 0, 3, 5)
        values = blocks[self._src, self._i, self._j] * self._weight[:, None, None, None]
        values = values.transpose(0, 1)
        table = torch.zeros((fc.shape[0], len(self.vectors) * n * n, 3, 3),
                            dtype=fc.dtype, device=fc.device)
        table = table.index_add(1, self._dest, values)
        table = table.reshape(fc.shape[0], len(self.vectors), n, n, 3, 3).permute(0, 1, 2, 4, 3, 5)
        table = table.reshape(fc.shape[0], len(self.vectors), 3 * n, 3 * n)
        # Hermitian dynamical matrices: the block at L must be the transpose of the one at -L
        table = 0.5 * (table + table[:, self._negative].transpose(-1, -2))
        return table.reshape(fc.shape[0], len(self.vectors), 9 * n * n) * self._mass_weight \
            + self._constant

    def dynamical_matrix(self, q, fc=None, gamma_directions=None):
        """Mass-weighted dynamical matrices.

        Parameters
        ----------
        q : array-like or torch.Tensor, shape (nq, 3)
            Fractional q.
        fc : torch.Tensor, optional, shape (n_sets, n_cells, 3N, 3N)
            Force-constant sets (eV/Angstrom^2); the model's own by default (n_sets = 1).
        gamma_directions : array-like, optional, shape (nq, 3)
            Direction of approach for q-points that are reciprocal lattice vectors (LO-TO
            splitting with Born charges); ignored elsewhere.

        Returns
        -------
        torch.Tensor, complex, shape (n_sets, nq, 3N, 3N)
            In eV/(Angstrom^2 amu); Hermitian by construction (the lattice table is
            symmetrised once, L against -L), which the tests check.
        """
        torch = _torch()
        q_host = q.cpu().numpy() if isinstance(q, torch.Tensor) else np.asarray(q, dtype=float)
        q = torch.as_tensor(q, **self.opts).reshape(-1, 3)
        own = fc is None
        table = self.lattice_table(self.fc[None] if own else fc)
        dyn = self._analytic(q, table)
        if self.asr:
            dyn = dyn.add_(self._asr_term(table, own)[:, None])
        if self.dipole is not None and gamma_directions is not None:
            dyn = dyn + self._non_analytic(q_host.reshape(-1, 3), gamma_directions)[None]
        return dyn

    def _analytic(self, q, table):
        """Dynamical matrices without the non-analytic term from a lattice table.

        Returns
        -------
        torch.Tensor, complex, shape (n_sets, nq, 3N, 3N)
            eV/(Angstrom^2 amu).
        """
        torch = _torch()
        arg = 2 * math.pi * (q @ self.vectors.T)
        cos, sin = torch.cos(arg), torch.sin(arg)
        size = 3 * self.n_atoms
        dyn = torch.complex(torch.einsum("ql,slk->sqk", cos, table),
                            torch.einsum("ql,slk->sqk", sin, table))
        dyn = dyn.reshape(table.shape[0], len(q), size, size)
        if self.dipole is None:
            return dyn
        return dyn.add_(self.dipole.reciprocal(q, self.inv_sqrt_mass)[None])

    def _asr_term(self, table, own: bool):
        """Acoustic-sum-rule correction for each force-constant set, (n_sets, 3N, 3N).

        Only the model's own force constants are cached (a batch ``fc`` is never cached, and
        setting :attr:`fc` or moving the model clears the cache).
        """
        if own and self._own_asr is not None:
            return self._own_asr
        gamma = _torch().zeros((1, 3), **self.opts)
        size = 3 * self.n_atoms
        weight = self._mass_weight.reshape(size, size)  # 1/sqrt(m_i m_j), 1/amu
        d0 = self._analytic(gamma, table)[:, 0] / weight
        term = acoustic_correction(d0, self._moves) * weight
        if own:
            self._own_asr = term
        return term

    def _non_analytic(self, q_host, gamma_directions):
        """Mass-weighted LO-TO term at the q-points that are reciprocal lattice vectors."""
        torch = _torch()
        from inslib.phonons.dipole import gamma_correction

        size = 3 * self.n_atoms
        extra = torch.zeros((len(q_host), size, size), **self.opts)
        at_gamma = np.all(np.abs(q_host - np.round(q_host)) < 1e-9, axis=1)
        dirs = np.asarray(gamma_directions, dtype=float).reshape(-1, 3)
        for k in np.flatnonzero(at_gamma):
            term = gamma_correction(self.crystal, self.fcs.born, self.fcs.dielectric, dirs[k])
            extra[k] = torch.as_tensor(term.transpose(0, 2, 1, 3).reshape(size, size), **self.opts)
        return extra * self._mass_weight.reshape(size, size)

    def modes(self, q, fc=None, gamma_directions=None) -> Modes:
        """Frequencies (meV, negative = imaginary) and eigenvectors at fractional q (nq, 3).

        For a one-atom cell without Born charges only the real part of D(q) is used: a
        Bravais lattice is centrosymmetric, so force constants with its symmetry give a real
        D(q); any inversion-breaking part of given force constants (and of their gradient)
        is dropped.
        """
        torch = _torch()
        dyn = self.dynamical_matrix(q, fc, gamma_directions)
        if self.n_atoms == 1 and self.dipole is None:
            # a Bravais lattice is centrosymmetric: Phi(L) = Phi(-L) = Phi(L)^T, D(q) is real
            dyn = dyn.real
        values, vectors = eigh(dyn)
        # clamp: sqrt has an infinite slope at 0 (acoustic modes at Gamma), 0 * inf = NaN
        freqs = torch.sign(values) * torch.sqrt(torch.abs(values).clamp_min(1e-30)) * FREQUENCY_MEV
        n = self.n_atoms
        eig = vectors.transpose(-1, -2).reshape(*vectors.shape[:2], 3 * n, n, 3)
        eig = eig if eig.is_complex() else torch.complex(eig, torch.zeros_like(eig))
        return Modes(torch.as_tensor(q, **self.opts).reshape(-1, 3), freqs, eig)


BYTES_PER_MATRIX_ENTRY = 128  # working memory of modes per q-point and 3N x 3N matrix entry
MODES_BATCH_BYTES = 256 * 2**20  # working memory of the modes of one batch of q-points


def modes_batch(n_atoms: int, n_sets: int, most: int) -> int:
    """q-points per batch of modes so that one batch's working memory stays under budget.

    BYTES_PER_MATRIX_ENTRY per q-point, set and entry of the 3N x 3N dynamical matrix (the
    eigensolve alone takes 58 bytes, measured at 3N = 150 and 300), MODES_BATCH_BYTES a
    batch: unbounded, 4096 q-points of a 100-atom cell would take 21 GB.

    Parameters
    ----------
    n_atoms, n_sets : int
        Atoms in the primitive cell; force-constant sets solved together.
    most : int
        Largest batch wanted.
    """
    per_point = BYTES_PER_MATRIX_ENTRY * (3 * n_atoms) ** 2 * n_sets
    return int(np.clip(MODES_BATCH_BYTES // per_point, 1, most))


DEGENERATE = 1e-9  # eV/(Angstrom^2 amu): eigenvalues closer than this count as degenerate


def eigh(matrices):
    """Eigenvalues (ascending) and eigenvectors of Hermitian matrices, with a safe gradient.

    torch.linalg.eigh's backward divides by eigenvalue differences, so any degenerate pair
    (high-symmetry q-points of a Monkhorst-Pack grid, Gamma) makes the gradient NaN even for
    quantities that do not depend on how a degenerate subspace is split (Debye-Waller,
    intensities summed over a multiplet, DOS). This backward drops the terms between
    eigenvalues closer than :data:`DEGENERATE`: exact for such invariant quantities and for
    perturbations that keep the crystal's symmetry (within a multiplet they are then a multiple
    of the identity, Schur's lemma), which parameter bases do. Where no gradient is recorded,
    real 3 x 3 matrices (one-atom cells) go to :func:`inslib.phonons.eigen3.symmetric3_eigh`.

    Parameters
    ----------
    matrices : torch.Tensor, complex or real, shape (..., n, n)

    Returns
    -------
    values : torch.Tensor, shape (..., n)
    vectors : torch.Tensor, shape (..., n, n)
        Columns are the eigenvectors.
    """
    torch = _torch()
    fast = (matrices.shape[-1] == 3 and not matrices.is_complex()
            and not (torch.is_grad_enabled() and matrices.requires_grad))
    if fast:  # one-atom cells: closed form, 2-3x faster than LAPACK's batched eigh
        from inslib.phonons.eigen3 import symmetric3_eigh

        return symmetric3_eigh(matrices)
    return _safe_eigh().apply(matrices)


@functools.cache
def _safe_eigh():
    torch = _torch()

    class SafeEigh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, matrices):
            values, vectors = _batched_eigh(matrices)
            ctx.save_for_backward(values, vectors)
            return values, vectors

        @staticmethod
        def backward(ctx, grad_values, grad_vectors):
            values, vectors = ctx.saved_tensors
            inner = torch.zeros_like(vectors)
            if grad_vectors is not None:
                inner = vectors.mH @ grad_vectors
                inner = 0.5 * (inner - inner.mH)  # tangent space: skew-Hermitian part
                gap = values[..., None, :] - values[..., :, None]  # E_ij = L_j - L_i
                far = gap.abs() > DEGENERATE
                inner = torch.where(far, inner / torch.where(far, gap, 1.0), 0.0)
            if grad_values is not None:
                inner = inner + torch.diag_embed(grad_values.to(inner.dtype))
            return vectors @ inner @ vectors.mH

    return SafeEigh


PARALLEL_EIGH_MIN = 2048  # matrices per batch before eigh is split over threads


def _batched_eigh(matrices):
    """torch.linalg.eigh, with a large CPU batch split over torch's threads.

    LAPACK's batched eigh in torch runs the matrices one after another on one thread; split
    into one chunk per thread (torch releases the GIL), the 24 x 24 matrices of an 8-atom cell
    take 0.76 s instead of 1.38 s per 20,000 on two threads.
    """
    torch = _torch()
    threads = torch.get_num_threads()
    batch = matrices.shape[:-2]
    count = math.prod(batch)
    if matrices.device.type != "cpu" or threads < 2 or count < PARALLEL_EIGH_MIN:
        return torch.linalg.eigh(matrices)
    # detached: torch's grad mode is thread-local, so in the pool's threads eigh would see a
    # tensor that requires grad (inside SafeEigh.forward) and refuse the out= arguments
    flat = matrices.detach().reshape(count, *matrices.shape[-2:])
    values = torch.empty(flat.shape[:-1], dtype=flat.real.dtype, device=flat.device)
    vectors = torch.empty_like(flat)
    bounds = [(k * count // threads, (k + 1) * count // threads) for k in range(threads)]

    def solve(bound):  # each thread writes its slice: no concatenation afterwards
        lo, hi = bound
        torch.linalg.eigh(flat[lo:hi], out=(values[lo:hi], vectors[lo:hi]))

    list(_pool(threads).map(solve, bounds))
    return values.reshape(*batch, -1), vectors.reshape(matrices.shape)


@functools.cache
def _pool(threads: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(threads, thread_name_prefix="inslib-eigh")


DEVICES = ("Auto", "CPU", "GPU")


def device_problem(choice: str) -> str:
    """Why a Device property value cannot be used here ("" when it can)."""
    wanted = str(choice).strip().upper()
    if wanted not in {d.upper() for d in DEVICES}:
        return f"{choice!r} is not one of {', '.join(DEVICES)}"
    if wanted == "GPU":
        torch = _torch()
        if not torch.cuda.is_available():
            return (f"GPU asked for, but torch {torch.__version__} sees no CUDA GPU "
                    "(torch.cuda.is_available() is False): use Auto or CPU")
    return ""


def resolve_device(choice: str = "Auto") -> str:
    """Return the torch device for a Device property value.

    Parameters
    ----------
    choice : {"Auto", "CPU", "GPU"}
        Auto takes the GPU where torch sees one (CUDA), else the CPU.

    Returns
    -------
    str
        "cuda" or "cpu".
    """
    problem = device_problem(choice)
    if problem:
        msg = f"Device: {problem}"
        raise ValueError(msg)
    if str(choice).strip().upper() == "CPU":
        return "cpu"
    return "cuda" if _torch().cuda.is_available() else "cpu"


def path_gamma_directions(q) -> np.ndarray:
    """Directions of approach for Gamma points on a q-path, shape (nq, 3).

    Towards the next point; where that step is a reciprocal lattice vector (the next point is
    Gamma too) the step from the previous point; zero (no splitting) when both are.
    """
    q = np.asarray(q, dtype=float)
    step_next = np.vstack([q[1:] - q[:-1], q[-1:] - q[-2:-1]])
    step_prev = np.vstack([q[1:2] - q[:1], q[1:] - q[:-1]])
    step_prev[-1] = q[-1] - q[-2] if len(q) > 1 else 0.0

    def is_lattice(step):
        return np.all(np.abs(step - np.round(step)) < 1e-9, axis=1)[:, None]

    chosen = np.where(is_lattice(step_next), step_prev, step_next)
    return np.where(is_lattice(chosen), 0.0, chosen)
