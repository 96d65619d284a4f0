"""The inversion problem of a measured indirect-geometry S(E) (TOSCA, VISION).

The measured workspace holds either one spectrum (the analyser banks summed, the usual reduced
TOSCA/VISION output; the model is then the mean over the banks, the fit's scale taking the
normalisation) or one spectrum per analyser bank of the instrument, with energy transfer along X
in meV. The forward model is the simulation's own :class:`~inslib.simulation.forward.
IndirectForward` (incoherent approximation with the total cross-section, every multiphonon
order, Debye-Waller on each bank's |Q|(E) trajectory) on the measured energy bins with the
instrument's resolution: no physics of its own.
"""

import hashlib

import numpy as np

from inslib.inversion.problem import (
    Problem,
    box_thermal,
    energy_limit,
    measurement,
    parameter_bounds,
    reference_parameters,
)
from inslib.simulation.setup import remember

_FORWARDS: dict = {}


def indirect_instrument(request):
    """Instrument of an InversionRequest (its own, else the workspace's); None if unknown."""
    from inslib.instruments import InstrumentFileError
    from inslib.simulation.requests import template_instrument

    try:
        return template_instrument(request.simulation.template)
    except (ValueError, InstrumentFileError):
        return None


def is_indirect(request) -> bool:
    """Tell an indirect-geometry S(E): the instrument or the workspace's mode is indirect."""
    if request.measured is None:
        return False
    if request.measured.metadata.emode == "Indirect":
        return True
    instrument = indirect_instrument(request)
    return instrument is not None and instrument.geometry == "indirect"


def final_energy(request, instrument) -> float:
    """Return the final energy (meV): EFixed, else the workspace's, else the instrument's."""
    return float(request.simulation.template.efixed or request.measured.metadata.efixed
                 or instrument.final_energy)


def indirect_errors(request) -> dict:
    """Check the instrument, spectra and settings of an indirect S(E) inversion.

    Returns
    -------
    dict
        {property: message}; empty when it can run.
    """
    from inslib.simulation.requests import file_errors, powder_temperature, temperature_errors

    simulation = request.simulation
    errors = file_errors(simulation.force_constants, simulation.structure, simulation.supercell)
    errors |= temperature_errors(powder_temperature(simulation), required=True)
    errors |= _setting_errors(request)
    instrument = indirect_instrument(request)
    if instrument is None or instrument.geometry != "indirect":
        name = instrument.name if instrument is not None else "none"
        return errors | {"Instrument": f"{name}: an indirect S(E) needs an indirect-geometry "
                                       "instrument (TOSCA or VISION) for its final energy, "
                                       "banks and resolution: give Instrument"}
    if simulation.template.ei:
        errors["Ei"] = (f"Ei={simulation.template.ei:g}: {instrument.name} is an indirect-"
                        "geometry instrument (fixed final energy): leave Ei at 0")
    n_spectra, n_banks = request.measured.signal.shape[0], len(instrument.banks_deg)
    if n_spectra not in (1, n_banks):
        errors["InputWorkspace"] = (
            f"{n_spectra} spectra: an indirect S(E) of {instrument.name} is one spectrum (banks "
            f"summed) or one per analyser bank ({n_banks}): sum or group the spectra first")
    return errors


def _setting_errors(request) -> dict:
    """Fit settings that have no meaning for a 1D S(E)."""
    errors = {}
    if request.chi:
        errors["SpectrumType"] = "ChiPrime2 is for direct-geometry powder maps: give S(E)"
    if request.elastic_tail:
        errors["FitElasticTail"] = "for direct-geometry powder maps only: EMin cuts the " \
                                   "elastic line of an indirect S(E)"
    if request.simulation.multiphonon_order < 1:
        errors["MultiphononOrder"] = f"must be >= 1, got {request.simulation.multiphonon_order}"
    if request.simulation.grid < 2:
        errors["MeshSize"] = f"must be >= 2, got {request.simulation.grid}"
    return errors


def build_indirect_problem(request) -> Problem:
    """Build the fit problem of a validated indirect S(E) request (forward model cached)."""
    from inslib.simulation.requests import powder_temperature

    simulation, measured = request.simulation, request.measured
    instrument = indirect_instrument(request)
    basis, fcs, reference, unit = reference_parameters(
        simulation.force_constants, simulation.structure, simulation.supercell, request.shells)
    edges = measured.axes[-1].edges
    temperature = float(powder_temperature(simulation))
    setting = (instrument.name, final_energy(request, instrument),
               repr(sorted(simulation.template.settings.items())))
    key = (fcs.digest(), request.shells, setting, _edges_key(edges), measured.signal.shape[0],
           temperature, simulation.grid, simulation.multiphonon_order,
           simulation.creation_only, float(request.parameter_range))
    if key not in _FORWARDS:
        remember(_FORWARDS, key, _forward(request, instrument, basis, fcs, reference, unit,
                                           temperature))
    model, forward, sigma = _FORWARDS[key]
    centres = measured.axes[-1].centres
    errors = None if measured.variance is None else np.sqrt(np.abs(measured.variance))
    mask = np.zeros(measured.signal.shape, bool)
    data = measurement(measured.signal, errors, ~measured.mask, centres, request.e_min,
                       energy_limit(request.e_max, None))
    return Problem(basis, reference, unit, parameter_bounds(basis.names, request), model,
                   forward, data, mask, centres, sigma if request.fit_resolution else None)


def _forward(request, instrument, basis, fcs, reference, unit, temperature):
    """Phonon model of the projected reference and the indirect forward model.

    Returns
    -------
    model : PhononModel
    forward : callable
        fc torch (n_sets, n_cells, 3N, 3N) -> spectra torch (n_sets, n_spectra, n_e), orders
        summed, mbarn/meV per atom (the mean over the banks for one measured spectrum).
    sigma : numpy.ndarray, shape (n_e,)
        The model's energy resolution (Gaussian sigma) at the bin centres, meV.
    """
    import torch

    from inslib.instruments.resolution import fwhm_function, resolved_settings
    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.binning import Resolution
    from inslib.simulation.forward import IndirectForward, Multiphonon

    simulation, measured = request.simulation, request.measured
    efixed = final_energy(request, instrument)
    edges = measured.axes[-1].edges
    fwhm = fwhm_function(instrument, efixed,
                         resolved_settings(instrument, simulation.template.settings))
    multiphonon = Multiphonon(edges, Resolution.of(fwhm, edges), simulation.multiphonon_order,
                              simulation.creation_only)
    model = PhononModel(basis.force_constants(reference, like=to_primitive(fcs)))
    wide = np.array([[-request.parameter_range, request.parameter_range]] * len(reference))
    thermal = box_thermal(model, basis, reference, unit, wide, temperature, simulation.grid)
    forward = IndirectForward(model, thermal, multiphonon, efixed,
                              instrument.banks_deg.mean(axis=1))
    sigma = multiphonon.resolution(torch.as_tensor(measured.axes[-1].centres)).numpy()
    summed = measured.signal.shape[0] == 1

    def spectra(fc):
        banks = forward(fc).sum(dim=2)  # (n_sets, n_banks, n_e)
        return banks.mean(dim=1, keepdim=True) if summed else banks

    return model, spectra, sigma


def _edges_key(edges: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(edges, float).tobytes()).hexdigest()
