"""Gradient fit of force-constant parameters to a measured spectrum, with a Laplace covariance.

L-BFGS-B (scipy) on chi^2(u) of :mod:`inslib.inversion.objective`, its gradient by autograd
through the differentiable forward model (one forward and one backward pass per evaluation).
Several starts: the reference (or a given start, e.g. the amortized estimate or the previous
chunk's optimum, refined first by Gauss-Newton steps, :func:`inslib.inversion.linear.
gauss_newton`) first, then uniform draws in the bounds; the starts stop early once two have
reached the same minimum (not counting a corner of the box, where every variable is on a bound).
The covariance is the inverse Gauss-Newton matrix (J^T W J)^-1 at the optimum over the
force-constant variables, scale and background together (so the nuisances are marginalised),
times the reduced chi^2 (Mantid Fit's convention; it is ~1 when the errors are right and the
model fits).
"""

from dataclasses import dataclass

import numpy as np

from inslib.inversion.linear import gauss_newton, linearise, variable_scales
from inslib.inversion.objective import chi_square, used_tail, used_tensors

MAX_ITERATIONS = 200  # L-BFGS-B iterations per start
F_TOLERANCE = 1e-10  # L-BFGS-B relative chi^2 change at which a start stops
SAME_MINIMUM = 1e-6  # relative chi^2 difference of two starts that found the same minimum


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
        Forward + backward passes of L-BFGS-B and Gauss-Newton steps (a batched Jacobian
        each) in all.
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


class Misfit:
    """chi^2(u) and its gradient for scipy, counting evaluations."""

    def __init__(self, problem, background: bool, progress):
        self.problem, self.background, self.progress = problem, background, progress
        self.data, self.weights, self.index = used_tensors(problem)
        self.tail = used_tail(problem, self.index)
        self.evaluations = 0

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """Return chi^2 and its gradient (shape (n_vars,)) at fit variables u (n_vars,)."""
        import torch

        variables = torch.tensor(u[None], dtype=torch.float64, requires_grad=True)
        model = self.problem.spectra(variables).reshape(1, -1)[:, self.index]
        chi2, _ = chi_square(model, self.data, self.weights, self.background, self.tail)
        chi2.sum().backward()
        self.evaluations += 1
        self.progress(self.evaluations, float(chi2.detach()))
        return float(chi2.detach()), variables.grad[0].numpy().copy()

    def count(self, _step: int, chi2: float) -> None:
        """Count a Gauss-Newton step (one batched Jacobian) as an evaluation."""
        self.evaluations += 1
        self.progress(self.evaluations, chi2)


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
    misfit = Misfit(problem, background, progress or (lambda _n, _chi2: None))
    bounds = np.asarray(problem.bounds, float)
    rng = np.random.default_rng(seed)
    first = np.zeros(len(bounds)) if initial is None else np.clip(initial, *bounds.T)
    warm = None if initial is None else gauss_newton(problem, first, background, misfit.count)
    best, found = (None, []) if warm is None else ((warm.u, warm.chi2), [warm.chi2])
    d = variable_scales(warm or linearise(problem, first, background))

    best = multi_start(misfit, bounds, first, d, starts, rng, best, found)
    return finish_fit(problem, best[0], background, found, misfit.evaluations)


def multi_start(misfit, bounds: np.ndarray, first: np.ndarray, d: np.ndarray, starts: int,
                rng, best=None, found: list | None = None) -> tuple:
    """L-BFGS-B from ``first`` then uniform random starts, stopping at a repeated minimum.

    Parameters
    ----------
    misfit : callable
        u -> (chi^2, gradient) in the unscaled variables u, shape (n,).
    bounds : numpy.ndarray, shape (n, 2)
    first : numpy.ndarray, shape (n,)
        The first start (used when ``found`` is empty).
    d : numpy.ndarray, shape (n,)
        Variable scales: the optimiser works on x = u d.
    starts : int
        Starts in all, those already in ``found`` included.
    rng : numpy.random.Generator
        Draws the random starts.
    best : (numpy.ndarray, float), optional
        Best (u, chi^2) so far.
    found : list of float, optional
        chi^2 of each start so far; appended to in place.

    Returns
    -------
    (numpy.ndarray, float)
        The best u (clipped to the bounds) and its chi^2.
    """
    from scipy.optimize import minimize

    found = [] if found is None else found

    def scaled(x):
        value, gradient = misfit(x / d)
        return value, gradient / d

    for k in range(len(found), starts):
        start = first if k == 0 else rng.uniform(bounds[:, 0], bounds[:, 1])
        result = minimize(scaled, start * d, jac=True, method="L-BFGS-B",
                          bounds=bounds * d[:, None],
                          options={"maxiter": MAX_ITERATIONS, "ftol": F_TOLERANCE})
        found.append(float(result.fun))
        if best is not None and same_minimum(result.fun, best[1]) and not on_corner(
                result.x / d, bounds):
            break
        if best is None or result.fun < best[1]:
            best = (np.clip(result.x / d, *bounds.T), float(result.fun))
    return best


def on_corner(u: np.ndarray, bounds: np.ndarray) -> bool:
    """Tell a start that ended with every free variable on a bound (a corner of the box).

    Two starts stopped on the same corner have not found a minimum of chi^2 but the box's
    edge (the data pull further): the search goes on instead of stopping early.
    """
    free = bounds[:, 1] > bounds[:, 0]
    on = np.isclose(u, bounds[:, 0]) | np.isclose(u, bounds[:, 1])
    return bool(free.any() and on[free].all())


def same_minimum(a: float, b: float) -> bool:
    """Tell two chi^2 values of the same minimum (within :data:`SAME_MINIMUM`, relative)."""
    return abs(a - b) <= SAME_MINIMUM * max(abs(a), abs(b), 1.0)


def finish_fit(problem, u: np.ndarray, background: bool, found: list,
               evaluations: int) -> GradientFit:
    """Return the nuisances, fitted map and Laplace covariance at the optimum ``u``."""
    point = linearise(problem, u, background)
    free, dof = point.free, point.dof
    covariance_u = np.zeros((len(u), len(u)))
    covariance_u[np.ix_(free, free)] = (np.linalg.pinv(point.fisher())[:len(free), :len(free)]
                                        * point.chi2 / max(dof, 1))
    bounds = np.asarray(problem.bounds, float)
    at_bound = (np.isclose(u, bounds[:, 0]) | np.isclose(u, bounds[:, 1])) & (
        bounds[:, 1] > bounds[:, 0])
    model = point.scale * point.maps[0].numpy() + point.background
    if problem.tail is not None:
        model = model + point.tail * problem.tail
    return GradientFit(u, covariance_u, point.scale, point.background, point.chi2, dof, model,
                       found, evaluations, at_bound, problem, point.tail)
