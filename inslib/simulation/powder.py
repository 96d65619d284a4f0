"""Powder simulations on instrument templates: what SimulatePowderSQE runs.

The result has the template's bins, mask and metadata (a measured workspace or an instrument
setting), energy resolution from the instrument model and the Bose factor at the temperature.

Terms: ``coherent`` = coherent one-phonon S(Q,E) powder-averaged from the modes; ``incoherent``
= incoherent one-phonon (incoherent cross-sections) plus multiphonon orders 2..N in the
incoherent approximation with the total cross-section. With ``coherent`` off, the cheaper
incoherent approximation uses the total cross-section for every order (OCLIMAX TASK=0).
"""

from pathlib import Path

import numpy as np

from inslib.histogram import Histogram, Log
from inslib.instruments import load_instrument
from inslib.instruments.resolution import fwhm_function, resolved_settings
from inslib.instruments.templates import create_sqe_template
from inslib.logs import LOWEST_MODE_ENERGY, MULTIPHONON_ORDER, POWDER_CONVERGENCE
from inslib.scattering.binning import Resolution
from inslib.scattering.powder import convergence
from inslib.simulation.errors import SimulationError
from inslib.simulation.forward import Multiphonon, PowderForward, Thermal
from inslib.simulation.indirect import simulate_indirect
from inslib.simulation.requests import (
    PowderRequest,
    model_source,
    powder_temperature,
    require_valid,
    template_instrument,
)
from inslib.simulation.setup import cached_setup, setup_logs


def simulate_powder(request: PowderRequest, progress=None) -> Histogram:
    """S(|Q|, E) of a powder on the template of ``request.template``.

    Returns
    -------
    Histogram
        Signal in mbarn/meV per atom (bin averages), NaN where masked; logs record the terms,
        temperature, imaginary modes and the powder-average convergence estimate.
    """
    require_valid(request)
    report = progress or (lambda _fraction, _message: None)
    temperature = float(powder_temperature(request))
    template = covered_template(request)
    setup = cached_setup(*model_source(request), temperature, request.grid, request.device)
    report(0.1, "modes on the grid, Debye-Waller, DOS")
    logs = setup_logs(setup)
    # most negative (imaginary) mode energy; 0 when every mode is real
    logs[LOWEST_MODE_ENERGY] = Log(min(float(setup.mesh.lowest[0]), 0.0), "meV")
    result = powder_from_mesh(request, template, setup.model, setup.mesh,
                              f"mesh {request.grid}^3, force constants {setup.source}", logs,
                              lambda f: report(0.1 + 0.8 * f, "coherent powder average"))
    report(1.0, "done")
    return result


def covered_template(request: PowderRequest) -> Histogram:
    """Return the request's (|Q|, E) template; SimulationError when no bin is reachable."""
    template = create_sqe_template(request.template)
    if template.mask.all():
        q, e = template.axes[0].edges, template.axes[1].edges
        msg = (f"QBinning/EBinning: no (|Q|, E) bin of |Q| {q[0]:g}-{q[-1]:g} 1/A, E "
               f"{e[0]:g}-{e[-1]:g} meV is reachable on {template.metadata.instrument} at this "
               "setting; choose bins inside the kinematic range (CreateSQETemplate shows it)")
        raise SimulationError(msg)
    return template


def powder_from_mesh(request: PowderRequest, template: Histogram, model, mesh, source: str,
                     logs: dict, progress=None) -> Histogram:
    """Compute the powder map of a model and its mesh results on a template (a histogram).

    Parameters
    ----------
    request : PowderRequest
        Terms, multiphonon order, sampling, temperature.
    template : Histogram
        :func:`covered_template`'s result.
    model : PhononModel
        Only ``crystal`` and ``opts`` are read when ``request.coherent`` is off.
    mesh : inslib.scattering.mesh.MeshResults
        One set.
    source : str
        Where the model comes from (provenance).
    logs : dict
        Logs of the model.
    progress : callable, optional
        progress(fraction) of the coherent powder average.
    """
    temperature = float(powder_temperature(request))
    forward = powder_forward(request, template, model, temperature)
    result = forward(mesh=mesh, progress=progress)
    logs = dict(logs)
    if result.halves is not None:
        halves = result.halves[0].cpu().numpy()
        logs[POWDER_CONVERGENCE] = Log(float(convergence(halves, template.mask)))
    return powder_histogram(template, result.signal[0].cpu().numpy(), request, temperature,
                            source, logs)


def powder_forward(request: PowderRequest, template: Histogram, model,
                   temperature: float) -> PowderForward:
    """Build the differentiable powder model of a request on its template (bins, mask, resolution).

    Parameters
    ----------
    template : Histogram
        :func:`create_sqe_template`'s result for ``request.template``.
    model : PhononModel
    temperature : float
        K.
    """
    q_edges, e_edges = template.axes[0].edges, template.axes[1].edges
    multiphonon = Multiphonon(e_edges, template_resolution(request.template, template),
                              request.multiphonon_order, request.creation_only)
    return PowderForward(model, q_edges, template.mask, Thermal(temperature, request.grid),
                         multiphonon, request.coherent, request.incoherent, request.sampling,
                         request.q_resolution)


def template_resolution(template_request, template: Histogram) -> Resolution:
    """Energy resolution sigma(E) of a template's instrument setting over its energy range."""
    instrument = load_instrument(template.metadata.instrument)
    settings = resolved_settings(instrument, template_request.settings)
    fixed = template.metadata.ei or template.metadata.efixed
    return Resolution.of(fwhm_function(instrument, fixed, settings), template.axes[1].edges)


def run_powder(request: PowderRequest, progress=None) -> Histogram:
    """Run the simulation the instrument calls for: a map (direct) or S(E) per bank (indirect)."""
    require_valid(request)
    if template_instrument(request.template).geometry == "indirect":
        return simulate_indirect(request, progress)
    return simulate_powder(request, progress)


def _mode(request) -> str:
    return "creation only" if request.creation_only else "complete"


def powder_histogram(template: Histogram, signal: np.ndarray, request: PowderRequest,
                     temperature: float, source: str, logs: dict) -> Histogram:
    """Return a powder map (signal (n_q, n_e), mbarn/meV per atom) on its template.

    NaN where the template is masked; the template's metadata gain the temperature (K),
    title, provenance and ``logs``.
    """
    meta = template.metadata
    meta.temperature = temperature
    terms = [name for name, on in (("coherent", request.coherent),
                                   ("incoherent", request.incoherent)) if on]
    meta.title = f"Simulated S(|Q|,E): {Path(request.force_constants).name}, {temperature:g} K"
    meta.provenance = [*meta.provenance,
                       f"SimulatePowderSQE: {' + '.join(terms)}, multiphonon order "
                       f"{request.multiphonon_order} ({_mode(request)}), {source}"]
    meta.logs.update(logs)
    meta.logs[MULTIPHONON_ORDER] = Log(float(request.multiphonon_order))
    signal = np.where(template.mask, np.nan, signal)
    return Histogram(template.axes, signal, np.zeros(signal.shape), template.mask.copy(), meta,
                     y_unit_label="mbarn/meV per atom")
