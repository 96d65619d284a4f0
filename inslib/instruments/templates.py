"""Empty S(|Q|,E) grids with kinematic coverage and resolution: CreateSQETemplate's core.

A template is the grid every simulation and prediction accepts: bin edges, the mask of bins
the instrument cannot reach (or that a measured workspace does not cover), the energy
resolution FWHM per energy bin (log "ResolutionFWHM", meV) and the experiment metadata.
"""

import logging
from pathlib import Path

import numpy as np

from inslib.axes import energy_axis, parse_binning, q_axis
from inslib.histogram import Histogram, Log, Metadata
from inslib.instruments.kinematics import coverage, q_limits
from inslib.instruments.resolution import (
    resolution_fwhm,
    resolved_settings,
    transmission_note,
    transmitting_settings,
    width_factor,
)
from inslib.logs import RESOLUTION_FWHM, RESOLUTION_WIDTH_FACTOR
from inslib.simulation.requests import (
    TemplateRequest,
    energy_edges,
    fixed_energy,
    require_valid,
    template_instrument,
)

DEFAULT_Q_STEP = 0.05  # 1/Angstrom
LOGGER = logging.getLogger(__name__)


def _q_edges(request, instrument, e_edges) -> np.ndarray:
    if request.q_binning:
        return parse_binning(request.q_binning, "QBinning", "1/Angstrom")
    fixed = fixed_energy(request, instrument)
    _, q_max = q_limits(e_edges, fixed, instrument.geometry, instrument.banks_deg)
    return parse_binning(f"0,{DEFAULT_Q_STEP},{np.ceil(np.nanmax(q_max))}")


def create_sqe_template(request: TemplateRequest, progress=None) -> Histogram:
    """Build the empty S(|Q|,E) template for a request.

    Parameters
    ----------
    request : TemplateRequest
        A request that :func:`inslib.simulation.requests.validate_template` accepts (checked
        here once, unless already checked).
    progress : callable, optional
        Called with a message after each stage.

    Returns
    -------
    Histogram
        Axes (|Q| in 1/Angstrom, DeltaE in meV), zero signal and variance, mask True where
        not covered, log "ResolutionFWHM" (meV per energy bin, NaN where E >= Ei), a log per
        instrument setting. Where the chopper settings the user left empty transmit nothing
        at Ei, the nearest setting that does is taken
        (:func:`inslib.instruments.resolution.transmitting_settings`): logged as a warning and
        in the provenance.
    """
    require_valid(request)
    instrument = template_instrument(request)
    report = progress or (lambda _message: None)
    fixed = fixed_energy(request, instrument)
    if request.template is not None:
        axes, mask = request.template.axes, request.template.mask.copy()
    else:
        e_edges = energy_edges(request, instrument)
        q_edges = _q_edges(request, instrument, e_edges)
        axes = (q_axis(q_edges), energy_axis(e_edges))
        mask = ~coverage(q_edges, e_edges, fixed, instrument.geometry, instrument.banks_deg)
    report("kinematic coverage")
    defaults = resolved_settings(instrument, request.settings)
    settings = transmitting_settings(instrument, fixed, defaults)
    fwhm = resolution_fwhm(instrument, axes[1].centres, ei=fixed, settings=settings)
    report("energy resolution")
    metadata = _metadata(request, instrument, fixed, settings, fwhm)
    if settings != defaults:
        note = transmission_note(instrument, fixed, defaults, settings)
        LOGGER.warning(note)
        metadata.provenance.append(note)
    return Histogram(axes, np.where(mask, np.nan, 0.0), np.zeros(mask.shape), mask, metadata)


def _metadata(request, instrument, fixed, settings, fwhm) -> Metadata:
    base = request.template.metadata if request.template is not None else Metadata()
    direct = instrument.geometry == "direct"
    logs = dict(base.logs)
    logs[RESOLUTION_FWHM] = Log(fwhm, "meV")
    logs[RESOLUTION_WIDTH_FACTOR] = Log(width_factor(instrument, fixed, settings))
    logs.update({name: Log(value) if isinstance(value, str) else Log(float(value), "Hz")
                 for name, value in settings.items()})
    description = ", ".join(f"{k}={v}" for k, v in settings.items())
    return Metadata(
        instrument=instrument.name, emode="Direct" if direct else "Indirect",
        ei=fixed if direct else None, efixed=None if direct else fixed,
        temperature=request.temperature if request.temperature is not None else base.temperature,
        lattice=base.lattice, ub=base.ub, w_matrix=base.w_matrix,
        title=f"{instrument.name} S(|Q|,E) template, {'Ei' if direct else 'Ef'}={fixed:g} meV",
        provenance=[*base.provenance,
                    f"CreateSQETemplate: {instrument.name}, {'Ei' if direct else 'EFixed'}="
                    f"{fixed:g} meV, {description}; instrument {instrument.name} from "
                    f"{Path(instrument.source).name}"],
        logs=logs,
    )
