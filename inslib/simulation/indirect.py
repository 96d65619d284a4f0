"""1D S(E) of indirect-geometry spectrometers (TOSCA, VISION).

Fixed final energy: each analyser bank sees one |Q|(E) trajectory.
The spectrum is the incoherent approximation with the total cross-section for every order (the
standard treatment of these instruments, OCLIMAX TASK=0): coherent effects average out over the
large |Q| of each trajectory. Energies in meV, S in mbarn/meV per atom.
"""

import numpy as np

from inslib.axes import Axis, energy_axis, parse_binning
from inslib.histogram import Histogram, Log, Metadata
from inslib.instruments.resolution import fwhm_function, resolved_settings
from inslib.logs import MULTIPHONON_ORDER, RESOLUTION_FWHM
from inslib.scattering.binning import FWHM_TO_SIGMA, Resolution
from inslib.simulation.forward import IndirectForward, Multiphonon, Thermal
from inslib.simulation.requests import (
    PowderRequest,
    TemplateRequest,
    model_source,
    powder_temperature,
    require_valid,
    template_instrument,
)
from inslib.simulation.setup import cached_setup, setup_logs
from inslib.units import to_mev

DEFAULT_BINNING = "2,0.5,500"  # meV


def indirect_setting(template: TemplateRequest):
    """Instrument, final energy (meV), energy bin edges (meV) and resolution of a request.

    Returns
    -------
    instrument : Instrument
    efixed : float
    e_edges : numpy.ndarray, shape (n_e + 1,)
    resolution : Resolution
    """
    instrument = template_instrument(template)
    efixed = template.efixed or instrument.final_energy
    e_edges = to_mev(parse_binning(template.e_binning or DEFAULT_BINNING, "EBinning",
                                   template.energy_unit), template.energy_unit)
    fwhm = fwhm_function(instrument, efixed, resolved_settings(instrument, template.settings))
    return instrument, efixed, e_edges, Resolution.of(fwhm, e_edges)


def _fwhm(resolution: Resolution, e_edges: np.ndarray) -> np.ndarray:
    """FWHM (meV) of the resolution at the bin centres, shape (n_e,)."""
    import torch

    centres = torch.as_tensor(0.5 * (e_edges[1:] + e_edges[:-1]))
    return resolution(centres).numpy() / FWHM_TO_SIGMA


def simulate_indirect(request: PowderRequest, progress=None) -> Histogram:
    """S(E) per analyser bank of an indirect-geometry instrument (spectra = banks)."""
    require_valid(request)
    report = progress or (lambda _fraction, _message: None)
    temperature = float(powder_temperature(request))
    setup = cached_setup(*model_source(request), temperature, request.grid, request.device)
    report(0.5, "modes on the grid and DOS")
    result = indirect_histogram(
        setup.model, setup.mesh, request.template, temperature, request.multiphonon_order,
        request.creation_only, source=f"mesh {request.grid}^3, force constants {setup.source}",
        logs=setup_logs(setup))
    report(1.0, "done")
    return result


def indirect_histogram(model, mesh, template: TemplateRequest, temperature: float,
                       multiphonon_order: int, creation_only: bool, source: str,
                       logs: dict) -> Histogram:
    """S(E) per bank from a mesh's partial DOS and Debye-Waller matrices (spectra = banks).

    Parameters
    ----------
    model : PhononModel
        Only its ``crystal`` and ``opts`` are read (so a predicted DOS can stand in).
    mesh : inslib.scattering.mesh.MeshResults
        One set: partial DOS per atom and Debye-Waller matrices.
    template : TemplateRequest
        Instrument, EFixed and EBinning.
    temperature : float
        K.
    multiphonon_order : int
    creation_only : bool
    source : str
        Where the DOS comes from (provenance).
    logs : dict
        Logs of the model, added to the result's.

    Returns
    -------
    Histogram
        mbarn/meV per atom.
    """
    instrument, efixed, e_edges, resolution = indirect_setting(template)
    angles = instrument.banks_deg.mean(axis=1)
    multiphonon = Multiphonon(e_edges, resolution, multiphonon_order, creation_only)
    forward = IndirectForward(model, Thermal(temperature), multiphonon, efixed, angles)
    signal = forward(mesh=mesh)[0].sum(dim=1).cpu().numpy()
    meta = Metadata(
        instrument=instrument.name, emode="Indirect", efixed=efixed, temperature=temperature,
        title=f"Simulated {instrument.name} S(E), {temperature:g} K",
        provenance=[f"SimulatePowderSQE: incoherent approximation, total cross-section, "
                    f"multiphonon order {multiphonon_order} ("
                    f"{'creation only' if creation_only else 'complete'}), {source}"],
        logs={MULTIPHONON_ORDER: Log(float(multiphonon_order)), **logs,
              RESOLUTION_FWHM: Log(_fwhm(resolution, e_edges), "meV")})
    axes = (Axis(angles, "Degrees", "2Theta", is_edges=False), energy_axis(e_edges))
    return Histogram(axes, signal, np.zeros(signal.shape), np.zeros(signal.shape, bool), meta,
                     y_unit_label="mbarn/meV per atom")
