"""SimulateMDSQE's request and its validation (once per request, as every simulation request).

Uses the shared template and temperature checks of :mod:`inslib.simulation.requests`; adds the
output (PowderSQE, IndirectSE, QPath) against the instrument, the trajectory (or MD run), frame
count, Nyquist energy and the q-points the supercell represents (:mod:`inslib.md.sampling`).
Every message names the property, the bad value and what is valid.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inslib.axes import parse_binning
from inslib.md.qpoints import SamplingError
from inslib.md.quantum import CORRECTIONS
from inslib.md.run import (
    ENSEMBLES,
    THERMOSTATS,
    MDRun,
    emt_elements,
    nep_elements,
    supercell_atoms,
)
from inslib.md.sampling import md_qpoints
from inslib.md.setting import OUTPUTS, EnergySetting, energy_setting
from inslib.md.trajectory import (
    TrajectoryError,
    TrajectoryInfo,
    nyquist_energy,
    scan_trajectory,
    window_size,
)
from inslib.phonons.errors import ForceConstantsError
from inslib.phonons.readers.phonopy import parse_supercell_matrix
from inslib.simulation.errors import raise_errors
from inslib.simulation.requests import (
    TemplateRequest,
    check_once,
    powder_temperature,
    temperature_errors,
    template_instrument,
    validate_template,
    without_instrument_errors,
)
from inslib.structure import StructureError

MAX_MD_TIME_STEP = 20.0  # fs; metals and light molecules need 0.5-5 fs, 20 fs is far beyond
MAX_Q_POINTS_PER_BIN = 100_000
MAX_PATH_STEP = 1.0  # 1/Angstrom: wider than half a Brillouin zone of most crystals


@dataclass(frozen=True)
class MDRequest:
    """Inputs of SimulateMDSQE (property names in the comments).

    Parameters
    ----------
    trajectory : str
        TrajectoryFile (any ASE-readable trajectory); "" = run the MD here.
    time_step : float
        TimeStep: fs between the trajectory's frames (0 = not given).
    template : TemplateRequest
        Instrument, Ei or EFixed, binning or InputWorkspace, Temperature.
    output : str
        Output: "PowderSQE" (direct-geometry map), "IndirectSE" (S(E) per analyser bank) or
        "QPath" (single crystal along a path).
    path : str
        QPath: labels or [h,k,l] of the StructureFile's cell, as SimulateSingleCrystalSQE.
    path_step : float
        PathStep: bin width along the path, 1/Angstrom.
    fwhm : float
        EnergyResolution: constant energy FWHM (meV) of Output=QPath without an Instrument
        (0 = the Instrument's resolution).
    coherent, incoherent : bool
        Coherent, Incoherent.
    correction : str
        QuantumCorrection: "StokesRaman", "DetailedBalance" or "None".
    elastic : bool
        Elastic: keep the static part (Bragg peaks, incoherent elastic line).
    q_points_per_bin : int
        QPointsPerBin: most commensurate q-points averaged per |Q| bin.
    window_step : int
        WindowStep: frames between correlation windows (0 = a quarter window).
    seed : int
        Seed (q-point choice, MD velocities and Langevin noise).
    structure, supercell : str
        StructureFile and SupercellMatrix of an MD run here.
    potential : str
        PotentialFile: a NEP model file (calorine) for the MD run here; "" = ASE's EMT.
    md_time_step : float
        MDTimeStep, fs.
    md_steps, thermalisation_steps, frame_interval : int
        MDSteps, ThermalisationSteps, FrameInterval.
    thermostat : str
        Thermostat of the production run (VelocityVerlet = NVE, or Langevin).
    ensemble : str
        ThermalisationEnsemble: "NVT" (the structure's cell) or "NPT" (zero pressure, then
        the mean cell: thermal expansion).
    output_trajectory : str
        OutputTrajectoryFile: where the run here writes its frames ("" = a temporary file).
    """

    trajectory: str = ""
    time_step: float = 0.0
    template: TemplateRequest = field(default_factory=TemplateRequest)
    output: str = "PowderSQE"
    path: str = ""
    path_step: float = 0.02
    fwhm: float = 0.0
    coherent: bool = True
    incoherent: bool = True
    correction: str = "StokesRaman"
    elastic: bool = False
    q_points_per_bin: int = 200
    window_step: int = 0
    seed: int = 0
    structure: str = ""
    supercell: str = ""
    md_time_step: float = 5.0
    md_steps: int = 2000
    thermalisation_steps: int = 500
    frame_interval: int = 2
    thermostat: str = "VelocityVerlet"
    ensemble: str = "NVT"
    output_trajectory: str = ""
    potential: str = ""

    @property
    def frame_time(self) -> float:
        """Time between frames, fs: TimeStep, or MDTimeStep x FrameInterval for a run here."""
        return self.time_step if self.trajectory else self.md_time_step * self.frame_interval


def md_run(request: MDRequest) -> MDRun:
    """Return the MD run of a request without TrajectoryFile (0 K where none is known)."""
    return MDRun(request.structure, parse_supercell_matrix(request.supercell or "1,1,1"),
                 float(md_temperature(request) or 0.0), request.md_time_step, request.md_steps,
                 request.thermalisation_steps, request.frame_interval, request.thermostat,
                 request.ensemble, request.seed, request.potential)


def md_temperature(request: MDRequest):
    """Temperature in K (the request's, else the InputWorkspace's); None if neither."""
    return powder_temperature(request)


def trajectory_info(request: MDRequest) -> TrajectoryInfo:
    """Scan the request's TrajectoryFile once per request (validation and run share the pass)."""
    info = request.__dict__.get("_trajectory_info")
    if info is None:
        info = scan_trajectory(request.trajectory)
        object.__setattr__(request, "_trajectory_info", info)
    return info


def md_sampling(request: MDRequest, cell: np.ndarray):
    """q-points of the request's output for a supercell ((3, 3) rows, Angstrom), chosen once.

    Kept per cell: the validation's choice is the run's unless an MD run here moved the cell
    (NPT). Raises :class:`inslib.md.qpoints.SamplingError`.
    """
    cache = request.__dict__.get("_sampling")
    if cache is None:
        cache = {}
        object.__setattr__(request, "_sampling", cache)
    key = np.asarray(cell, dtype=float).tobytes()
    if key not in cache:
        cache[key] = md_qpoints(request, md_setting(request), cell, request.q_points_per_bin)
    return cache[key]


def md_setting(request: MDRequest) -> EnergySetting:
    """Energy bins and resolution of the request's output, built once per request."""
    setting = request.__dict__.get("_setting")
    if setting is None:
        setting = energy_setting(request.template, request.output, request.fwhm)
        object.__setattr__(request, "_setting", setting)
    return setting


def md_window(request: MDRequest) -> tuple[int, float, float]:
    """(window W in lags, finest energy bin meV, narrowest resolution sigma meV) of a request."""
    setting = md_setting(request)
    e_edges = setting.e_edges
    sigma = float(setting.sigma(0.5 * (e_edges[1:] + e_edges[:-1])).min())
    step = float(np.min(np.diff(e_edges)))
    window = window_size(energy_step=step, frame_time=request.frame_time, sigma=sigma)
    return window, step, sigma


def validate_md(request: MDRequest) -> dict:
    """Check an MD request once; return {property: message} for everything wrong."""
    return check_once(request, _check_md)


def require_valid_md(request: MDRequest) -> None:
    """Raise SimulationError naming every bad property (checked once)."""
    raise_errors(validate_md(request))


def _check_md(request: MDRequest) -> dict:
    import importlib.util

    if importlib.util.find_spec("dynasor") is None:
        prop = "TrajectoryFile" if request.trajectory else "StructureFile"
        return {prop: "SimulateMDSQE needs dynasor: pip install 'inslib[md]'"}
    errors = {} if free_path(request) else validate_template(request.template)
    needs_t = request.correction != "None" or not request.trajectory
    errors |= temperature_errors(md_temperature(request), required=needs_t)
    errors |= _option_errors(request)
    if "Instrument" not in errors:
        errors |= _output_errors(request)
    source, cell, n_frames = _source(request)
    errors |= source
    if errors or cell is None:
        return errors
    errors |= _frame_errors(request, n_frames)
    try:
        md_sampling(request, cell)
    except SamplingError as err:
        errors[err.prop] = str(err)
    return errors


def _output_errors(request: MDRequest) -> dict:
    """Output against the instrument's geometry and the properties that output uses."""
    if request.output not in OUTPUTS:
        return {"Output": f"{request.output!r} is not one of {' | '.join(OUTPUTS)}"}
    if free_path(request):
        return _free_path_errors(request) | _path_option_errors(request)
    template = request.template
    if request.fwhm:
        return {"EnergyResolution": f"EnergyResolution={request.fwhm:g} is used with "
                                    "Output=QPath and no Instrument only (the Instrument's "
                                    "resolution applies): leave it at 0, or leave Instrument "
                                    "empty"}
    indirect = template_instrument(template).geometry == "indirect"
    if indirect != (request.output == "IndirectSE"):
        return {"Output": f"{request.output} on {template_instrument(template).name}: "
                          "IndirectSE is for indirect-geometry instruments (TOSCA, VISION), "
                          "PowderSQE and QPath for direct-geometry ones (ARCS, MAPS, MARI...)"}
    errors = {}
    if request.output != "PowderSQE" and template.template is not None:
        errors["InputWorkspace"] = (f"a powder S(|Q|,E) workspace is a PowderSQE template, not "
                                    f"a {request.output} one: leave it empty, or use "
                                    "Output=PowderSQE")
    if request.output == "QPath":
        errors |= _path_option_errors(request)
    elif request.path:
        errors["QPath"] = (f"{request.path!r} is used with Output=QPath only: leave it empty, "
                           "or set Output=QPath")
    return errors


def free_path(request: MDRequest) -> bool:
    """Output=QPath with neither Instrument nor InputWorkspace: EnergyResolution's constant FWHM."""
    return (request.output == "QPath" and not request.template.instrument
            and request.template.template is None)


def _free_path_errors(request: MDRequest) -> dict:
    """EnergyResolution and EBinning of a q-path without an Instrument; no Ei or choppers."""
    template = request.template
    errors = without_instrument_errors(template)
    if not (math.isfinite(request.fwhm) and request.fwhm > 0):
        errors["EnergyResolution"] = (f"{request.fwhm:g}: Output=QPath without an Instrument "
                                      "needs the energy FWHM in meV, e.g. 2; or give "
                                      "Instrument and Ei for the instrument's resolution")
    if not template.e_binning:
        errors["EBinning"] = ("empty: Output=QPath without an Instrument needs the energy bins "
                              "'min,step,max' (meV), e.g. '-10,0.5,60'")
        return errors
    try:
        parse_binning(template.e_binning, "EBinning", template.energy_unit)
    except ValueError as err:
        errors["EBinning"] = str(err)
    return errors


def _path_option_errors(request: MDRequest) -> dict:
    errors = {}
    if not request.path:
        errors["QPath"] = ("empty: Output=QPath needs a path, 'auto' or labels / points "
                           "[h,k,l] of the StructureFile's cell, e.g. 'G-X-W-L-G'")
    if not (math.isfinite(request.path_step) and 0 < request.path_step <= MAX_PATH_STEP):
        errors["PathStep"] = (f"{request.path_step:g} is not valid: give the bin width along "
                              f"the path, 0 to {MAX_PATH_STEP:g} 1/Angstrom")
    if request.template.q_binning:
        errors["QBinning"] = (f"{request.template.q_binning!r}: Output=QPath bins along the "
                              "path (PathStep), not in |Q|: leave QBinning empty")
    return errors


def _option_errors(request: MDRequest) -> dict:
    errors = {}
    if not (request.coherent or request.incoherent):
        errors["Coherent"] = "both Coherent and Incoherent are off: nothing to simulate"
    if request.correction not in CORRECTIONS:
        errors["QuantumCorrection"] = (f"{request.correction!r} is not one of "
                                       f"{' | '.join(CORRECTIONS)}")
    if not 1 <= request.q_points_per_bin <= MAX_Q_POINTS_PER_BIN:
        errors["QPointsPerBin"] = (f"{request.q_points_per_bin} is not valid: give 1 to "
                                   f"{MAX_Q_POINTS_PER_BIN:,} q-points per |Q| bin")
    if request.window_step < 0:
        errors["WindowStep"] = (f"{request.window_step} is not valid: give frames between "
                                "correlation windows (>= 1), or 0 for a quarter window")
    return errors


def _source(request: MDRequest) -> tuple[dict, np.ndarray | None, int]:
    """({property: message}, supercell (3, 3) Angstrom or None, frames) of the MD source."""
    if request.trajectory and request.structure and request.output != "QPath":
        return ({"StructureFile": f"{request.structure!r} given with TrajectoryFile: give a "
                                  "trajectory, or a structure to run the MD here, not both "
                                  "(with a trajectory, StructureFile is QPath's cell)"},
                None, 0)
    if request.trajectory:
        return _trajectory_source(request)
    if request.structure:
        return _run_source(request)
    return ({"TrajectoryFile": "empty, and no StructureFile to run the MD here: give an "
                               "ASE-readable trajectory with TimeStep, or StructureFile"},
            None, 0)


def _trajectory_source(request: MDRequest) -> tuple[dict, np.ndarray | None, int]:
    errors = {}
    if request.potential:
        errors["PotentialFile"] = (f"{request.potential!r} is for an MD run here: leave it "
                                   "empty with a TrajectoryFile")
    if not (math.isfinite(request.time_step) and request.time_step > 0):
        errors["TimeStep"] = (f"{request.time_step:g} fs: give the time between the "
                              "trajectory's frames in fs (> 0; MD time step x write interval)")
    if not Path(request.trajectory).is_file():
        return errors | {"TrajectoryFile": f"file not found: {request.trajectory!r}"}, None, 0
    try:
        info = trajectory_info(request)
    except TrajectoryError as err:
        return errors | {"TrajectoryFile": str(err)}, None, 0
    return errors, (None if errors else info.cell), info.n_frames


def _run_source(request: MDRequest) -> tuple[dict, np.ndarray | None, int]:
    errors = _run_option_errors(request)
    if request.time_step:
        errors["TimeStep"] = (f"{request.time_step:g} fs is for a TrajectoryFile: leave it 0; "
                              "the MD run here writes a frame every MDTimeStep x FrameInterval")
    try:
        matrix = parse_supercell_matrix(request.supercell or "1,1,1")
    except ForceConstantsError as err:
        return errors | {"SupercellMatrix": str(err)}, None, 0
    try:
        atoms = supercell_atoms(request.structure, matrix)
    except StructureError as err:
        return errors | {"StructureFile": str(err)}, None, 0
    errors |= _potential_errors(request, set(atoms.get_chemical_symbols()))
    if errors:
        return errors, None, 0
    return {}, atoms.cell.array, md_run(request).n_frames


def _potential_errors(request: MDRequest, elements: set) -> dict:
    """{property: message} when the potential (EMT, or PotentialFile) misses an element."""
    import importlib.util

    if not request.potential:
        missing, known = sorted(elements - emt_elements()), sorted(emt_elements())
        if missing:
            return {"StructureFile": f"{', '.join(missing)}: not covered by ASE's EMT "
                                     f"potential ({', '.join(known)}); give a NEP model as "
                                     "PotentialFile, or run the MD elsewhere and give "
                                     "TrajectoryFile"}
        return {}
    if importlib.util.find_spec("calorine") is None:
        return {"PotentialFile": "a NEP model needs calorine: pip install calorine"}
    if not Path(request.potential).is_file():
        return {"PotentialFile": f"file not found: {request.potential!r}"}
    try:
        covered = nep_elements(request.potential)
    except (ValueError, OSError, IndexError) as err:
        return {"PotentialFile": f"{Path(request.potential).name!r} is not a NEP model file "
                                 f"calorine reads ({err}); give a nep.txt from GPUMD's nep"}
    missing = sorted(elements - covered)
    if missing:
        return {"StructureFile": f"{', '.join(missing)}: not in the NEP model "
                                 f"{Path(request.potential).name!r} ({', '.join(sorted(covered))})"}
    return {}


def _run_option_errors(request: MDRequest) -> dict:
    errors = {}
    if not (math.isfinite(request.md_time_step) and 0 < request.md_time_step
            <= MAX_MD_TIME_STEP):
        errors["MDTimeStep"] = (f"{request.md_time_step:g} fs is not valid: give 0 to "
                                f"{MAX_MD_TIME_STEP:g} fs (1-5 fs for metals)")
    for prop, value, low in (("MDSteps", request.md_steps, 1),
                             ("ThermalisationSteps", request.thermalisation_steps, 0),
                             ("FrameInterval", request.frame_interval, 1)):
        if value < low:
            errors[prop] = f"{value} is not valid: give an integer >= {low}"
    if request.thermostat not in THERMOSTATS:
        errors["Thermostat"] = f"{request.thermostat!r} is not one of {' | '.join(THERMOSTATS)}"
    if request.ensemble not in ENSEMBLES:
        errors["ThermalisationEnsemble"] = (f"{request.ensemble!r} is not one of "
                                            f"{' | '.join(ENSEMBLES)}")
    return errors


def _frame_errors(request: MDRequest, n_frames: int) -> dict:
    """Nyquist energy and frame count against the output's energy bins and resolution."""
    prop = "TrajectoryFile" if request.trajectory else "MDSteps"
    time_prop = "TimeStep" if request.trajectory else "FrameInterval"
    dt = request.frame_time
    top = float(np.max(np.abs(md_setting(request).e_edges)))
    nyquist = nyquist_energy(frame_time=dt)
    if top > nyquist:
        return {time_prop: f"frames {dt:g} fs apart resolve energies up to {nyquist:.4g} meV "
                           f"(Nyquist), the template's energy bins reach {top:g} meV: write "
                           f"frames at most {nyquist_energy(frame_time=1.0) / top:.3g} fs "
                           "apart"}
    window, step, sigma = md_window(request)
    if n_frames < window + 1:
        return {prop: f"{n_frames} frames ({n_frames * dt / 1000:.3g} ps at {dt:g} fs): energy "
                      f"bins of {step:g} meV and a resolution down to sigma {sigma:.3g} meV "
                      f"need a correlation window of {window} lags, so at least {window + 1} "
                      f"frames ({window * dt / 1000:.3g} ps), more for averaging; give a "
                      "longer trajectory"}
    return {}
