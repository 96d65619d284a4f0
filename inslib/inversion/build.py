"""Build (and cache) the inversion problem of a request: basis, model, forward model, data.

What depends only on the crystal, the shells, the template and the temperature (the parameter
basis, the phonon model of the projected reference, the powder forward model with its sample
points) is cached on content, so a second fit in a live loop starts at once; the measured
values are read afresh on every call.
"""

import hashlib

import numpy as np

from inslib.datagen.engine import detailed_balance
from inslib.instruments.templates import create_sqe_template
from inslib.inversion.indirect import build_indirect_problem
from inslib.inversion.problem import (
    Problem,
    box_thermal,
    elastic_tail,
    energy_limit,
    measurement,
    parameter_bounds,
    reference_parameters,
)
from inslib.inversion.request import (
    InversionRequest,
    inversion_temperature,
    path_request,
)
from inslib.scattering.binning import FWHM_TO_SIGMA
from inslib.simulation.setup import remember

_FORWARDS: dict = {}


def build_problem(request: InversionRequest) -> Problem:
    """Build the fit problem of a validated request (validate_inversion first)."""
    if request.kind == "path":
        from inslib.inversion.path import build_path_problem

        return build_path_problem(path_request(request))
    if request.kind == "indirect":
        return build_indirect_problem(request)
    simulation = request.simulation
    basis, fcs, reference, unit = reference_parameters(
        simulation.force_constants, simulation.structure, simulation.supercell, request.shells)
    bounds = parameter_bounds(basis.names, request)
    template = create_sqe_template(simulation.template)
    key = (fcs.digest(), request.shells, _template_key(template), inversion_temperature(request),
           _settings_key(simulation), float(request.parameter_range), request.chi)
    if key not in _FORWARDS:
        remember(_FORWARDS, key, _forward(request, basis, fcs, reference, unit, bounds,
                                           template))
    measured = request.measured
    errors = None if measured.variance is None else np.sqrt(np.abs(measured.variance))
    centres = template.axes[1].centres
    data = measurement(measured.signal, errors, ~template.mask, centres, request.e_min,
                       energy_limit(request.e_max, template.metadata.ei))
    model, forward, sigma = _FORWARDS[key]
    tail = None
    if request.elastic_tail:  # FWHM of the model's resolution at E = 0
        fwhm = float(np.interp(0.0, centres, sigma)) / FWHM_TO_SIGMA
        tail = elastic_tail(template.shape, centres, fwhm)
    return Problem(basis, reference, unit, bounds, model, forward, data, template.mask, centres,
                   sigma if request.fit_resolution else None, tail)


def _forward(request, basis, fcs, reference, unit, bounds, template):
    """Phonon model and powder forward model of the request's template.

    Returns
    -------
    model : PhononModel
    forward : callable
        fc torch (n_sets, n_cells, 3N, 3N) -> unmasked maps torch (n_sets, n_q, n_e):
        S(|Q|,E), or chi''(|Q|,E) = S x (1 - exp(-E/kT)) for a chi'' measurement.
    sigma : numpy.ndarray, shape (n_e,)
        The model's energy resolution (Gaussian sigma) at the bin centres, meV.
    """
    import torch

    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.simulation.powder import powder_forward

    model = PhononModel(basis.force_constants(reference, like=to_primitive(fcs)))
    temperature = inversion_temperature(request)
    forward = powder_forward(request.simulation, template, model, temperature)
    wide = np.array([[-request.parameter_range, request.parameter_range]] * len(reference))
    forward.thermal = box_thermal(model, basis, reference, unit, wide, temperature,
                                  request.simulation.grid)
    forward.mask = np.zeros_like(template.mask)  # masked after any extra broadening
    centres = torch.as_tensor(template.axes[1].centres, dtype=torch.float64)
    sigma = forward.multiphonon.resolution(centres).numpy()
    if not request.chi:
        return model, (lambda fc: forward(fc).signal), sigma
    factor = torch.as_tensor(detailed_balance(template.axes[1].edges, temperature))
    return model, (lambda fc: forward(fc).signal * factor), sigma


def _settings_key(simulation) -> tuple:
    """Everything of the simulation settings but the measured values."""
    t = simulation.template
    return (t.instrument, t.ei, t.efixed, repr(sorted(t.settings.items())), simulation.grid,
            repr(simulation.sampling), simulation.multiphonon_order, simulation.creation_only,
            simulation.coherent, simulation.incoherent, simulation.q_resolution,
            simulation.device)


def _template_key(template) -> str:
    digest = hashlib.sha256()
    for axis in template.axes:
        digest.update(np.ascontiguousarray(axis.edges, float).tobytes())
    digest.update(np.ascontiguousarray(template.mask).tobytes())
    return digest.hexdigest()
