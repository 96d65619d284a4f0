"""Empty S(|Q|,E) grids with kinematic coverage and resolution: CreateSQETemplate's core.

A template is the grid every simulation and prediction accepts: bin edges, the mask of bins
the instrument cannot reach (or that a measured workspace does not cover), the energy
resolution FWHM per energy bin (log "ResolutionFWHM", meV) and the experiment metadata.
"""

from dataclasses import dataclass, field

import numpy as np

from inslib.axes import energy_axis, parse_binning, q_axis
from inslib.histogram import Histogram, Log, Metadata
from inslib.instruments import Instrument, InstrumentFileError, load_instrument
from inslib.instruments.kinematics import coverage, q_limits
from inslib.instruments.resolution import resolution_fwhm, resolved_settings
from inslib.io.plot import RESOLUTION_LOG
from inslib.units import to_mev

_DEFAULT_Q_STEP = 0.05  # 1/Angstrom
_DEFAULT_E_BINS = 200
_INDIRECT_E_RANGE = (-2.0, 500.0)  # meV, TOSCA/VISION's usual energy-transfer window


@dataclass
class TemplateRequest:
    """What CreateSQETemplate was asked for (property names in the comments).

    Parameters
    ----------
    instrument : str
        Instrument name (Instrument); taken from ``template`` when empty.
    ei : float or None
        Incident energy in meV (Ei), direct geometry; from ``template`` when None.
    efixed : float or None
        Final energy in meV (EFixed), indirect geometry; the instrument's when None.
    q_binning, e_binning : str
        "start,step,end" (QBinning in 1/Angstrom, EBinning in ``energy_unit``); "" = default.
    energy_unit : str
        Unit of EBinning: "meV", "cm^-1" or "THz".
    settings : dict
        Algorithm property -> value for instrument settings (ChopperPackage...).
    temperature : float or None
        Sample temperature in K (Temperature).
    template : Histogram or None
        Measured workspace giving bins, mask and metadata (InputWorkspace).
    """

    instrument: str = ""
    ei: float | None = None
    efixed: float | None = None
    q_binning: str = ""
    e_binning: str = ""
    energy_unit: str = "meV"
    settings: dict = field(default_factory=dict)
    temperature: float | None = None
    template: Histogram | None = None


def _instrument(request: TemplateRequest) -> Instrument:
    name = request.instrument or (request.template.metadata.instrument if request.template else "")
    if not name:
        msg = "no instrument given and the InputWorkspace records none"
        raise ValueError(msg)
    return load_instrument(name)


def _fixed_energy(request, instrument) -> float:
    if instrument.geometry == "indirect":
        return request.efixed or instrument.final_energy
    ei = request.ei or (request.template.metadata.ei if request.template else None)
    if not ei:
        msg = "Ei is required for a direct-geometry instrument"
        raise ValueError(msg)
    return ei


def validate_request(request: TemplateRequest) -> dict:
    """Check a request; return {property name: message} for everything wrong.

    Parameters
    ----------
    request : TemplateRequest
        The request.

    Returns
    -------
    dict
        Empty when the request can be run.
    """
    try:
        instrument = _instrument(request)
    except (ValueError, InstrumentFileError) as err:
        return {"Instrument": str(err)}
    errors = _check_energy(request, instrument)
    if errors:
        return errors
    try:
        resolved_settings(instrument, request.settings)
    except ValueError as err:
        errors["ChopperFrequency"] = str(err)
    if request.template is not None:
        errors.update(_check_template(request.template))
    else:
        errors.update(_check_binning(request, instrument))
    return errors


def _check_energy(request, instrument) -> dict:
    if instrument.geometry == "indirect":
        if request.ei:
            return {"Ei": f"{instrument.name} is an indirect-geometry instrument: set EFixed "
                          f"(default {instrument.final_energy} meV), not Ei."}
        return {}
    try:
        ei = _fixed_energy(request, instrument)
    except ValueError:
        return {"Ei": f"Ei is required for {instrument.name} (direct geometry), in meV, "
                      "unless the InputWorkspace has an Ei log."}
    low, high = instrument.incident_energy_range
    if not low <= ei <= high:
        return {"Ei": f"Ei={ei:g} meV is outside {instrument.name}'s incident-energy range "
                      f"{low:g}-{high:g} meV."}
    return {}


def _check_template(template: Histogram) -> dict:
    units = [axis.unit for axis in template.axes]
    if units != ["MomentumTransfer", "DeltaE"]:
        return {"InputWorkspace": f"the workspace axes are in {units}; a powder S(|Q|,E) "
                                  "needs |Q| (MomentumTransfer) vertical and DeltaE along X, "
                                  "as SofQW produces."}
    return {}


def _check_binning(request, instrument) -> dict:
    errors = {}
    try:
        e_edges = _energy_edges(request, instrument)
        fixed = _fixed_energy(request, instrument)
        if instrument.geometry == "direct" and e_edges[-1] >= fixed:
            errors["EBinning"] = (f"the energy range ends at {e_edges[-1]:g} meV, at or above "
                                  f"Ei={fixed:g} meV: a neutron cannot lose more than Ei; end "
                                  f"EBinning below {fixed:g}.")
        if instrument.geometry == "indirect" and e_edges[0] <= -fixed:
            errors["EBinning"] = (f"the energy range starts at {e_edges[0]:g} meV, at or below "
                                  f"-EFixed={-fixed:g} meV; start EBinning above {-fixed:g}.")
    except ValueError as err:
        errors["EBinning"] = str(err)
    try:
        if request.q_binning:
            parse_binning(request.q_binning, "QBinning", "1/Angstrom")
    except ValueError as err:
        errors["QBinning"] = str(err)
    return errors


def _energy_edges(request, instrument) -> np.ndarray:
    if request.e_binning:
        edges = parse_binning(request.e_binning, "EBinning", request.energy_unit)
        return to_mev(edges, request.energy_unit)
    fixed = _fixed_energy(request, instrument)
    low, high = ((-0.25 * fixed, 0.95 * fixed) if instrument.geometry == "direct"
                 else _INDIRECT_E_RANGE)
    step = float(f"{(high - low) / _DEFAULT_E_BINS:.1g}")
    return parse_binning(f"{low:g},{step:g},{high:g}")


def _q_edges(request, instrument, e_edges) -> np.ndarray:
    if request.q_binning:
        return parse_binning(request.q_binning, "QBinning", "1/Angstrom")
    fixed = _fixed_energy(request, instrument)
    _, q_max = q_limits(e_edges, fixed, instrument.geometry, instrument.banks_deg)
    return parse_binning(f"0,{_DEFAULT_Q_STEP},{np.ceil(np.nanmax(q_max))}")


def create_sqe_template(request: TemplateRequest, progress=None) -> Histogram:
    """Build the empty S(|Q|,E) template for a request.

    Parameters
    ----------
    request : TemplateRequest
        A request that :func:`validate_request` accepts.
    progress : callable, optional
        Called with a message after each stage.

    Returns
    -------
    Histogram
        Axes (|Q| in 1/Angstrom, DeltaE in meV), zero signal and variance, mask True where
        not covered, log "ResolutionFWHM" (meV per energy bin, NaN where E >= Ei).
    """
    errors = validate_request(request)
    if errors:
        raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))
    instrument = _instrument(request)
    report = progress or (lambda _message: None)
    fixed = _fixed_energy(request, instrument)
    if request.template is not None:
        axes, mask = request.template.axes, request.template.mask.copy()
    else:
        e_edges = _energy_edges(request, instrument)
        q_edges = _q_edges(request, instrument, e_edges)
        axes = (q_axis(q_edges), energy_axis(e_edges))
        mask = ~coverage(q_edges, e_edges, fixed, instrument.geometry, instrument.banks_deg)
    report("kinematic coverage")
    settings = resolved_settings(instrument, request.settings)
    fwhm = resolution_fwhm(instrument, axes[1].centres, ei=fixed, settings=settings)
    report("energy resolution")
    metadata = _metadata(request, instrument, fixed, settings, fwhm)
    return Histogram(axes, np.where(mask, np.nan, 0.0), np.zeros(mask.shape), mask, metadata)


def _metadata(request, instrument, fixed, settings, fwhm) -> Metadata:
    base = request.template.metadata if request.template is not None else Metadata()
    direct = instrument.geometry == "direct"
    logs = dict(base.logs)
    logs[RESOLUTION_LOG] = Log(fwhm, "meV")
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
                    f"{fixed:g} meV, {description}; instrument file {instrument.source}"],
        logs=logs,
    )
