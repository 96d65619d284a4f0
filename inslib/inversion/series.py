"""A temperature series: maps of one sample at several temperatures, in sequence or jointly.

In sequence (:func:`invert_series`), each fit starts from the previous temperature's optimum
(the force constants change slowly with temperature), and the result is one table over
temperature. Inside Mantid, a WorkspaceGroup given as InputWorkspace runs InvertForceConstants
once per member (Mantid's group processing, each member's temperature from its log with
Temperature = -1); this function is the same in sequence, with warm starts, for scripts and
the built-in host.

Jointly (:func:`invert_joint`, SeriesFit=Joint), one set of force constants is fitted to every
map at once (the harmonic assumption: the same force constants at every temperature, each
map's own Bose factor, Debye-Waller and multiphonon terms in its forward model), each map with
its own scale, background, elastic tail and resolution factor (:mod:`inslib.inversion.joint`).
"""

from dataclasses import dataclass, replace

import numpy as np

from inslib.inversion.request import inversion_temperature, validate_inversion
from inslib.inversion.run import invert

SERIES_FITS = ("Sequential", "Joint")
# settings that define the shared variables or the joint misfit: the same for every map
SHARED_SETTINGS = (("Shells", "shells"), ("FittedParameters", "parameters"),
                   ("ParameterRange", "parameter_range"), ("FitBackground", "background"),
                   ("FitResolution", "fit_resolution"), ("ErrorModel", "error_model"))
# a later map's own properties in InvertForceConstants
SERIES_PROPERTIES = {"InputWorkspace": "SeriesWorkspaces", "Temperature": "SeriesTemperatures"}


def invert_series(requests: list, progress=None) -> list:
    """Invert requests in order of temperature, each started from the previous optimum.

    Parameters
    ----------
    requests : list of InversionRequest
        One per measured map, same force constants and shells.
    progress : callable, optional
        progress(fraction, message) over the whole series.

    Returns
    -------
    list of InversionResult
        In order of increasing temperature.
    """
    ordered = sorted(requests, key=inversion_temperature)
    results, initial = [], ()
    for k, request in enumerate(ordered):
        report = _part(progress, k, len(ordered), inversion_temperature(request))
        result = invert(replace(request, initial=initial, _errors=None), report)
        initial = tuple((row[0], row[2]) for row in result.table[:result.fit.problem.n_params])
        results.append(result)
    return results


def series_table(results: list) -> tuple[list, list]:
    """Columns and rows of the table over temperature.

    Returns
    -------
    columns : list of str
        "Temperature" (K), then "<parameter>" and "<parameter>_Error" (eV/Angstrom^2) for each
        parameter, then "ChiSquaredPerDoF".
    rows : list of tuple
        One per result.
    """
    names = results[0].fit.problem.names
    columns = ["Temperature"]
    for name in names:
        columns += [name, f"{name}_Error"]
    rows = []
    for result in results:
        row = [result.temperature]
        for value, sigma in zip(result.fit.params, result.fit.sigma, strict=True):
            row += [float(value), float(sigma)]
        rows.append((*row, result.figures.reduced_chi2))
    return [*columns, "ChiSquaredPerDoF"], rows


def _part(progress, k: int, n: int, temperature: float):
    if progress is None:
        return None
    return lambda fraction, message: progress((k + fraction) / n,
                                              f"{temperature:g} K: {message}")


@dataclass
class JointResult:
    """A joint fit of a temperature series.

    Attributes
    ----------
    fit : JointFit
        The shared parameters, their joint covariance and the joint chi^2.
    results : list of InversionResult
        Per map, in order of increasing temperature: the shared force constants with the
        joint sigmas, the map's own nuisances, fitted map, residual and figures.
    warnings : list of str
    """

    fit: object
    results: list
    warnings: list


def validate_series(requests: list, *, fit: str = "Joint") -> dict:
    """Check a series once; return {property: message} for everything wrong.

    Each map's request is checked (a later map's errors are prefixed "map k (T K)" and named
    by the series properties), then, for a joint fit, that there are several maps sharing the
    force constants and the settings of :data:`SHARED_SETTINGS`.

    Parameters
    ----------
    requests : list of InversionRequest
        One per map; the first is InputWorkspace's.
    fit : str
        "Sequential" or "Joint" (SeriesFit).
    """
    if fit not in SERIES_FITS:
        return {"SeriesFit": f"{fit!r} is not a series fit: give one of {', '.join(SERIES_FITS)}"}
    if fit == "Joint" and len(requests) < 2:
        return {"SeriesFit": f"Joint fits several maps together, got {len(requests)}: give the "
                             "other temperatures' maps as SeriesWorkspaces, or use "
                             "SeriesFit=Sequential for one map"}
    errors = {}
    for k, request in enumerate(requests):
        for name, message in validate_inversion(request).items():
            if k == 0:
                errors.setdefault(name, message)
            else:
                errors.setdefault(SERIES_PROPERTIES.get(name, name), f"map {k + 1}: {message}")
    if errors or fit == "Sequential":
        return errors
    return _shared_errors(requests)


def _shared_errors(requests: list) -> dict:
    """Return {property: message} for what differs between the maps of a joint fit."""
    first, errors = requests[0], {}
    if first.method == "Amortized":
        errors["Method"] = ("Amortized gives no joint fit: use Gradient (or Hybrid, which "
                            "starts the joint fit from the reference) with SeriesFit=Joint")
    for k, request in enumerate(requests[1:], start=2):
        for name, attribute in SHARED_SETTINGS:
            mine, theirs = getattr(request, attribute), getattr(first, attribute)
            if mine != theirs:
                errors.setdefault(name, f"map {k} has {mine!r}, map 1 {theirs!r}: a joint fit "
                                        f"shares one set of parameters; give every map the "
                                        f"same {name}")
        if not _same_parameters(first, request):
            errors.setdefault("ForceConstantsFile", (
                f"map {k}'s force constants ({request.simulation.force_constants}) differ from "
                f"map 1's ({first.simulation.force_constants}) in their {first.shells}-shell "
                "parameters: a joint fit shares one reference; give every map the same "
                "ForceConstantsFile"))
    return errors


def _same_parameters(a, b) -> bool:
    """Tell two requests whose force constants give the same parameter names and reference."""
    from inslib.inversion.problem import reference_parameters

    def reference(request):
        simulation = request.simulation
        basis, _, values, _ = reference_parameters(simulation.force_constants,
                                                   simulation.structure, simulation.supercell,
                                                   request.shells)
        return list(basis.names), np.asarray(values)

    (names_a, values_a), (names_b, values_b) = reference(a), reference(b)
    return names_a == names_b and np.allclose(values_a, values_b, rtol=1e-9, atol=0.0)


def invert_joint(requests: list, progress=None) -> JointResult:
    """Fit one set of force constants to every map of a series, each with its own nuisances.

    Parameters
    ----------
    requests : list of InversionRequest
        Two or more maps with the same force constants and :data:`SHARED_SETTINGS`; the
        first's Starts, Seed and InitialParameterTable run the fit (Method: Gradient from
        the initial or reference force constants).
    progress : callable, optional
        progress(fraction, message).

    Returns
    -------
    JointResult
        Maps in order of increasing temperature.
    """
    from inslib.inversion.build import build_problem
    from inslib.inversion.joint import fit_joint
    from inslib.inversion.run import EXPECTED_EVALUATIONS, inversion_result
    from inslib.simulation.errors import raise_errors

    raise_errors(validate_series(requests, fit="Joint"))
    report = progress or (lambda _fraction, _message: None)
    ordered = sorted(requests, key=inversion_temperature)
    first = requests[0]
    report(0.02, "parameter basis and forward models")
    problems = [build_problem(request) for request in ordered]
    budget = first.starts * EXPECTED_EVALUATIONS
    joint = fit_joint(problems, starts=first.starts, initial=_joint_start(first, problems),
                      background=first.background, seed=first.seed,
                      progress=lambda n, chi2: report(min(0.1 + 0.8 * n / budget, 0.9),
                                                      f"joint fit: chi^2 = {chi2:.6g}"))
    if first.error_model == "Poisson":
        report(0.9, "refit with the model's Poisson errors")
        joint = _reweighted_joint(problems, joint, first.background)
    report(0.92, "outputs: maps, force constants")
    results = [inversion_result(request, fit, "Joint", [])
               for request, fit in zip(ordered, joint.fits, strict=True)]
    warnings = [] if first.method == "Gradient" else [
        f"Method={first.method}: a joint fit is a gradient fit; started from the "
        f"{'initial' if first.initial else 'reference'} force constants"]
    for result in results:
        warnings += [w for w in result.warnings if w not in warnings]
    report(1.0, "done")
    return JointResult(joint, results, warnings)


def _joint_start(request, problems: list):
    """Joint variables of the request's initial parameters (None: the reference)."""
    from inslib.inversion.joint import joint_layout
    from inslib.inversion.run import start_variables

    u = start_variables(request, problems[0])
    if u is None:
        return None
    start = np.zeros(len(joint_layout(problems).bounds))
    start[:problems[0].n_params] = u[:problems[0].n_params]
    return start


def _reweighted_joint(problems: list, joint, background: bool):
    """Refit jointly with each map's Poisson variance of the fitted model (ErrorModel=Poisson).

    As :func:`inslib.inversion.weights.reweighted_fit`, map by map: the weights of every map
    follow its own fitted model, :data:`~inslib.inversion.weights.REWEIGHTINGS` times.
    """
    from inslib.inversion.joint import fit_joint
    from inslib.inversion.weights import REWEIGHTINGS, count_unit, model_errors

    units = [count_unit(p.data.signal, p.data.errors) for p in problems]
    for _ in range(REWEIGHTINGS):
        problems = [replace(p, data=replace(p.data, errors=np.where(
            p.data.use, model_errors(unit, fit.model), 1.0)))
            for p, unit, fit in zip(problems, units, joint.fits, strict=True)]
        joint = fit_joint(problems, starts=1, initial=joint.u, background=background)
    return joint


def joint_table(result: JointResult) -> tuple[list, list]:
    """Columns and rows of a joint fit's table: shared parameters once, then each map's rows.

    Returns
    -------
    columns : list of str
        "Name", "Temperature" (K; NaN for what all maps share), "Distance" (Angstrom),
        "Value", "Error", "Reference".
    rows : list of tuple
        The shared force-constant parameters (eV/Angstrom^2, joint sigmas) once; then per map
        in order of temperature its Scale, Background (measured units), ElasticTail and
        ResolutionFactor when fitted, PearsonR, NMSE and ChiSquaredPerDoF (that map's chi^2
        over its used bins minus every quantity fitted to it, as a single fit counts); last
        the joint ChiSquaredPerDoF (the cost function).
    """
    nan = float("nan")
    n = result.fit.layout.n_params
    rows = [(name, nan, *rest) for name, *rest in result.results[0].table[:n]]
    for mine in result.results:
        rows += [(name, mine.temperature, *rest) for name, *rest in mine.table[n:]]
    rows.append(("ChiSquaredPerDoF", nan, nan, result.fit.reduced_chi2, nan, nan))
    return ["Name", "Temperature", "Distance", "Value", "Error", "Reference"], rows
