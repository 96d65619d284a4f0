"""Gradient fit of force-constant parameters to a measured spectrum, with a Laplace covariance.

L-BFGS-B (scipy) on chi^2(u) of :mod:`inslib.inversion.objective`, its gradient by autograd
through the differentiable forward model (one forward and one backward pass per evaluation).
Several starts: the reference (or a given start, e.g. the amortized estimate) first, then
uniform draws in the bounds; the starts stop early once two have reached the same minimum.
The covariance is the inverse Gauss-Newton matrix (J^T W J)^-1 at the optimum over the
force-constant variables, scale and background together (so the nuisances are marginalised),
times the reduced chi^2 (Mantid Fit's convention; it is ~1 when the errors are right and the
model fits).
"""

from dataclasses import dataclass

import numpy as np

from inslib.inversion.objective import chi_square, used_tail, used_tensors

MAX_ITERATIONS = 200  # L-BFGS-B iterations per start
F_TOLERANCE = 1e-10  # L-BFGS-B relative chi^2 change at which a start stops
SAME_MINIMUM = 1e-6  # relative chi^2 difference of two starts that found the same minimum
JACOBIAN_STEP = 1e-3  # central-difference step in the fit variables u (0.1 % of a parameter)


@dataclass
class GradientFit:
    """A converged gradient fit.

    Attributes
    ----------
    u : numpy.ndarray, shape (n_vars,)
        Fit variables at the optimum (dimensionless, see
        :class:`~inslib.inversion.problem.Problem`).
    covariance_u : numpy.ndarray, shape (n_vars, n_vars)
        Of the fit variables, nuisances marginalised; 0 for fixed variables.
    scale, background : float
        Measured units per model unit; measured units.
    chi2 : float
        At the optimum.
    dof : int
        Used bins minus fitted quantities.
    model : numpy.ndarray, shape map_shape
        scale x model + background (+ elastic tail) on every bin (model: 0 in masked bins).
    start_chi2 : list of float
        Optimum of each start that ran.
    evaluations : int
        Forward + backward passes in all.
    at_bound : numpy.ndarray of bool, shape (n_vars,)
        Free variables that ended on a bound (their sigma is a local curvature only).
    problem : inslib.inversion.problem.Problem
    tail : float
        Elastic-tail amplitude, measured units at E = 0 (0 when not fitted).
    """

    u: np.ndarray
    covariance_u: np.ndarray
    scale: float
    background: float
    chi2: float
    dof: int
    model: np.ndarray
    start_chi2: list
    evaluations: int
    at_bound: np.ndarray
    problem: object
    tail: float = 0.0

    @property
    def reduced_chi2(self) -> float:
        """chi^2 / dof."""
        return self.chi2 / max(self.dof, 1)

    @property
    def params(self) -> np.ndarray:
        """Force-constant parameters, eV/Angstrom^2, shape (n_params,)."""
        return self.problem.params(self.u)

    @property
    def covariance(self) -> np.ndarray:
        """Of the parameters, (eV/Angstrom^2)^2, shape (n_params, n_params)."""
        n, unit = self.problem.n_params, self.problem.unit
        return self.covariance_u[:n, :n] * unit[:, None] * unit[None, :]

    @property
    def sigma(self) -> np.ndarray:
        """One-sigma errors of the parameters, eV/Angstrom^2, shape (n_params,)."""
        return np.sqrt(np.diag(self.covariance))

    @property
    def resolution_factor(self) -> tuple | None:
        """(factor, sigma) of the fitted energy-resolution width factor sqrt(1 + v), or None."""
        if self.problem.sigma is None:
            return None
        v, var = self.u[-1], self.covariance_u[-1, -1]
        factor = float(np.sqrt(1.0 + v))
        return factor, float(np.sqrt(var) / (2 * factor))


class _Misfit:
    """chi^2(u) and its gradient for scipy, counting evaluations."""

    def __init__(self, problem, background: bool, progress):
        self.problem, self.background, self.progress = problem, background, progress
        self.data, self.weights, self.index = used_tensors(problem)
        self.tail = used_tail(problem, self.index)
        self.evaluations = 0

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        import torch

        variables = torch.tensor(u[None], dtype=torch.float64, requires_grad=True)
        model = self.problem.spectra(variables).reshape(1, -1)[:, self.index]
        chi2, _ = chi_square(model, self.data, self.weights, self.background, self.tail)
        chi2.sum().backward()
        self.evaluations += 1
        self.progress(self.evaluations, float(chi2.detach()))
        return float(chi2.detach()), variables.grad[0].numpy().copy()


def fit_gradient(problem, starts: int = 3, initial=None, background: bool = True,
                 seed: int = 0, progress=None) -> GradientFit:
    """Fit the force-constant variables of ``problem`` from several starts.

    The optimiser works on x = u d, with d the square root of the Gauss-Newton curvature of
    chi^2 along each variable at the first start: with unscaled variables L-BFGS-B's first
    step (the raw gradient, 1e2-1e3 against a box 1 wide) lands on a corner of the box and
    can stop there.

    Parameters
    ----------
    problem : inslib.inversion.problem.Problem
    starts : int
        Most starts to run (>= 1).
    initial : numpy.ndarray, shape (n_vars,), optional
        First start, fit variables u (default: the reference, u = 0).
    background : bool
        Fit a flat background with the scale.
    seed : int
        Seed of the random starts.
    progress : callable, optional
        progress(evaluations, chi2) after each forward + backward pass.
    """
    from scipy.optimize import minimize

    misfit = _Misfit(problem, background, progress or (lambda _n, _chi2: None))
    bounds = np.asarray(problem.bounds, float)
    rng = np.random.default_rng(seed)
    first = np.zeros(len(bounds)) if initial is None else np.clip(initial, *bounds.T)
    d = variable_scales(linearise(problem, first, background))

    def scaled(x):
        value, gradient = misfit(x / d)
        return value, gradient / d

    best, found = None, []
    for k in range(starts):
        start = first if k == 0 else rng.uniform(bounds[:, 0], bounds[:, 1])
        result = minimize(scaled, start * d, jac=True, method="L-BFGS-B",
                          bounds=bounds * d[:, None],
                          options={"maxiter": MAX_ITERATIONS, "ftol": F_TOLERANCE})
        found.append(float(result.fun))
        if best is not None and _same(result.fun, best.fun):
            break
        best = result if best is None or result.fun < best.fun else best
    u = np.clip(best.x / d, *bounds.T)
    return finish_fit(problem, u, background, found, misfit.evaluations)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_MINIMUM * max(abs(a), abs(b), 1.0)


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


def linearise(problem, u: np.ndarray, background: bool) -> Linearisation:
    """Model, best nuisances and Jacobian (central differences, one batched call) at ``u``."""
    import torch

    data, weights, index = used_tensors(problem)
    tail = used_tail(problem, index)
    bounds = np.asarray(problem.bounds, float)
    free = np.flatnonzero(bounds[:, 1] > bounds[:, 0])
    steps = np.zeros((1 + 2 * len(free), len(u)))
    steps[1 + np.arange(len(free)), free] = JACOBIAN_STEP
    steps[1 + len(free) + np.arange(len(free)), free] = -JACOBIAN_STEP
    with torch.no_grad():
        maps = problem.spectra(torch.as_tensor(u[None] + steps))
    flat = maps.reshape(len(steps), -1)[:, index]
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
    return Linearisation(u, free, maps, float(chi2[0]), scale, offset, amplitude, jacobian,
                         weights.numpy())


def variable_scales(point: Linearisation) -> np.ndarray:
    """Sqrt of the Gauss-Newton curvature 2 sum w J_i^2 of each free variable (1 if fixed)."""
    d = np.ones(len(point.u))
    n_free = len(point.free)
    curvature = 2 * np.sum(point.weights[:, None] * point.jacobian[:, :n_free] ** 2, axis=0)
    d[point.free] = np.sqrt(np.maximum(curvature, np.finfo(float).tiny))
    return d


def finish_fit(problem, u: np.ndarray, background: bool, found: list,
               evaluations: int) -> GradientFit:
    """Return the nuisances, fitted map and Laplace covariance at the optimum ``u``."""
    point = linearise(problem, u, background)
    free, jacobian = point.free, point.jacobian
    dof = len(point.weights) - jacobian.shape[1]
    fisher = jacobian.T @ (point.weights[:, None] * jacobian)
    covariance_u = np.zeros((len(u), len(u)))
    covariance_u[np.ix_(free, free)] = (np.linalg.pinv(fisher)[:len(free), :len(free)]
                                        * point.chi2 / max(dof, 1))
    bounds = np.asarray(problem.bounds, float)
    at_bound = (np.isclose(u, bounds[:, 0]) | np.isclose(u, bounds[:, 1])) & (
        bounds[:, 1] > bounds[:, 0])
    model = point.scale * point.maps[0].numpy() + point.background
    if problem.tail is not None:
        model = model + point.tail * problem.tail
    return GradientFit(u, covariance_u, point.scale, point.background, point.chi2, dof, model,
                       found, evaluations, at_bound, problem, point.tail)
