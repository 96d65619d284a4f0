"""What InvertForceConstants is asked for, and its one validation.

The simulation settings are a :class:`~inslib.simulation.requests.PowderRequest` (the same
vocabulary and checks as SimulatePowderSQE: the measured workspace is its template); the
inversion adds the parameters to fit, the method and the fit settings. Every message names the
property, the bad value and what is valid.
"""

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from inslib.inversion.indirect import indirect_errors, is_indirect
from inslib.inversion.problem import is_path_map
from inslib.simulation.requests import (
    PowderRequest,
    file_errors,
    powder_temperature,
    validate_powder,
)

METHODS = ("Hybrid", "Gradient", "Amortized")
ERROR_MODELS = ("Data", "Poisson")
MAX_STARTS = 50
TEMPERATURE_TOLERANCE = 5.0  # K: a Temperature further than this from the workspace's log
MAX_SHELLS = 10
MAP_UNITS = ("MomentumTransfer", "Path")  # spectrum axes of an invertible map


@dataclass(frozen=True)
class InversionRequest:
    """An inversion (property names in the comments).

    Parameters
    ----------
    simulation : PowderRequest
        Force constants (ForceConstantsFile, StructureFile), the measured workspace as the
        template (InputWorkspace) and the simulation settings.
    shells : int
        Neighbour shells of force-constant parameters (Shells).
    parameters : tuple of str
        Names of the parameters to fit (FittedParameters); empty = all; the others stay at
        the reference.
    method : str
        Hybrid, Gradient or Amortized (Method).
    starts : int
        Most gradient starts (Starts).
    e_min : float
        Energy cut, meV (EMin): bins at or below it are not fitted.
    e_max : float or None
        Top of the fitted range, meV (EMax); None = 0.95 Ei, the edge of the templates' default
        range (final energies near 0 carry reduction artefacts).
    parameter_range : float
        Bounds of each parameter: reference +- this fraction of it (ParameterRange).
    background : bool
        Fit a flat background with the scale (FitBackground).
    elastic_tail : bool
        Fit the amplitude of a Lorentzian elastic-line tail, 1 / (1 + (2E / FWHM)^2) with the
        instrument's elastic FWHM, with the scale and background (FitElasticTail).
    chi : bool
        The measurement is the dynamic susceptibility chi''(|Q|,E) = S(|Q|,E) (1 - exp(-E/kT))
        (SpectrumType=ChiPrime2, as Su & Li's published maps), not S(|Q|,E).
    fit_resolution : bool
        Fit a factor (1-1.41) on the model's energy-resolution width (FitResolution).
    error_model : str
        ErrorModel: "Data" (the workspace's errors are the weights) or "Poisson" (refit with
        the fitted model's Poisson variance, :mod:`inslib.inversion.weights`).
    seed : int
        Seed of the random starts (Seed).
    initial : tuple of (str, float)
        Start values of the parameters, eV/Angstrom^2, by name (InitialParameterTable: a
        previous fit's table, e.g. the last chunk's in a live loop); empty = the reference.
    path, zones, time_reversal : str, str, bool
        For a q-path map (FoldBrillouinZone's output): the fold's QPath, Zones and
        TimeReversal (:class:`inslib.inversion.path.PathRequest`).
    energy_resolution : float
        EnergyResolution of a q-path map: FWHM, meV; 0 = the workspace's instrument and Ei.
    samples : int
        Model q-points per path bin, segment image and zone (SamplesPerBin).
    model_file : str
        AmortizedModel: a trained model's .pt file ("" = the cache's, by content key).
    """

    simulation: PowderRequest
    shells: int = 2
    parameters: tuple = ()
    method: str = "Hybrid"
    starts: int = 3
    e_min: float = 8.0
    e_max: float | None = None
    parameter_range: float = 0.5
    background: bool = True
    elastic_tail: bool = False
    chi: bool = False
    fit_resolution: bool = False
    error_model: str = "Data"
    seed: int = 0
    initial: tuple = ()
    path: str = "auto"
    zones: str = ""
    energy_resolution: float = 0.0
    time_reversal: bool = True
    samples: int = 4
    model_file: str = ""
    _errors: dict = field(default=None, compare=False, repr=False)

    @property
    def measured(self):
        """The measured Histogram (the template's workspace)."""
        return self.simulation.template.template

    @functools.cached_property
    def kind(self) -> str:
        """What the measured workspace is: "path" (q-path map), "indirect" (S(E)) or "powder"."""
        if is_path_map(self.measured):
            return "path"
        return "indirect" if is_indirect(self) else "powder"


def validate_inversion(request: InversionRequest) -> dict:
    """Check an inversion request once; return {property: message} for everything wrong."""
    if request._errors is None:
        object.__setattr__(request, "_errors", _check(request))
    return request._errors


def _check(request: InversionRequest) -> dict:
    errors = _settings_errors(request)
    if request.measured is None:
        return errors | {"InputWorkspace": "give the measured S(|Q|,E) to invert (a Workspace2D "
                                           "with |Q| and energy-transfer axes)"}
    errors |= _workspace_errors(request.measured, request.kind == "indirect")
    errors |= _error_model_errors(request)
    errors |= _temperature_errors(request)
    if request.kind == "path":
        errors |= _path_errors(request)
    elif request.kind == "indirect":
        errors |= indirect_errors(request)
    else:
        errors |= validate_powder(request.simulation)
    if not {"ForceConstantsFile", "StructureFile", "SupercellMatrix"} & set(errors):
        errors |= _parameter_errors(request)
    if not errors and request.method != "Gradient":
        errors |= _model_errors(request)
    return errors


def _model_errors(request: InversionRequest) -> dict:
    """Check a given model file against the request; Amortized needs a model."""
    from inslib.inversion.amortized import AmortizedModelError
    from inslib.inversion.start import trained_model

    if request.kind != "powder":
        if request.method == "Amortized":
            return {"Method": "Amortized is for direct-geometry powder maps: use Gradient for "
                              "a q-path map or an indirect S(E)"}
        return {}
    try:
        model = trained_model(request)
    except (ValueError, OSError, AmortizedModelError) as error:
        return {"AmortizedModel": str(error)}
    if model is None and request.method == "Amortized":
        return {"Method": "Amortized: no model is trained for this crystal, shells, template "
                          "and temperature: train one with `inslib train-inversion CONFIG` "
                          "(docs/amortized.md) and give it as AmortizedModel, or use Hybrid "
                          "or Gradient"}
    return {}


def _settings_errors(request: InversionRequest) -> dict:
    errors = {}
    if request.method not in METHODS:
        errors["Method"] = f"{request.method!r} is not a method: give one of {', '.join(METHODS)}"
    if request.error_model not in ERROR_MODELS:
        errors["ErrorModel"] = (f"{request.error_model!r} is not an error model: give one of "
                                f"{', '.join(ERROR_MODELS)}")
    if not 1 <= request.starts <= MAX_STARTS:
        errors["Starts"] = f"must be 1-{MAX_STARTS}, got {request.starts}"
    if not 0 < request.parameter_range < 1 or math.isnan(request.parameter_range):
        errors["ParameterRange"] = (f"must be in (0, 1) (bounds reference x (1 +- range)), got "
                                    f"{request.parameter_range}")
    if not 1 <= request.shells <= MAX_SHELLS:
        errors["Shells"] = f"must be 1-{MAX_SHELLS}, got {request.shells}"
    if not math.isfinite(request.e_min):
        errors["EMin"] = f"must be a finite energy in meV, got {request.e_min}"
    elif request.e_max is not None and not request.e_max > request.e_min:
        errors["EMax"] = (f"{request.e_max} meV is not above EMin = {request.e_min} meV: give "
                          "EMax > EMin, or leave it empty for 0.95 Ei")
    return errors


def _workspace_errors(measured, indirect: bool) -> dict:
    """Require an energy axis, finite non-zero values and non-negative errors."""
    axes = measured.axes
    if len(axes) != 2 or axes[1].unit != "DeltaE" or not (indirect or axes[0].unit in MAP_UNITS):
        units = [a.unit for a in axes]
        return {"InputWorkspace": f"axes {units}: need (|Q| or q-path distance, energy transfer "
                                  "DeltaE in meV): a powder S(|Q|,E) such as SofQW's output, "
                                  "FoldBrillouinZone's q-path map, or with an indirect-geometry "
                                  "Instrument (TOSCA, VISION) the S(E) spectra"}
    signal = np.where(measured.mask, np.nan, measured.signal)
    finite = np.isfinite(signal)
    if not finite.any():
        return {"InputWorkspace": "every value is NaN or masked: nothing to fit"}
    if not np.any(signal[finite] != 0):
        return {"InputWorkspace": "every value is 0: no measured intensity to fit"}
    variance = measured.variance
    if variance is not None and np.any(variance[np.isfinite(variance)] < 0):
        return {"InputWorkspace": "negative error estimates (variance < 0): errors must be >= 0"}
    return {}


def _error_model_errors(request: InversionRequest) -> dict:
    """ErrorModel=Poisson reads each bin's normalisation from the errors: they must exist."""
    variance = request.measured.variance
    if request.error_model != "Poisson" or (variance is not None and np.any(variance > 0)):
        return {}
    return {"ErrorModel": "Poisson needs the InputWorkspace's errors (sqrt(counts) x the bin's "
                          "normalisation) to read each bin's normalisation; this workspace has "
                          "none: use Data"}


def path_request(request: InversionRequest):
    """Return the :class:`~inslib.inversion.path.PathRequest` of a request on a q-path map."""
    from inslib.inversion.path import PathRequest

    simulation = request.simulation
    return PathRequest(
        request.measured, simulation.force_constants, simulation.structure,
        supercell=simulation.supercell, path=request.path,
        fwhm=request.energy_resolution or None, settings=simulation.template.settings,
        zones=request.zones,
        time_reversal=request.time_reversal, shells=request.shells,
        parameters=request.parameters, parameter_range=request.parameter_range,
        e_min=request.e_min, e_max=request.e_max, fit_resolution=request.fit_resolution,
        temperature=simulation.template.temperature, samples=request.samples,
        grid=simulation.grid, seed=request.seed)


def _path_errors(request: InversionRequest) -> dict:
    """Files, temperature, energy resolution and path of a q-path inversion."""
    from inslib.simulation.requests import temperature_errors

    simulation = request.simulation
    errors = file_errors(simulation.force_constants, simulation.structure, simulation.supercell)
    if request.chi:
        errors["SpectrumType"] = "ChiPrime2 is for powder maps: give S(q,E) for a q-path map"
    if request.elastic_tail:
        errors["FitElasticTail"] = ("for powder maps only: a q-path map's elastic line is cut "
                                    "by EMin")
    temperature = simulation.template.temperature
    if temperature is None:
        temperature = request.measured.metadata.temperature
    errors |= temperature_errors(temperature, required=True)
    metadata = request.measured.metadata
    if not request.energy_resolution > 0 and not (metadata.instrument and metadata.ei):
        errors["EnergyResolution"] = (
            f"{request.energy_resolution} meV, and the InputWorkspace names no instrument and "
            "Ei: give the energy-resolution FWHM (meV) of the folded data")
    if request.samples < 1:
        errors["SamplesPerBin"] = f"must be >= 1, got {request.samples}"
    return errors


def _temperature_errors(request: InversionRequest) -> dict:
    given = request.simulation.template.temperature
    logged = request.measured.metadata.temperature
    if given is None or logged is None or abs(given - logged) <= TEMPERATURE_TOLERANCE:
        return {}
    return {"Temperature": f"{given:g} K disagrees with the InputWorkspace's temperature log "
                           f"({logged:g} K) by more than {TEMPERATURE_TOLERANCE:g} K: give the "
                           "measured temperature, or -1 to take the log's"}


def _parameter_errors(request: InversionRequest) -> dict:
    from inslib.phonons.parameters import ParameterError

    simulation = request.simulation
    try:
        names = parameter_names(simulation.force_constants, request.shells, simulation.structure,
                                simulation.supercell)
    except ParameterError as error:
        return {"Shells": str(error)}
    errors = {}
    unknown = [p for p in request.parameters if p not in names]
    if unknown:
        errors["FittedParameters"] = (f"{', '.join(unknown)} not among the {request.shells}-"
                                      f"shell parameters: give names from {', '.join(names)}")
    given = [name for name, _ in request.initial]
    if request.initial and sorted(given) != sorted(names):
        errors["InitialParameterTable"] = (
            f"rows {', '.join(given)} are not the {request.shells}-shell parameters "
            f"{', '.join(names)}: give the OutputParameterTable of a fit with the same "
            "force constants and Shells")
    return errors


def parameter_names(force_constants: str, shells: int, structure: str = "",
                    supercell: str = "") -> tuple:
    """Names of the force-constant parameters of a file up to ``shells`` neighbour shells."""
    from inslib.simulation.setup import reference_basis

    return tuple(reference_basis(force_constants, shells, structure, supercell).names)


def inversion_temperature(request: InversionRequest) -> float:
    """Temperature of the fit (K): the request's, else the workspace's log."""
    return float(powder_temperature(request.simulation))
