"""The amortized networks' part of an inversion: find the trained model, estimate, start.

A model is found by content (:func:`~inslib.inversion.amortized.inversion_key` of the crystal,
shells, template bins and mask, temperature, instrument setting and sampling box): the file
given as AmortizedModel, checked against the request, or else the cache's model trained with
the default settings of ``inslib train-inversion``.
"""

from dataclasses import replace

import numpy as np

from inslib.simulation.requests import powder_temperature


def model_key(request, settings=None, box=None, box_per_parameter=None):
    """Return the inversion_key of an InversionRequest's crystal, template and temperature.

    ``settings``, ``box`` and ``box_per_parameter``: a model's own (its metadata), or None for
    the defaults (box = 1 -+ ParameterRange).
    """
    from inslib.instruments.templates import create_sqe_template
    from inslib.inversion.amortized import instrument_setting, inversion_key
    from inslib.simulation.setup import read_force_constants

    simulation = request.simulation
    template = create_sqe_template(simulation.template)
    fcs = read_force_constants(simulation.force_constants, simulation.structure,
                               simulation.supercell)
    r = request.parameter_range
    return inversion_key(fcs, request.shells, template.axes[0].edges, template.axes[1].edges,
                         template.mask, float(powder_temperature(simulation)),
                         instrument_setting(template), "PowderChi" if request.chi else "PowderSQE",
                         box if box is not None else (1 - r, 1 + r), box_per_parameter, settings)


def trained_model(request):
    """Return the AmortizedModel (checked) or the cached default model; None if neither.

    Raises
    ------
    ValueError
        When the AmortizedModel file was trained for another crystal, shells, template,
        temperature or instrument setting (its key differs from the request's).
    """
    from inslib.inversion.amortized import AmortizedInverter, find_trained

    if request.kind != "powder":  # the networks are trained for direct-geometry maps only
        return None
    if not request.model_file:
        return find_trained(model_key(request))
    model = AmortizedInverter.load(request.model_file)
    meta = model.metadata
    expected = model_key(request, meta.get("settings"), meta.get("box"),
                         meta.get("box_per_parameter"))
    if model.key != expected:
        msg = (f"{request.model_file} was trained for another crystal, shells, "
               f"template, temperature or instrument setting (its key {model.key[:12]}..., "
               f"this request's {expected[:12]}...): train one for this configuration with "
               "`inslib train-inversion`, or leave AmortizedModel empty")
        raise ValueError(msg)
    return model


def amortized_estimate(model, problem, seed: int):
    """Return the networks' estimate (AmortizedEstimate) of the problem's measured map."""
    data = problem.data
    use = ~problem.mask & np.isfinite(np.where(data.use, data.signal, np.nan))
    return model.predict(np.where(use, data.signal, np.nan), use, seed=seed)


def estimate_variables(problem, estimate) -> tuple[np.ndarray, np.ndarray]:
    """Fit variables u (n_vars,) of the estimate's mean and their covariance (n_vars, n_vars).

    The resolution variance fraction (when fitted) starts at 0 with variance 0: the networks
    do not estimate it.
    """
    n_vars = len(problem.bounds)
    u = np.zeros(n_vars)
    u[:problem.n_params] = (estimate.mean - problem.reference) / problem.unit
    samples = (estimate.samples - problem.reference) / problem.unit
    covariance = np.zeros((n_vars, n_vars))
    covariance[:problem.n_params, :problem.n_params] = np.cov(samples, rowvar=False)
    return np.clip(u, *np.asarray(problem.bounds).T), covariance


def amortized_fit(problem, estimate, background: bool):
    """Return a GradientFit of the networks alone: their mean, their spread as the error.

    The scale and background are fitted to the map at the mean; the covariance is the
    latent-sampling covariance of the estimate (Su & Li's uncertainty).
    """
    from inslib.inversion.gradient import finish_fit

    u, covariance = estimate_variables(problem, estimate)
    return replace(finish_fit(problem, u, background, [], 0), covariance_u=covariance)
