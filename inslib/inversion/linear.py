"""The forward model linearised at a point of the fit variables, and Gauss-Newton refinement.

The model maps at ``u`` and ``u +- h`` along each free variable come from one batched call
and are cached on (forward model, mask, resolution, ``u``): the maps depend on the model only,
not on the data, so a live loop whose chunk starts where the previous chunk's fit ended finds
them ready and its first Gauss-Newton step costs no forward pass. Gauss-Newton steps solve the
weighted linear least squares of the linearised model (force-constant variables and the linear
nuisances together); a warm start converges in one or two steps where L-BFGS-B takes 10-20
forward and backward passes.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from inslib.inversion.objective import chi_square, used_tail, used_tensors
from inslib.simulation.setup import remember

JACOBIAN_STEP = 1e-3  # central-difference step in the fit variables u (0.1 % of a parameter)
NEWTON_STEPS = 4  # most Gauss-Newton steps of a warm start before L-BFGS-B takes over
# A step smaller than this fraction of every variable's sigma ends the refinement: the optimum
# is then known far better than its uncertainty.
CONVERGED = 0.05

_MAPS: dict = {}


@dataclass
class Linearisation:
    """The model and its Jacobian at one point of the fit variables.

    Attributes
    ----------
    u : numpy.ndarray, shape (n_vars,)
    free : numpy.ndarray of int
        Indices of the variables whose bounds differ (the others are fixed).
    maps : torch.Tensor, shape (1 + 2 n_free, *map_shape)
        Model at u, then at u + h and u - h along each free variable.
    chi2 : float
    scale, background, tail : float
        Best nuisances at u (tail: elastic-tail amplitude, 0 when not fitted).
    jacobian : numpy.ndarray, shape (n_used, n_free + 1 to 3)
        d(scale m + background + tail t)/d(free u, scale[, background][, tail]) on the used
        bins.
    weights : numpy.ndarray, shape (n_used,)
        1 / sigma^2.
    residual : numpy.ndarray, shape (n_used,)
        data - (scale m + background + tail t) on the used bins, measured units.
    """

    u: np.ndarray
    free: np.ndarray
    maps: object
    chi2: float
    scale: float
    background: float
    tail: float
    jacobian: np.ndarray
    weights: np.ndarray
    residual: np.ndarray

    @property
    def dof(self) -> int:
        """Used bins minus fitted quantities."""
        return len(self.weights) - self.jacobian.shape[1]

    def fisher(self) -> np.ndarray:
        """J^T W J, shape (n_free + nuisances, n_free + nuisances)."""
        return self.jacobian.T @ (self.weights[:, None] * self.jacobian)


def linearise(problem, u: np.ndarray, background: bool) -> Linearisation:
    """Model, best nuisances and Jacobian (central differences, one batched call) at ``u``."""
    import torch

    data, weights, index = used_tensors(problem)
    tail = used_tail(problem, index)
    bounds = np.asarray(problem.bounds, float)
    free = np.flatnonzero(bounds[:, 1] > bounds[:, 0])
    maps = model_maps(problem, np.asarray(u, float), free)
    flat = maps.reshape(len(maps), -1)[:, index]
    chi2, nuisance = chi_square(flat[:1], data, weights, background, tail)
    scale, offset = float(nuisance.scale[0]), float(nuisance.background[0])
    slope = (flat[1:1 + len(free)] - flat[1 + len(free):]).T / (2 * JACOBIAN_STEP)
    columns = [scale * slope, flat[0][:, None]]
    if background:
        columns.append(torch.ones_like(data)[:, None])
    if tail is not None:
        columns.append(tail[:, None])
    jacobian = torch.cat(columns, dim=1).numpy()
    amplitude = 0.0 if tail is None else float(nuisance.tail[0])
    fitted = scale * flat[0] + offset + (0.0 if tail is None else amplitude * tail)
    return Linearisation(u, free, maps, float(chi2[0]), scale, offset, amplitude, jacobian,
                         weights.numpy(), (data - fitted).numpy())


def model_maps(problem, u: np.ndarray, free: np.ndarray):
    """Model at u and u +- JACOBIAN_STEP along each free variable (torch, (1 + 2 n_free, ...)).

    Cached on the forward model (identity, held by the cache), mask, resolution and u (rounded
    to 1e-12, so a start read back from a parameter table finds the previous optimum's maps).
    """
    import torch

    key = (id(problem.forward), _digest(problem), np.round(u, 12).tobytes(), free.tobytes())
    cached = _MAPS.get(key)
    if cached is not None and cached[0] is problem.forward:
        return cached[1]
    steps = np.zeros((1 + 2 * len(free), len(u)))
    steps[1 + np.arange(len(free)), free] = JACOBIAN_STEP
    steps[1 + len(free) + np.arange(len(free)), free] = -JACOBIAN_STEP
    with torch.no_grad():
        maps = problem.spectra(torch.as_tensor(u[None] + steps))
    remember(_MAPS, key, (problem.forward, maps))
    return maps


def _digest(problem) -> str:
    """Return a digest of what the maps depend on besides the forward model and u."""
    digest = hashlib.sha256(np.ascontiguousarray(problem.mask).tobytes())
    if problem.sigma is not None:
        digest.update(np.ascontiguousarray(problem.sigma, float).tobytes())
    return digest.hexdigest()


def variable_scales(point: Linearisation) -> np.ndarray:
    """Sqrt of the Gauss-Newton curvature 2 sum w J_i^2 of each free variable (1 if fixed)."""
    d = np.ones(len(point.u))
    n_free = len(point.free)
    curvature = 2 * np.sum(point.weights[:, None] * point.jacobian[:, :n_free] ** 2, axis=0)
    d[point.free] = np.sqrt(np.maximum(curvature, np.finfo(float).tiny))
    return d


def gauss_newton(problem, u: np.ndarray, background: bool, progress=None):
    """Refine a start near the optimum by Gauss-Newton steps (within the bounds).

    Parameters
    ----------
    problem : inslib.inversion.problem.Problem
    u : numpy.ndarray, shape (n_vars,)
        Start (fit variables), e.g. the previous chunk's optimum or an amortized estimate.
    background : bool
        Fit a flat background.
    progress : callable, optional
        progress(step, chi2) after each step.

    Returns
    -------
    Linearisation or None
        At the optimum, once a step is below :data:`CONVERGED` x sigma in every free variable;
        None when a step raises chi^2 or :data:`NEWTON_STEPS` do not converge (the start is
        too far for the linearised model: fit by L-BFGS-B instead).
    """
    bounds = np.asarray(problem.bounds, float)
    point = linearise(problem, np.clip(u, *bounds.T), background)
    for step in range(NEWTON_STEPS + 1):
        target = np.clip(point.u + _newton_step(point), *bounds.T)
        if np.all(np.abs(target - point.u)[point.free] <= CONVERGED * _sigma(point)):
            return point
        if step == NEWTON_STEPS:
            return None
        trial = linearise(problem, target, background)
        if progress is not None:
            progress(step + 1, trial.chi2)
        if trial.chi2 > point.chi2:
            return None
        point = trial
    return None


def _newton_step(point: Linearisation) -> np.ndarray:
    """Gauss-Newton step of every variable (0 for fixed ones), shape (n_vars,)."""
    rhs = point.jacobian.T @ (point.weights * point.residual)
    delta = np.linalg.lstsq(point.fisher(), rhs, rcond=None)[0]
    step = np.zeros(len(point.u))
    step[point.free] = delta[:len(point.free)]
    return step


def _sigma(point: Linearisation) -> np.ndarray:
    """Laplace sigma of the free variables at the point (errors scaled by chi^2/dof)."""
    n = len(point.free)
    variance = np.diag(np.linalg.pinv(point.fisher()))[:n] * point.chi2 / max(point.dof, 1)
    return np.sqrt(np.maximum(variance, 0.0))
