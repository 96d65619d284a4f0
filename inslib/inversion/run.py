"""InvertForceConstants' core: validate, build the problem, start, fit, hand back the outputs.

Methods: ``Gradient`` fits from the reference; ``Amortized`` takes the trained networks'
estimate (and their latent-sampling spread) as the answer; ``Hybrid`` starts the gradient fit
from the amortized estimate, and falls back to ``Gradient`` with a warning where no model has
been trained for the crystal, shells, template and temperature.
"""

import functools
from dataclasses import dataclass

from inslib.inversion.build import build_problem
from inslib.inversion.gradient import GradientFit, fit_gradient
from inslib.inversion.outputs import (
    Figures,
    dispersion,
    figures,
    fitted_maps,
    inverted_force_constants,
    table_rows,
)
from inslib.inversion.request import InversionRequest, inversion_temperature, validate_inversion
from inslib.inversion.weights import reweighted_fit
from inslib.phonons.sampling import UNSTABLE_MEV, check_mesh, lowest_modes
from inslib.simulation.errors import raise_errors

EXPECTED_EVALUATIONS = 60  # forward + backward passes a start typically takes (progress only)


@dataclass
class InversionResult:
    """Everything InvertForceConstants outputs.

    Attributes
    ----------
    fit : GradientFit
    figures : Figures
    table : list of tuple
        (Name, Distance A, Value, Error, Reference): :func:`~inslib.inversion.outputs.
        table_rows`.
    fitted, residual : Histogram
        On the measured bins (measured units).
    force_constants : ForceConstants
        The inverted set (primitive cell, eV/Angstrom^2).
    method : str
        What ran ("Gradient", "Hybrid", "Amortized").
    warnings : list of str
    temperature : float
        Of the fit, K.
    seed : int
        Of the dispersion band samples.
    """

    fit: GradientFit
    figures: Figures
    table: list
    fitted: object
    residual: object
    force_constants: object
    method: str
    warnings: list
    temperature: float
    seed: int = 0

    @functools.cached_property
    def dispersion(self):
        """Mode energies (meV) along the seekpath path with the one-sigma band (on demand)."""
        return dispersion(self.fit, self.seed)


def invert(request: InversionRequest, progress=None) -> InversionResult:
    """Run an inversion; ``progress(fraction, message)`` is called along the way."""
    raise_errors(validate_inversion(request))
    report = progress or (lambda _fraction, _message: None)
    report(0.02, "parameter basis and forward model")
    problem = build_problem(request)
    fit, method, warnings = _fit(request, problem, report)
    report(0.92, "outputs: maps, force constants")
    result = inversion_result(request, fit, method, warnings)
    report(1.0, "done")
    return result


def inversion_result(request: InversionRequest, fit: GradientFit, method: str,
                     warnings: list) -> InversionResult:
    """Return the outputs of a fit of the request's map: figures, table, maps, force constants."""
    from inslib.phonons.force_constants import to_primitive
    from inslib.simulation.setup import read_force_constants

    found = figures(fit)
    fitted, residual = fitted_maps(request.measured, fit)
    simulation = request.simulation
    like = to_primitive(read_force_constants(simulation.force_constants, simulation.structure,
                                             simulation.supercell))
    return InversionResult(fit, found, table_rows(fit, found), fitted, residual,
                           inverted_force_constants(fit, like), method,
                           warnings + _fit_warnings(fit), inversion_temperature(request),
                           request.seed)


def _fit(request: InversionRequest, problem, report):
    """Run the request's method; return (fit, what ran, warnings)."""
    from inslib.inversion.start import (
        amortized_estimate,
        amortized_fit,
        estimate_variables,
        trained_model,
    )

    model = None if request.method == "Gradient" else trained_model(request)
    if model is not None:
        report(0.05, "amortized estimate")
        estimate = amortized_estimate(model, problem, request.seed)
        if request.method == "Amortized":
            return amortized_fit(problem, estimate, request.background), "Amortized", []
        initial, method, warnings = estimate_variables(problem, estimate)[0], "Hybrid", []
    else:
        initial, method, warnings = start_variables(request, problem), "Gradient", []
        if request.method != "Gradient":
            warnings = [_no_model_warning(request)]
    budget = request.starts * EXPECTED_EVALUATIONS
    fit = fit_gradient(problem, request.starts, initial, request.background, request.seed,
                       progress=lambda n, chi2: report(
                           min(0.1 + 0.8 * n / budget, 0.9), f"fit: chi^2 = {chi2:.6g}"))
    if request.error_model == "Poisson":
        report(0.9, "refit with the model's Poisson errors")
        fit = reweighted_fit(problem, fit, request.background, lambda again, u: fit_gradient(
            again, 1, u, request.background, request.seed))
    return fit, method, warnings


def _no_model_warning(request: InversionRequest) -> str:
    why = ("no amortized model is trained for this crystal, shells, template and temperature "
           "(train one with `inslib train-inversion CONFIG`)" if request.kind == "powder" else
           "amortized networks are trained for direct-geometry powder maps only")
    return (f"Method={request.method}: {why}; fitted by Gradient from the "
            f"{'initial' if request.initial else 'reference'} force constants")


def start_variables(request: InversionRequest, problem):
    """Fit variables u of the request's initial parameters (None: start at the reference)."""
    import numpy as np

    if not request.initial:
        return None
    values = dict(request.initial)
    params = np.array([values[name] for name in problem.names])
    u = (params - problem.reference) / problem.unit
    extra = np.zeros(len(problem.bounds) - len(u))  # resolution variance fraction: 0
    return np.concatenate([u, extra])


def _fit_warnings(fit: GradientFit) -> list:
    """Return what a user should know about the optimum: bounds reached, instability."""
    names = [*fit.problem.names, "ResolutionFactor"]
    on_bound = [names[i] for i in range(len(fit.u)) if fit.at_bound[i]]
    warnings = [f"{', '.join(on_bound)} ended on the bound of ParameterRange: the data pull "
                "them further (their sigma is a local curvature only); widen ParameterRange, "
                "add shells or check the model's missing physics"] if on_bound else []
    return warnings + _stability_warnings(fit)


def _stability_warnings(fit: GradientFit) -> list:
    """Warn where the fitted force constants have imaginary modes on the 4x4x4 check mesh.

    Such a set is no crystal: near it modes soften through zero, which walls off minima of the
    misfit (docs/validation.md, force-constant inversion), so the fit may be a false minimum.
    """
    problem = fit.problem
    lowest = float(lowest_modes(problem.basis, fit.params[None], problem.model,
                                check_mesh())[0])
    if lowest >= -UNSTABLE_MEV:
        return []
    return [f"the fitted force constants are dynamically unstable (lowest mode {lowest:.2f} meV "
            "on a 4x4x4 q-mesh): the fit may sit in a false minimum; refit with more Starts, "
            "a narrower ParameterRange, or check the model"]
