"""The request vocabulary of the algorithms and its validation: the one place a request is checked.

A request holds what an algorithm's properties say, under one name per concept across
algorithms (``q_resolution`` is QResolution everywhere, ``temperature`` is Temperature in K,
``device`` is Device). Requests are frozen: a ``validate_*`` function checks a request once and
keeps the result on it, so the algorithm's validateInputs, the run function and the template
builder it calls all share one check. :func:`require_valid` raises the errors of any request.

Every message names the property, the bad value and what is valid.
"""

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inslib.axes import parse_binning
from inslib.histogram import Histogram
from inslib.instruments import (
    Instrument,
    InstrumentFileError,
    available_instruments,
    load_instrument,
)
from inslib.instruments.kinematics import q_limits
from inslib.instruments.resolution import (
    resolved_settings,
    settings_errors,
    transmitting_settings,
)
from inslib.phonons.errors import ForceConstantsError
from inslib.phonons.force_constants import (
    file_crystal,
    force_constants_file,
    force_constants_kind,
    load_force_constants,
)
from inslib.phonons.readers.phonopy import (
    check_bare_fc,
    check_force_sets,
    parse_supercell_matrix,
)
from inslib.scattering.powder import PowderSampling
from inslib.simulation.errors import raise_errors
from inslib.simulation.qpath import PathError, parse_path
from inslib.structure import StructureError
from inslib.units import to_mev

DEFAULT_E_BINS = 200  # energy bins of a template without EBinning
INDIRECT_E_RANGE = (-2.0, 500.0)  # meV, TOSCA/VISION's usual energy-transfer window
UNKNOWN_TEMPERATURE = -1.0  # the Temperature property's "unknown"
DEFAULT_GONIOMETER_AXIS = "0,1,0,1"  # vertical, counter-clockwise: SetGoniometer's "psi,0,1,0,1"
MAX_ORIENTATIONS = 3601  # goniometer settings of a Psi scan (0.1 degree over a full turn)


@dataclass(frozen=True)
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
        Sample temperature in K (Temperature); None = unknown.
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


@dataclass(frozen=True)
class PowderRequest:
    """Inputs of a powder simulation (SimulatePowderSQE property names in the comments).

    Parameters
    ----------
    force_constants : str
        ForceConstantsFile.
    structure : str
        StructureFile ("" = from the force-constants file).
    template : TemplateRequest
        Instrument, Ei/EFixed, binning or InputWorkspace, temperature.
    coherent, incoherent : bool
        Coherent, Incoherent.
    multiphonon_order : int
        MultiphononOrder (highest n-phonon term of the incoherent approximation, >= 1).
    creation_only : bool
        MultiphononMode "CreationOnly": n >= 2 terms from phonon creation only (OCLIMAX's
        convention); "Complete" (False, default) keeps annihilation of thermal phonons too.
    grid : int
        MeshSize: Monkhorst-Pack n x n x n for DOS and Debye-Waller.
    sampling : PowderSampling
        Powder-average sampling (ShellsPerBin, DirectionsPerShell, Seed).
    q_resolution : float
        QResolution: Gaussian |Q| FWHM in 1/Angstrom (0 = none).
    device : str
        Device: "Auto" (the GPU where torch sees one), "CPU" or "GPU".
    supercell : str
        SupercellMatrix of a bare FORCE_CONSTANTS file: "" (from SPOSCAR or the atom counts),
        "n1,n2,n3" (diagonal) or nine integers (phonopy's DIM, row by row).
    """

    force_constants: str
    structure: str = ""
    template: TemplateRequest = field(default_factory=TemplateRequest)
    coherent: bool = True
    incoherent: bool = True
    multiphonon_order: int = 10
    creation_only: bool = False
    grid: int = 16
    sampling: PowderSampling = field(default_factory=PowderSampling)
    q_resolution: float = 0.0
    device: str = "Auto"
    supercell: str = ""


@dataclass(frozen=True)
class SingleCrystalRequest:
    """Inputs of a single-crystal simulation (SimulateSingleCrystalSQE property names).

    Parameters
    ----------
    force_constants, structure, supercell : str
        ForceConstantsFile, StructureFile, SupercellMatrix (as in :class:`PowderRequest`).
    projections : numpy.ndarray, shape (3, 3), or sequence of 3 str
        QDimension0..2 (rows, r.l.u. of the HKL cell), as numbers or as "h,k,l" texts.
    q_binning : list of str
        Dimension0Binning..Dimension2Binning ("min,step,max" or "min,max" = integrated).
    e_binning : str
        Dimension3Binning, meV.
    temperature : float or None
        Temperature, K; None = unknown: the InputWorkspace's (refused where it has none).
    instrument, ei : str, float or None
        Instrument and Ei for the energy resolution (else ``fwhm``).
    settings : dict
        ChopperPackage / ChopperFrequency -> value (empty or 0 = the instrument default).
    fwhm : float
        EnergyResolution: constant FWHM in meV when no instrument is given.
    q_resolution : float
        QResolution: isotropic Gaussian Q resolution FWHM in 1/Angstrom (grids; 0 = none).
    qe_resolution : str
        QEResolution: "Energy" (the energy FWHM at each sample point, plus QResolution) or
        "Covariance" (the direct-geometry (Q, E) resolution covariance, Fermi-chopper
        instruments with Instrument and Ei).
    hkl : str
        HKLCell: "Conventional" (spglib standard cell) or "Primitive" (the model's cell).
    samples, seed, grid : int
        SamplesPerBin, Seed, MeshSize (Debye-Waller).
    path : str
        QPath: "" = grid; "auto" = seekpath's path; or labels such as "G-X-U|K-G-L".
    path_step : float
        PathStep, 1/Angstrom.
    template : Histogram or None
        InputWorkspace: an MD histogram whose dimensions, bins and mask are used.
    device : str
        Device: "Auto" (the GPU where torch sees one), "CPU" or "GPU".
    psi : str
        Psi: goniometer angles "from,to,step" in degrees (the settings measured, both ends
        included); "" = every orientation (the kinematic mask of |Q| and E only).
    goniometer_axis : str
        GoniometerAxis: "x,y,z,sense" in the lab frame (z beam, y up), sense 1 counter-
        clockwise or -1 clockwise, as Mantid's SetGoniometer.
    u_vector, v_vector : str
        UVector, VVector: HKL vectors along the beam and in the horizontal plane at psi = 0
        (Mantid's SetUB u and v); "" = QDimension0 and QDimension1.
    """

    force_constants: str
    structure: str = ""
    projections: np.ndarray = field(default_factory=lambda: np.eye(3))
    q_binning: list = field(default_factory=lambda: ["-2,0.05,2", "-0.05,0.05", "-0.05,0.05"])
    e_binning: str = "0,0.5,40"
    temperature: float | None = None
    instrument: str = ""
    ei: float | None = None
    settings: dict = field(default_factory=dict)
    fwhm: float = 0.0
    q_resolution: float = 0.0
    qe_resolution: str = "Energy"
    hkl: str = "Conventional"
    samples: int = 1
    seed: int = 0
    grid: int = 16
    path: str = ""
    path_step: float = 0.02
    template: Histogram | None = None
    device: str = "Auto"
    supercell: str = ""
    psi: str = ""
    goniometer_axis: str = DEFAULT_GONIOMETER_AXIS
    u_vector: str = ""
    v_vector: str = ""


def check_once(request, check) -> dict:
    """Run ``check`` on a request the first time only; keep {property: message} on it."""
    errors = request.__dict__.get("_errors")
    if errors is None:
        errors = check(request)
        object.__setattr__(request, "_errors", errors)
    return dict(errors)


def require_valid(request) -> None:
    """Raise SimulationError naming every bad property of a request (checked once)."""
    raise_errors(_VALIDATORS[type(request)](request))


# --- shared checks ----------------------------------------------------------------------------


MAX_TEMPERATURE = 5000.0  # K; INS furnaces reach about 2000 K
MAX_MAP_BINS = 20_000_000  # |Q| x E bins of a powder map (160 MB per float64 array)
MAX_DIRECTIONS = 100_000  # directions per |Q| shell
MAX_POINTS_PER_BIN = 1_000_000  # shells x directions per |Q| bin
PSI_FORM = "'from,to,step' in degrees, e.g. '-30,60,1'"
MAX_GRID = 200_000_000  # single-crystal grid bins, and sample points, at most
MAX_Q_RESOLUTION = 1.0  # 1/Angstrom FWHM; wider than most Brillouin zones


TEMPERATURE_RULE = (f"give the sample temperature in K, from 0 to {MAX_TEMPERATURE:g}, or -1 "
                    "for unknown (a simulation then takes the InputWorkspace's)")


def temperature_errors(temperature, required: bool) -> dict:
    """{"Temperature": message} for a bad temperature (K), or an unknown one where needed.

    One rule for every algorithm: 0 to MAX_TEMPERATURE K, or -1 (None here) for unknown. A
    simulation (``required``) needs a temperature: its own, else the InputWorkspace's.
    """
    if temperature is None:
        if not required:
            return {}
        return {"Temperature": "-1 (unknown), and there is no InputWorkspace temperature to "
                               "take: a simulation needs it (Bose factor, Debye-Waller); "
                               f"{TEMPERATURE_RULE}"}
    if not (math.isfinite(temperature) and 0 <= temperature <= MAX_TEMPERATURE):
        return {"Temperature": f"{temperature:g} K is not valid: {TEMPERATURE_RULE}"}
    return {}


def q_resolution_errors(q_resolution: float) -> dict:
    """{"QResolution": message} for a Q resolution FWHM (1/Angstrom) outside [0, MAX]."""
    if math.isfinite(q_resolution) and 0 <= q_resolution <= MAX_Q_RESOLUTION:
        return {}
    return {"QResolution": f"{q_resolution:g} 1/Angstrom is not valid: give the Gaussian Q "
                           f"resolution FWHM from 0 (none) to {MAX_Q_RESOLUTION:g} 1/Angstrom "
                           "(typically 0.01-0.1; a wider Gaussian washes out a Brillouin zone)"}


def device_errors(choice: str) -> dict:
    """{"Device": reason} where the Device property cannot be used, else {} (torch only for GPU)."""
    from inslib.phonons.model import device_problem

    problem = device_problem(choice)
    return {"Device": problem} if problem else {}


def model_source(request) -> tuple:
    """(force constants, StructureFile) of a powder or single-crystal request, for cached_setup.

    The file name, or with a SupercellMatrix the force constants read with it (in memory: the
    set-up is still cached on their content).
    """
    if not request.supercell:
        return request.force_constants, request.structure
    fcs = load_force_constants(request.force_constants, request.structure or None,
                               request.supercell)
    return replace(fcs, source=request.force_constants), ""


def _bare_errors(path: Path, structure: str, supercell: str, kind: str) -> dict:
    """{property: message} for a FORCE_CONSTANTS or FORCE_SETS file its companions do not fit."""
    check = check_force_sets if kind == "force_sets" else check_bare_fc
    try:
        check(path, structure or None, supercell or None)
    except ForceConstantsError as err:
        prop = "SupercellMatrix" if str(err).startswith("SupercellMatrix") else "ForceConstantsFile"
        return {prop: str(err)}
    except StructureError as err:
        return {"StructureFile": str(err)}
    return {}


def file_errors(force_constants: str, structure: str, supercell: str) -> dict:
    """{property: message} for unusable ForceConstantsFile, StructureFile, SupercellMatrix."""
    errors = {}
    if structure and not Path(structure).is_file():
        errors["StructureFile"] = f"file not found: {structure!r}"
    if not Path(force_constants).exists():
        return errors | {"ForceConstantsFile": f"file not found: {force_constants!r}"}
    try:
        parse_supercell_matrix(supercell)
    except ForceConstantsError as err:
        errors["SupercellMatrix"] = str(err)
    try:
        path = force_constants_file(force_constants)
        kind = force_constants_kind(path)
    except ForceConstantsError as err:
        return errors | {"ForceConstantsFile": str(err)}
    if kind == "bare" and not structure:
        errors["StructureFile"] = (f"ForceConstantsFile {path.name!r} is a bare "
                                   "force-constant file: give the crystal structure (POSCAR, "
                                   "CIF...) as StructureFile")
    elif kind in ("bare", "force_sets") and not errors:
        errors |= _bare_errors(path, structure, supercell, kind)
    if supercell and kind not in ("bare", "force_sets"):
        errors["SupercellMatrix"] = (f"SupercellMatrix={supercell!r} applies to a bare "
                                     "FORCE_CONSTANTS or FORCE_SETS file only; "
                                     f"{path.name!r} gives its own supercell: "
                                     "leave it empty")
    return errors


# --- templates (CreateSQETemplate and the powder simulation's grid) ---------------------------


def template_instrument(request: TemplateRequest) -> Instrument:
    """Return the request's instrument, or the InputWorkspace's."""
    name = request.instrument or (request.template.metadata.instrument if request.template else "")
    if not name:
        msg = (f"empty, and no InputWorkspace records one: give one of "
               f"{', '.join(available_instruments())}")
        raise ValueError(msg)
    return load_instrument(name)


def fixed_energy(request: TemplateRequest, instrument: Instrument) -> float:
    """Return Ei (direct geometry) or Ef (indirect), meV."""
    if instrument.geometry == "indirect":
        return request.efixed or instrument.final_energy
    ei = request.ei or (request.template.metadata.ei if request.template else None)
    if not ei:
        msg = "Ei is required for a direct-geometry instrument"
        raise ValueError(msg)
    return ei


def energy_edges(request: TemplateRequest, instrument: Instrument) -> np.ndarray:
    """Energy-transfer bin edges (meV) of a template without InputWorkspace, shape (n_e + 1,)."""
    if request.e_binning:
        edges = parse_binning(request.e_binning, "EBinning", request.energy_unit)
        return to_mev(edges, request.energy_unit)
    fixed = fixed_energy(request, instrument)
    low, high = ((-0.25 * fixed, 0.95 * fixed) if instrument.geometry == "direct"
                 else INDIRECT_E_RANGE)
    step = float(f"{(high - low) / DEFAULT_E_BINS:.1g}")
    return parse_binning(f"{low:g},{step:g},{high:g}")


def validate_template(request: TemplateRequest) -> dict:
    """Check a template request once; return {property name: message} (empty: it can run)."""
    return check_once(request, _check_template_request)


def _check_template_request(request: TemplateRequest) -> dict:
    errors = temperature_errors(request.temperature, required=False)
    try:
        instrument = template_instrument(request)
    except (ValueError, InstrumentFileError) as err:
        return errors | {"Instrument": str(err)}
    energy = _check_energy(request, instrument)
    if energy:
        return errors | energy
    errors |= settings_errors(instrument, request.settings)
    if request.template is not None:
        errors.update(_check_workspace(request.template))
    else:
        errors.update(_check_binning(request, instrument))
    return errors


def _check_energy(request, instrument) -> dict:
    if instrument.geometry == "indirect":
        if request.ei:
            return {"Ei": f"Ei={request.ei:g}: {instrument.name} is an indirect-geometry "
                          f"instrument: set EFixed (default {instrument.final_energy} meV), "
                          "not Ei; leave Ei at 0."}
        return {}
    if request.efixed:
        return {"EFixed": f"EFixed={request.efixed:g}: {instrument.name} is a direct-geometry "
                          "instrument: set Ei (the incident energy), not EFixed; leave EFixed "
                          "at 0."}
    try:
        ei = fixed_energy(request, instrument)
    except ValueError:
        return {"Ei": f"Ei is required for {instrument.name} (direct geometry), in meV, "
                      "unless the InputWorkspace has an Ei log."}
    low, high = instrument.incident_energy_range
    if not low <= ei <= high:
        return {"Ei": f"Ei={ei:g} meV is outside {instrument.name}'s incident-energy range "
                      f"{low:g}-{high:g} meV."}
    return {}


def _check_workspace(template: Histogram) -> dict:
    units = [axis.unit for axis in template.axes]
    if units != ["MomentumTransfer", "DeltaE"]:
        return {"InputWorkspace": f"the workspace axes are in {units}; a powder S(|Q|,E) "
                                  "needs |Q| (MomentumTransfer) vertical and DeltaE along X, "
                                  "as SofQW produces."}
    return {}


def _check_binning(request, instrument) -> dict:
    errors = {}
    try:
        e_edges = energy_edges(request, instrument)
        fixed = fixed_energy(request, instrument)
        if instrument.geometry == "direct" and e_edges[-1] >= fixed:
            errors["EBinning"] = (f"the energy range ends at {e_edges[-1]:g} meV, at or above "
                                  f"Ei={fixed:g} meV: a neutron cannot lose more than Ei; end "
                                  f"EBinning below {fixed:g}.")
        if instrument.geometry == "indirect" and e_edges[0] <= -fixed:
            errors["EBinning"] = (f"the energy range starts at {e_edges[0]:g} meV, at or below "
                                  f"-EFixed={-fixed:g} meV; start EBinning above {-fixed:g}.")
    except ValueError as err:
        errors["EBinning"] = str(err)
    if not request.q_binning:
        return errors
    try:
        q = parse_binning(request.q_binning, "QBinning", "1/Angstrom")
    except ValueError as err:
        return errors | {"QBinning": str(err)}
    if "EBinning" in errors:
        return errors
    return errors | _q_range_errors(request.q_binning, q, e_edges, fixed, instrument)


def _q_range_errors(text: str, q: np.ndarray, e_edges, fixed: float, instrument) -> dict:
    """{"QBinning": message} for a map too large or entirely outside the instrument's reach."""
    size = (len(q) - 1) * (len(e_edges) - 1)
    if size > MAX_MAP_BINS:
        return {"QBinning": f"{len(q) - 1:,} |Q| x {len(e_edges) - 1:,} E bins: at most "
                            f"{MAX_MAP_BINS:,} bins in a map (each array of it would take "
                            f"{size * 8 / 1e9:.1f} GB): use coarser bins"}
    q_min, q_max = q_limits(e_edges, fixed, instrument.geometry, instrument.banks_deg)
    if not np.isfinite(q_max).any():
        return {}
    low, high = float(np.nanmin(q_min)), float(np.nanmax(q_max))
    if q[-1] <= low or q[0] >= high:
        return {"QBinning": f"QBinning={text!r} ({q[0]:g} to {q[-1]:g} 1/Angstrom) lies "
                            f"outside what {instrument.name} reaches at {fixed:g} meV over "
                            f"the energy range ({low:.2f} to {high:.2f} 1/Angstrom): every "
                            "bin would be masked; bin |Q| within that range"}
    return {}


# --- powder -----------------------------------------------------------------------------------


def powder_temperature(request: PowderRequest):
    """Temperature (K) of a powder request: its own, else the InputWorkspace's; None if neither."""
    template = request.template
    if template.temperature is not None:
        return template.temperature
    return template.template.metadata.temperature if template.template is not None else None


def validate_powder(request: PowderRequest) -> dict:
    """Check a powder request once; return {property: message} for everything wrong."""
    return check_once(request, _check_powder)


def _check_powder(request: PowderRequest) -> dict:
    errors = validate_template(request.template)
    errors |= file_errors(request.force_constants, request.structure, request.supercell)
    errors |= temperature_errors(powder_temperature(request), required=True)
    if not (request.coherent or request.incoherent):
        errors["Coherent"] = "both Coherent and Incoherent are off: nothing to simulate"
    if request.multiphonon_order < 1:
        errors["MultiphononOrder"] = f"must be >= 1, got {request.multiphonon_order}"
    if request.grid < 2:
        errors["MeshSize"] = f"must be >= 2, got {request.grid}"
    if request.sampling.n_directions < 2 or request.sampling.n_directions % 2:
        errors["DirectionsPerShell"] = "must be an even number >= 2"
    per_bin = request.sampling.n_directions * request.sampling.n_shells
    if request.sampling.n_directions > MAX_DIRECTIONS or per_bin > MAX_POINTS_PER_BIN:
        errors["DirectionsPerShell"] = (
            f"{request.sampling.n_directions:,} directions x {request.sampling.n_shells} "
            f"shells per |Q| bin: at most {MAX_DIRECTIONS:,} directions and "
            f"{MAX_POINTS_PER_BIN:,} points per bin (the sphere of each shell is generated in "
            "memory; 2 x 500 already converge to a few %)")
    return errors | q_resolution_errors(request.q_resolution) | device_errors(request.device)


# --- single crystal ---------------------------------------------------------------------------


def q_edges(text, index: int) -> tuple[np.ndarray, bool]:
    """Bin edges (r.l.u.) of Q dimension ``index`` and whether it is integrated (one bin).

    ``text`` is "min,step,max", "min,max" (integrated) or edges taken from a template.
    """
    if not isinstance(text, str):  # edges taken from a template workspace
        edges = np.asarray(text, dtype=float)
        return edges, len(edges) == 2
    prop = f"Dimension{index}Binning"
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        msg = (f"{prop}={text!r} is not 'min,step,max' (binned) or 'min,max' (integrated), "
               "numbers in r.l.u., e.g. '-2,0.05,2'")
        raise ValueError(msg) from None
    if len(values) == 2:
        if values[1] <= values[0]:
            msg = f"{prop}: integration range {text!r} must have max > min"
            raise ValueError(msg)
        return np.array(values), True
    return parse_binning(text, prop, "r.l.u."), False


def projection_matrix(request: SingleCrystalRequest) -> np.ndarray:
    """QDimension0..2 as the rows of a (3, 3) array, r.l.u. (SimulationError when invalid)."""
    rows, errors = _projection_rows(request)
    raise_errors(errors)
    return np.array(rows)


def _projection_rows(request: SingleCrystalRequest) -> tuple[list, dict]:
    """Parse QDimension0..2 ("h,k,l" texts or numbers): (rows, {property: message})."""
    rows, errors = [], {}
    for index, row in enumerate(request.projections):
        text = row if isinstance(row, str) else ",".join(f"{v:g}" for v in np.ravel(row))
        try:
            rows.append([float(v) for v in text.replace(" ", "").split(",")])
        except ValueError:
            rows.append([])
        if len(rows[-1]) != 3 or not np.all(np.isfinite(rows[-1])):
            errors[f"QDimension{index}"] = (f"{text!r} is not an HKL vector: give three numbers "
                                            "h,k,l (r.l.u.), e.g. '1,0,0'")
    if not errors and (len(rows) != 3 or abs(np.linalg.det(rows)) < 1e-9):
        errors["QDimension2"] = ("QDimension0..2 are not three independent HKL vectors "
                                 "(determinant 0): give u, v, w spanning 3D, e.g. '1,0,0', "
                                 "'0,1,0', '0,0,1'")
    return rows, errors


def crystal_temperature(request: SingleCrystalRequest):
    """Temperature (K): the request's, else the InputWorkspace's; None if neither."""
    if request.temperature is not None or request.template is None:
        return request.temperature
    return request.template.metadata.temperature


def crystal_instrument(request: SingleCrystalRequest):
    """Return the instrument and its fixed energy (Ei or Ef, meV); (None, None) without one."""
    if not request.instrument:
        return None, None
    instrument = load_instrument(request.instrument)
    fixed = request.ei if instrument.geometry == "direct" else instrument.final_energy
    return instrument, fixed


def validate_single_crystal(request: SingleCrystalRequest) -> dict:
    """Check a single-crystal request once; return {property: message} for everything wrong."""
    return check_once(request, _check_single_crystal)


def _check_single_crystal(request: SingleCrystalRequest) -> dict:
    errors = file_errors(request.force_constants, request.structure, request.supercell)
    errors |= temperature_errors(crystal_temperature(request), required=True)
    errors |= _projection_rows(request)[1]
    if request.template is not None and len(request.template.axes) != 4:
        errors["InputWorkspace"] = (f"needs a 4D MD histogram (3 HKL dimensions + DeltaE), got "
                                    f"{len(request.template.axes)} dimensions")
    errors |= _crystal_binning_errors(request)
    if request.samples < 1:
        errors["SamplesPerBin"] = f"must be >= 1, got {request.samples}"
    errors |= q_resolution_errors(request.q_resolution)
    if request.path and request.q_resolution > 0 and "QResolution" not in errors:
        errors["QResolution"] = (f"applies to grids only, not to QPath {request.path!r}: "
                                 "set it to 0")
    if request.path and not errors.keys() & {"ForceConstantsFile", "StructureFile"}:
        errors |= path_errors(request.path, request.force_constants, request.structure)
    errors |= _crystal_instrument_errors(request) | device_errors(request.device)
    errors |= qe_resolution_errors(request, errors)
    return errors | goniometer_errors(request, errors)


QE_RESOLUTIONS = ("Energy", "Covariance")


def qe_resolution_errors(request: SingleCrystalRequest, errors: dict) -> dict:
    """{property: message} for QEResolution: Covariance needs a direct Fermi-chopper setting."""
    choice = request.qe_resolution
    if choice not in QE_RESOLUTIONS:
        return {"QEResolution": f"{choice!r}: give one of {', '.join(QE_RESOLUTIONS)}"}
    if choice == "Energy" or errors.keys() & {"Instrument", "Ei"}:
        return {}
    instrument, fixed = crystal_instrument(request)
    if instrument is None or instrument.geometry != "direct":
        return {"QEResolution": "Covariance is the (Q, E) resolution of a direct-geometry "
                                "instrument: give Instrument and Ei, or use Energy"}
    if request.q_resolution > 0:
        return {"QEResolution": f"Covariance includes the Q resolution: leave QResolution at "
                                f"0 (got {request.q_resolution:g}), or use Energy"}
    from inslib.instruments.covariance import setting_geometry

    try:
        setting_geometry(instrument.name, float(fixed), request.settings)
    except ValueError as err:
        return {"QEResolution": str(err)}
    return {}


def path_errors(path: str, force_constants: str, structure: str) -> dict:
    """{property: message} for a QPath that does not parse for the crystal of the files."""
    try:
        parse_path(path, file_crystal(force_constants, structure or None))
    except PathError as err:
        return {"QPath": str(err)}
    except (ForceConstantsError, StructureError) as err:
        return {"ForceConstantsFile": str(err)}
    return {}


def _crystal_binning_errors(request: SingleCrystalRequest) -> dict:
    errors, sizes = {}, []
    for index, text in enumerate(request.q_binning):
        if isinstance(text, str):
            try:
                sizes.append(len(q_edges(text, index)[0]) - 1)
                if sizes[-1] < 1:
                    errors[f"Dimension{index}Binning"] = (f"Dimension{index}Binning {text!r} "
                                                          "gives no bins")
            except ValueError as err:
                errors[f"Dimension{index}Binning"] = str(err)
    try:
        if isinstance(request.e_binning, str):
            sizes.append(len(parse_binning(request.e_binning, "Dimension3Binning", "meV")) - 1)
    except ValueError as err:
        errors["Dimension3Binning"] = str(err)
    if not errors and len(sizes) == 4 and not request.path:
        bins = math.prod(sizes)
        points = math.prod(sizes[:3]) * points_per_bin(request.samples, sizes[:3],
                                                          request.q_resolution)
        if max(bins, points) > MAX_GRID:
            errors["Dimension0Binning"] = (
                f"{' x '.join(f'{n:,}' for n in sizes)} bins ({bins:,}) and {points:,} sample "
                "points (SamplesPerBin^k per Q bin, k the binned Q dimensions, 3 with "
                f"QResolution): at most {MAX_GRID:,} of each (one float64 array of that many "
                "bins is 1.6 GB; points are evaluated in batches, but take time): use coarser "
                "or fewer bins, or fewer samples")
    return errors


def points_per_bin(samples: int, shape, q_resolution: float = 0.0) -> int:
    """Sample points in each Q bin of a grid: ``samples ** k``, k >= 1 the sampled dimensions.

    ``shape``: bins per Q dimension (3 ints). A dimension with one bin is integrated and adds
    no factor (its extent is covered by the same points, see
    :func:`inslib.simulation.grid.sample_bins`), unless a Q resolution (FWHM ``q_resolution``,
    1/Angstrom, > 0) spreads every bin over all three dimensions: then k = 3.
    """
    binned = 3 if q_resolution > 0 else sum(n > 1 for n in shape)
    return samples ** max(binned, 1)


def _crystal_instrument_errors(request: SingleCrystalRequest) -> dict:
    """{property: message} for Instrument, Ei and EnergyResolution of a single crystal."""
    try:
        instrument, fixed = crystal_instrument(request)
    except InstrumentFileError as err:
        return {"Instrument": str(err)}
    if instrument is None:
        return without_instrument_errors(request)
    if request.fwhm:
        return {"EnergyResolution": f"EnergyResolution={request.fwhm:g} is used without an "
                                    f"Instrument only ({instrument.name}'s resolution applies): "
                                    "leave it at 0, or leave Instrument empty"}
    errors = settings_errors(instrument, request.settings)
    if instrument.geometry == "indirect" or errors:
        return errors
    low, high = instrument.incident_energy_range
    if not fixed or not low <= fixed <= high:
        return {"Ei": f"Ei={fixed or 0:g}: give the incident energy for {instrument.name}, "
                      f"{low:g}-{high:g} meV"}
    try:
        transmitting_settings(instrument, fixed, resolved_settings(instrument, request.settings))
    except ValueError as err:
        return {"ChopperFrequency": str(err)}
    return {}


def without_instrument_errors(request) -> dict:
    """{property: message} for Ei or chopper settings given without an Instrument.

    ``request``: anything with ``ei`` and ``settings`` (a SingleCrystalRequest or a
    TemplateRequest).
    """
    given = {"Ei": request.ei} | {name: value for name, value in request.settings.items()
                                  if value not in (None, "", 0)}
    return {name: f"{name}={value!r} is used with an Instrument only: give Instrument, or "
                  "leave it empty (EnergyResolution sets a constant FWHM)"
            for name, value in given.items() if value}


# --- goniometer (single-crystal kinematic mask) ------------------------------------------------


def _numbers(text: str, count: int, prop: str, form: str) -> np.ndarray:
    """Parse ``count`` comma-separated finite numbers; ValueError naming ``prop`` otherwise."""
    try:
        values = np.array([float(v) for v in text.replace(" ", "").split(",")])
    except ValueError:
        values = np.array([])
    if len(values) != count or not np.all(np.isfinite(values)):
        msg = f"{prop}={text!r} is not {form}"
        raise ValueError(msg)
    return values


def psi_angles(text: str) -> np.ndarray:
    """Goniometer angles (degrees, shape (n,)) of Psi "from,to,step", both ends included."""
    start, stop, step = _numbers(text, 3, "Psi", PSI_FORM)
    if step <= 0 or stop < start or stop - start > 360:
        msg = (f"Psi={text!r}: needs step > 0 and from <= to <= from + 360 degrees, e.g. "
               "'-30,60,1' (one setting: 'psi,psi,1')")
        raise ValueError(msg)
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_ORIENTATIONS:
        msg = (f"Psi={text!r} gives {count:,} settings: at most {MAX_ORIENTATIONS:,} (0.1 "
               "degree steps over a full turn); use a coarser step")
        raise ValueError(msg)
    return start + step * np.arange(count)


def psi_step(text: str) -> float:
    """Angle between the goniometer settings (degrees) of Psi "from,to,step"."""
    return float(_numbers(text, 3, "Psi", PSI_FORM)[2])


def goniometer_axis(text: str) -> tuple[np.ndarray, int]:
    """GoniometerAxis "x,y,z,sense": (axis (3,), lab frame; sense 1 or -1)."""
    form = ("'x,y,z,sense' (lab frame: z beam, y up; sense 1 counter-clockwise, -1 "
            f"clockwise), e.g. {DEFAULT_GONIOMETER_AXIS!r}")
    *axis, sense = _numbers(text, 4, "GoniometerAxis", form)
    if np.linalg.norm(axis) < 1e-9 or sense not in (1, -1):
        msg = f"GoniometerAxis={text!r} is not {form}"
        raise ValueError(msg)
    return np.array(axis), int(sense)


def scattering_plane(request: SingleCrystalRequest) -> np.ndarray:
    """UVector and VVector as rows (2, 3), r.l.u. (SimulationError when invalid)."""
    rows, errors = _plane_rows(request)
    raise_errors(errors)
    return rows


def _plane_rows(request: SingleCrystalRequest) -> tuple[np.ndarray, dict]:
    """UVector, VVector (QDimension0 and 1 where empty) and {property: message}."""
    rows, errors = [], {}
    for index, (prop, text) in enumerate((("UVector", request.u_vector),
                                          ("VVector", request.v_vector))):
        try:
            rows.append(_numbers(text, 3, prop, "an HKL vector h,k,l, e.g. '1,0,0'") if text
                        else projection_matrix(request)[index])
        except ValueError as err:
            errors[prop] = str(err)
    if not errors and np.linalg.norm(np.cross(*rows)) < 1e-9 * math.prod(
            np.linalg.norm(row) for row in rows):
        errors["VVector"] = (f"{rows[1].tolist()} is parallel to UVector {rows[0].tolist()} (or "
                             "one is 0): give two HKL directions spanning the horizontal "
                             "scattering plane")
    return np.array(rows), errors


def goniometer_errors(request: SingleCrystalRequest, errors: dict) -> dict:
    """{property: message} for Psi, GoniometerAxis, UVector and VVector (checked with Psi).

    ``errors``: what the request's other checks found (the instrument and projections are
    used here only where they are valid).
    """
    if not request.psi:
        return {}
    unusable = _psi_use_errors(request, errors)
    if unusable:
        return unusable
    found = {}
    checks = (("Psi", psi_angles, request.psi),
              ("GoniometerAxis", goniometer_axis, request.goniometer_axis))
    for prop, check, text in checks:
        try:
            check(text)
        except ValueError as err:
            found[prop] = str(err)
    if errors.keys() & {f"QDimension{i}" for i in range(3)}:
        return found
    return found | _plane_rows(request)[1]


def _psi_use_errors(request: SingleCrystalRequest, errors: dict) -> dict:
    """{"Psi": message} where Psi cannot apply: a q-path, a template, no direct instrument."""
    given = f"Psi={request.psi!r}"
    if request.path:
        return {"Psi": f"{given} applies to grids, not to QPath={request.path!r}: leave Psi "
                       "empty"}
    if request.template is not None:
        return {"Psi": f"{given} applies without InputWorkspace only: the InputWorkspace's own "
                       "mask is its measured coverage; leave Psi empty"}
    if not request.instrument or "Instrument" in errors:
        return {"Psi": f"{given} needs a direct-geometry Instrument and its Ei (it restricts "
                       "the instrument's kinematic mask): give Instrument and Ei, or leave Psi "
                       "empty"}
    if load_instrument(request.instrument).geometry != "direct":
        return {"Psi": f"{given}: {request.instrument} is an indirect-geometry instrument; Psi "
                       "masks direct-geometry single-crystal grids only: leave it empty"}
    return {}


_VALIDATORS = {TemplateRequest: validate_template, PowderRequest: validate_powder,
               SingleCrystalRequest: validate_single_crystal}
