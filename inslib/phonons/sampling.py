"""Sampling force-constant parameter sets for training data, with unstable sets rejected.

Two sources of parameter sets for a :class:`~inslib.phonons.parameters.ParameterBasis`:
a box around reference parameters (Su & Li 2024: each parameter uniform in 0.5-1.5 x its
reference value), or force-constant sets given by the user (e.g. from several force fields, as
Sable et al. 2026 did) projected onto the basis. Sets with imaginary modes on a check mesh are
rejected and counted.
"""

from dataclasses import dataclass

import numpy as np

from inslib.phonons.parameters import ParameterError

UNSTABLE_MEV = 0.01  # imaginary modes deeper than this (meV) reject a set; see stable_mask
BATCH = 64  # parameter sets per eigen-solve while sampling


@dataclass
class Sample:
    """Accepted parameter sets and what was rejected on the way.

    Attributes
    ----------
    params : numpy.ndarray, shape (n_accepted, n_params)
        Dynamically stable parameter sets, eV/Angstrom^2.
    rejected : int
        Sets rejected as dynamically unstable.
    attempts : int
        Sets drawn or given in total (accepted + rejected).
    """

    params: np.ndarray
    rejected: int
    attempts: int


def box(reference, n_sets: int, lower: float = 0.5, upper: float = 1.5, seed=None) -> np.ndarray:
    """Parameter sets uniform in a box of factors around reference parameters.

    Each parameter is its reference value times an independent factor uniform in
    [lower, upper]; the sign of every reference parameter is kept and a zero stays zero.

    Parameters
    ----------
    reference : array-like, shape (n_params,)
        Reference parameters, eV/Angstrom^2 (e.g. ``basis.project(dft_fcs)[0][0]``).
    n_sets : int
        Number of sets.
    lower, upper : float
        Positive factor bounds, lower < upper (Su & Li 2024: 0.5 and 1.5).
    seed : int, numpy.random.Generator or None
        Seed (the same seed gives the same sets).

    Returns
    -------
    numpy.ndarray, shape (n_sets, n_params)
        eV/Angstrom^2.
    """
    reference = _reference(reference)
    _check_bounds(lower, upper)
    rng = np.random.default_rng(seed)
    return reference * rng.uniform(lower, upper, size=(int(n_sets), len(reference)))


def check_mesh(size=(4, 4, 4)) -> np.ndarray:
    """Gamma-centred Monkhorst-Pack mesh of fractional q, shape (n1 * n2 * n3, 3)."""
    size = np.broadcast_to(np.asarray(size, dtype=int), (3,))
    if np.any(size < 1):
        msg = f"mesh={size.tolist()}: give three positive integers, e.g. (4, 4, 4)"
        raise ParameterError(msg)
    axes = [np.arange(n) / n for n in size]
    return np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T


def stable_mask(basis, params, model, q, tolerance: float = UNSTABLE_MEV) -> np.ndarray:
    """Which parameter sets have no imaginary mode deeper than ``tolerance`` on ``q``.

    Parameters
    ----------
    basis : ParameterBasis
    params : array-like, shape (n_sets, n_params)
        eV/Angstrom^2.
    model : PhononModel
        A model on the basis's layout (its Born charges, if any, are kept for every set).
    q : array-like, shape (nq, 3)
        Fractional check q-points (:func:`check_mesh`).
    tolerance : float
        meV. The default 0.01 meV is far above the acoustic modes' numerical noise at Gamma
        (about 1e-4 meV in float64) and far below a real instability on a 4x4x4 mesh
        (of order meV).

    Returns
    -------
    numpy.ndarray of bool, shape (n_sets,)
    """
    return lowest_modes(basis, params, model, q) >= -tolerance


def lowest_modes(basis, params, model, q) -> np.ndarray:
    """Lowest mode energy of each parameter set on ``q``, meV (negative: imaginary).

    Parameters as :func:`stable_mask`; returns shape (n_sets,).
    """
    import torch

    with torch.no_grad():
        fc = basis.to_force_constants(np.asarray(params, dtype=float))
        lowest = model.modes(q, fc=fc.to(model.opts["device"])).frequencies.amin(dim=(1, 2))
    return lowest.cpu().numpy()


def sample_stable(basis, reference, n_sets: int, model, lower: float = 0.5,
                  upper: float = 1.5, seed=None, mesh=(4, 4, 4),
                  tolerance: float = UNSTABLE_MEV, max_attempts: int | None = None) -> Sample:
    """Draw box samples (:func:`box`) until ``n_sets`` stable sets are accepted.

    Parameters
    ----------
    basis, model, tolerance
        As :func:`stable_mask`.
    reference, lower, upper, seed
        As :func:`box`; draws come in batches from one generator, so a seed gives the same
        accepted sets whatever the batch size.
    n_sets : int
        Stable sets wanted.
    mesh : sequence of 3 int
        Check mesh (:func:`check_mesh`).
    max_attempts : int, optional
        Cap on sets drawn (default 20 x n_sets); reaching it raises ParameterError with the
        counts (the partial :class:`Sample` is the exception's ``sample`` attribute).

    Returns
    -------
    Sample
    """
    reference = _reference(reference)
    _check_bounds(lower, upper)
    cap = 20 * int(n_sets) if max_attempts is None else int(max_attempts)
    rng = np.random.default_rng(seed)
    q = check_mesh(mesh)
    draws, stable = np.zeros((0, len(reference))), np.zeros(0, dtype=bool)
    while stable.sum() < n_sets and len(draws) < cap:
        batch = box(reference, min(BATCH, cap - len(draws)), lower, upper, rng)
        draws = np.concatenate([draws, batch])
        stable = np.concatenate([stable, stable_mask(basis, batch, model, q, tolerance)])
    # count up to the n-th accepted draw, as if the sets had been checked one by one
    used = int(np.flatnonzero(stable)[n_sets - 1]) + 1 if stable.sum() >= n_sets else len(draws)
    sample = Sample(draws[:used][stable[:used]], int(np.sum(~stable[:used])), used)
    if len(sample.params) < n_sets:
        _give_up(sample, n_sets, lower, upper)
    return sample


def project_sets(basis, sets, model=None, mesh=(4, 4, 4),
                 tolerance: float = UNSTABLE_MEV) -> tuple[Sample, np.ndarray]:
    """Project user-given force-constant sets onto the basis; reject the unstable ones.

    Parameters
    ----------
    basis : ParameterBasis
    sets : sequence of ForceConstants or array-like, shape (n_sets, n_cells, 3N, 3N)
        Force constants on the basis's supercell (eV/Angstrom^2), e.g. from several force
        fields.
    model : PhononModel, optional
        For the stability check (none without it).
    mesh, tolerance
        As :func:`sample_stable`.

    Returns
    -------
    sample : Sample
        Projected parameters of the stable sets (in the given order).
    residual_norm : numpy.ndarray, shape (n_sets,)
        What the basis misses of each given set, eV/Angstrom^2 (all sets, stable or not).
    """
    pieces = [basis.project(s) for s in sets] if _is_sequence(sets) else [basis.project(sets)]
    params = np.concatenate([p for p, _ in pieces])
    residual = np.concatenate([r for _, r in pieces])
    keep = np.ones(len(params), dtype=bool) if model is None else stable_mask(
        basis, params, model, check_mesh(mesh), tolerance)
    return Sample(params[keep], int(np.sum(~keep)), len(params)), residual


def _is_sequence(sets) -> bool:
    return isinstance(sets, (list, tuple))


def _reference(reference) -> np.ndarray:
    arr = np.asarray(reference, dtype=float)
    if arr.ndim != 1 or len(arr) == 0 or not np.all(np.isfinite(arr)):
        msg = (f"reference: expected finite parameters of shape (n_params,), got shape "
               f"{arr.shape}; e.g. basis.project(fcs)[0][0]")
        raise ParameterError(msg)
    return arr


def _check_bounds(lower: float, upper: float) -> None:
    for name, value in (("lower", lower), ("upper", upper)):
        if not np.isfinite(value) or value <= 0:
            msg = (f"{name}={value!r}: box bounds are factors of the reference parameters and "
                   "must be positive (e.g. lower=0.5, upper=1.5); a sign flip is not a box")
            raise ParameterError(msg)
    if lower >= upper:
        msg = f"lower={lower!r} >= upper={upper!r}: give lower < upper (e.g. 0.5 and 1.5)"
        raise ParameterError(msg)


def _give_up(sample: Sample, n_sets: int, lower: float, upper: float) -> None:
    msg = (f"only {len(sample.params)} of {n_sets} stable sets after {sample.attempts} draws "
           f"({sample.rejected} unstable) in the box {lower}-{upper} x reference: raise "
           "max_attempts or narrow the box towards 1")
    error = ParameterError(msg)
    error.sample = sample
    raise error
