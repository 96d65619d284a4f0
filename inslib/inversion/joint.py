"""A joint fit of several maps: one set of force constants shared, every map its own nuisances.

The harmonic assumption: the force constants are the same at every temperature, and each
map's forward model carries its own temperature (Bose factor, Debye-Waller, multiphonon). The
misfit is the sum of the maps' single-map chi^2 (:class:`~inslib.inversion.gradient.Misfit`:
masked, error-weighted, with each map's scale, flat background and elastic-tail amplitude
profiled out in closed form), so the joint fit has no physics of its own. The joint fit
variables are the shared force-constant variables followed by each map's own nonlinear
nuisances (the resolution variance fraction when it is fitted). The covariance is the Laplace
one of the single fit: the inverse Gauss-Newton matrix of the joint misfit over every free
variable and every map's linear nuisances, times the joint chi^2/dof.
"""

from dataclasses import dataclass, replace

import numpy as np

from inslib.inversion.gradient import Misfit, finish_fit, multi_start
from inslib.inversion.linear import linearise, variable_scales


@dataclass
class JointLayout:
    """Where each map's fit variables sit in the joint variables.

    Attributes
    ----------
    n_params : int
        Shared force-constant variables (the first n_params joint variables).
    index : list of numpy.ndarray of int
        Per map, shape (n_vars of the map,): joint index of each of its fit variables.
    bounds : numpy.ndarray, shape (n_joint, 2)
        Bounds of the joint variables (dimensionless).
    """

    n_params: int
    index: list
    bounds: np.ndarray


def joint_layout(problems: list) -> JointLayout:
    """Lay out the joint variables of problems with the same force-constant variables."""
    n = problems[0].n_params
    index, bounds, offset = [], [np.asarray(problems[0].bounds, float)[:n]], n
    for problem in problems:
        extra = len(problem.bounds) - n
        index.append(np.concatenate([np.arange(n), offset + np.arange(extra)]))
        bounds.append(np.asarray(problem.bounds, float)[n:].reshape(extra, 2))
        offset += extra
    return JointLayout(n, index, np.concatenate(bounds))


@dataclass
class JointFit:
    """A converged joint fit.

    Attributes
    ----------
    u : numpy.ndarray, shape (n_joint,)
        Joint fit variables at the optimum (dimensionless).
    covariance_u : numpy.ndarray, shape (n_joint, n_joint)
        Of the joint variables, every map's linear nuisances marginalised; 0 for fixed ones.
    chi2 : float
        Sum of the maps' chi^2 at the optimum.
    dof : int
        Used bins of every map minus every fitted quantity (shared variables once).
    fits : list of GradientFit
        Per map (the order of the problems): its variables, nuisances, model and chi^2, with
        the joint covariance of its variables.
    start_chi2 : list of float
        Joint optimum of each start that ran.
    evaluations : int
        Joint forward + backward passes (one per map each).
    at_bound : numpy.ndarray of bool, shape (n_joint,)
        Free joint variables that ended on a bound.
    layout : JointLayout
    """

    u: np.ndarray
    covariance_u: np.ndarray
    chi2: float
    dof: int
    fits: list
    start_chi2: list
    evaluations: int
    at_bound: np.ndarray
    layout: JointLayout

    @property
    def reduced_chi2(self) -> float:
        """Joint chi^2 / dof."""
        return self.chi2 / max(self.dof, 1)

    @property
    def params(self) -> np.ndarray:
        """Shared force-constant parameters, eV/Angstrom^2, shape (n_params,)."""
        return self.fits[0].params

    @property
    def sigma(self) -> np.ndarray:
        """Their one-sigma errors from the joint covariance, eV/Angstrom^2, (n_params,)."""
        return self.fits[0].sigma


class JointMisfit:
    """Sum of the maps' chi^2 and its gradient in the joint variables, counting evaluations."""

    def __init__(self, problems: list, layout: JointLayout, background: bool, progress):
        quiet = lambda _n, _chi2: None  # noqa: E731 (the maps' own counts are not reported)
        self.misfits = [Misfit(problem, background, quiet) for problem in problems]
        self.layout, self.progress, self.evaluations = layout, progress, 0

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the summed chi^2 and its gradient (shape (n_joint,)) at joint variables u."""
        total, gradient = 0.0, np.zeros(len(u))
        for misfit, index in zip(self.misfits, self.layout.index, strict=True):
            chi2, part = misfit(u[index])
            total += chi2
            gradient[index] += part  # a map's indices are distinct
        self.evaluations += 1
        self.progress(self.evaluations, total)
        return total, gradient


def fit_joint(problems: list, *, starts: int = 3, initial=None, background: bool = True,
              seed: int = 0, progress=None) -> JointFit:
    """Fit one set of force-constant variables to several maps, each with its own nuisances.

    L-BFGS-B from several starts as :func:`~inslib.inversion.gradient.fit_gradient` (the
    first from ``initial``, then uniform draws in the bounds, stopping once two agree), on
    the variables scaled by the square root of the summed Gauss-Newton curvature.

    Parameters
    ----------
    problems : list of Problem
        One per map, with the same force-constant variables (basis, reference, unit, bounds).
    starts : int
        Most starts (>= 1).
    initial : numpy.ndarray, shape (n_joint,), optional
        First start (default: the reference, u = 0).
    background : bool
        Fit a flat background per map.
    seed : int
        Seed of the random starts.
    progress : callable, optional
        progress(evaluations, chi2) after each joint forward + backward pass.
    """
    layout = joint_layout(problems)
    bounds = layout.bounds
    misfit = JointMisfit(problems, layout, background, progress or (lambda _n, _chi2: None))
    first = np.zeros(len(bounds)) if initial is None else np.clip(initial, *bounds.T)
    d = joint_scales(problems, layout, first, background)

    found = []
    best = multi_start(misfit, bounds, first, d, starts, np.random.default_rng(seed),
                       found=found)
    return finish_joint(problems, best[0], background=background, found=found,
                        evaluations=misfit.evaluations)


def joint_scales(problems: list, layout: JointLayout, u: np.ndarray,
                 background: bool) -> np.ndarray:
    """Square root of the summed Gauss-Newton curvature of each joint variable, (n_joint,)."""
    curvature = np.zeros(len(u))
    for problem, index in zip(problems, layout.index, strict=True):
        curvature[index] += variable_scales(linearise(problem, u[index], background)) ** 2
    return np.sqrt(curvature)


def finish_joint(problems: list, u: np.ndarray, *, background: bool, found: list = (),
                 evaluations: int = 0) -> JointFit:
    """Return the per-map fits and the joint Laplace covariance at the optimum ``u``.

    Parameters
    ----------
    problems : list of Problem
    u : numpy.ndarray, shape (n_joint,)
        Joint fit variables (see :func:`joint_layout`).
    """
    layout = joint_layout(problems)
    points = [linearise(p, u[i], background) for p, i in zip(problems, layout.index,
                                                              strict=True)]
    free = np.flatnonzero(layout.bounds[:, 1] > layout.bounds[:, 0])
    fisher = joint_fisher(points, layout, free)
    chi2 = sum(point.chi2 for point in points)
    dof = sum(len(point.weights) for point in points) - len(fisher)
    covariance_u = np.zeros((len(u), len(u)))
    inverse = np.linalg.pinv(fisher)[:len(free), :len(free)] * chi2 / max(dof, 1)
    covariance_u[np.ix_(free, free)] = inverse
    fits = [replace(finish_fit(p, u[i], background, list(found), evaluations),
                    covariance_u=covariance_u[np.ix_(i, i)])
            for p, i in zip(problems, layout.index, strict=True)]
    bounds = layout.bounds
    at_bound = (np.isclose(u, bounds[:, 0]) | np.isclose(u, bounds[:, 1])) & (
        bounds[:, 1] > bounds[:, 0])
    return JointFit(u, covariance_u, chi2, dof, fits, list(found), evaluations, at_bound, layout)


def joint_fisher(points: list, layout: JointLayout, free: np.ndarray) -> np.ndarray:
    """J^T W J of the joint misfit: free joint variables, then each map's linear nuisances.

    Parameters
    ----------
    points : list of Linearisation
        Per map, at its variables of the joint optimum.
    layout : JointLayout
    free : numpy.ndarray of int
        Free joint variables (bounds differ), increasing.

    Returns
    -------
    numpy.ndarray, shape (n_free + sum of the maps' nuisances, same)
    """
    nuisances = [point.jacobian.shape[1] - len(point.free) for point in points]
    fisher = np.zeros((len(free) + sum(nuisances),) * 2)
    offset = len(free)
    for point, index, extra in zip(points, layout.index, nuisances, strict=True):
        columns = np.concatenate([np.searchsorted(free, index[point.free]),
                                  offset + np.arange(extra)])
        fisher[np.ix_(columns, columns)] += point.fisher()
        offset += extra
    return fisher
