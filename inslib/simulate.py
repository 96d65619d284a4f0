"""Powder simulations on instrument templates: what SimulatePowderSQE runs.

The result has the template's bins, mask and metadata (a measured workspace or an instrument
setting), energy resolution from the instrument model and the Bose factor at the temperature.

Terms: ``coherent`` = coherent one-phonon S(Q,E) powder-averaged from the modes; ``incoherent``
= incoherent one-phonon (incoherent cross-sections) plus multiphonon orders 2..N in the
incoherent approximation with the total cross-section. With ``coherent`` off, the cheaper
incoherent approximation uses the total cross-section for every order (OCLIMAX TASK=0).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inslib.histogram import Histogram, Log
from inslib.instruments import load_instrument
from inslib.instruments.resolution import resolution_fwhm, resolved_settings
from inslib.scattering.broadening import FWHM_TO_SIGMA, bin_kernel
from inslib.scattering.powder import PowderSampling, coherent_powder, convergence
from inslib.templates import TemplateRequest, create_sqe_template

MAX_IMAGINARY_FRACTION = 0.05  # more imaginary modes than this on the grid: refused
Q_SUBSAMPLES = 4  # |Q| points per bin for the (smooth) incoherent terms
OVERSAMPLE = 8  # fine energy points per output bin before resolution and binning


class SimulationError(ValueError):
    """A simulation request that cannot be run; the message names the property."""


def raise_errors(errors: dict) -> None:
    """Raise SimulationError listing {property: message} when there is any."""
    if errors:
        raise SimulationError("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
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


def device_error(choice: str) -> dict:
    """{"Device": reason} where the Device property cannot be used, else {} (torch only for GPU)."""
    from inslib.phonons.model import device_problem

    problem = device_problem(choice)
    return {"Device": problem} if problem else {}


def validate_powder(request: PowderRequest) -> dict:
    """Return {property: message} for everything wrong with a powder request."""
    from inslib.templates import validate_request

    errors = dict(validate_request(request.template))
    if not Path(request.force_constants).is_file():
        errors["ForceConstantsFile"] = f"file not found: {request.force_constants!r}"
    if request.structure and not Path(request.structure).is_file():
        errors["StructureFile"] = f"file not found: {request.structure!r}"
    temperature = _temperature(request)
    if temperature is None:
        errors["Temperature"] = "give the sample temperature in K (>= 0)"
    elif temperature < 0:
        errors["Temperature"] = f"must be >= 0 K, got {temperature}"
    if not (request.coherent or request.incoherent):
        errors["Coherent"] = "both Coherent and Incoherent are off: nothing to simulate"
    if request.multiphonon_order < 1:
        errors["MultiphononOrder"] = f"must be >= 1, got {request.multiphonon_order}"
    if request.grid < 2:
        errors["MeshSize"] = f"must be >= 2, got {request.grid}"
    if request.sampling.n_directions < 2 or request.sampling.n_directions % 2:
        errors["DirectionsPerShell"] = "must be an even number >= 2"
    return errors | device_error(request.device)


def _temperature(request: PowderRequest):
    template = request.template
    if template.temperature is not None:
        return template.temperature
    return template.template.metadata.temperature if template.template is not None else None


def simulate_powder(request: PowderRequest, progress=None) -> Histogram:
    """S(|Q|, E) of a powder on the template of ``request.template``.

    Returns
    -------
    Histogram
        Signal in mbarn/meV per atom (bin averages), NaN where masked; logs record the terms,
        temperature, imaginary modes and the powder-average convergence estimate.
    """
    raise_errors(validate_powder(request))
    return _powder_map(request, progress)


def _powder_map(request: PowderRequest, progress) -> Histogram:
    report = progress or (lambda _fraction, _message: None)
    temperature = float(_temperature(request))
    template = create_sqe_template(request.template)
    if template.mask.all():
        q, e = template.axes[0].edges, template.axes[1].edges
        msg = (f"QBinning/EBinning: no (|Q|, E) bin of |Q| {q[0]:g}-{q[-1]:g} 1/A, E "
               f"{e[0]:g}-{e[-1]:g} meV is reachable on {template.metadata.instrument} at this "
               "setting; choose bins inside the kinematic range (CreateSQETemplate shows it)")
        raise SimulationError(msg)
    setup = cached_setup(request.force_constants, request.structure, temperature, request.grid,
                         request.device)
    report(0.1, "modes on the grid, Debye-Waller, DOS")
    q_edges, e_edges = template.axes[0].edges, template.axes[1].edges
    fine_edges, sigma = _fine_grid(request, template, e_edges)
    kernel = bin_kernel(0.5 * (fine_edges[1:] + fine_edges[:-1]), sigma, e_edges)
    signal = np.zeros((len(q_edges) - 1, len(e_edges) - 1))
    logs = {}
    if request.coherent:
        halves = coherent_powder(
            setup.model, q_edges, fine_edges, temperature, setup.dw, request.sampling,
            progress=lambda f: report(0.1 + 0.8 * f, "coherent powder average"))
        halves = halves @ kernel.T
        signal += halves.mean(axis=0)
        logs["PowderConvergence"] = Log(convergence(np.where(template.mask, 0.0, halves)))
    if request.incoherent:
        signal += _incoherent(setup, request, q_edges, fine_edges, temperature) @ kernel.T
    signal = _q_broadening(signal, q_edges, request.q_resolution)
    report(1.0, "done")
    return _result(template, signal, request, temperature, setup, logs)


def run_powder(request: PowderRequest, progress=None) -> Histogram:
    """Run the simulation the instrument calls for: a map (direct) or S(E) per bank (indirect)."""
    raise_errors(validate_powder(request))
    instrument = request.template.instrument or request.template.template.metadata.instrument
    if load_instrument(instrument).geometry == "indirect":
        from inslib.indirect import simulate_indirect

        return simulate_indirect(request, progress)
    return _powder_map(request, progress)


def _fine_grid(request, template, e_edges):
    instrument = load_instrument(template.metadata.instrument)
    settings = resolved_settings(instrument, request.template.settings)
    fixed = template.metadata.ei or template.metadata.efixed
    step = float(np.min(np.diff(e_edges))) / OVERSAMPLE
    n = round((e_edges[-1] - e_edges[0]) / step)
    fine_edges = e_edges[0] + step * np.arange(n + 1)
    centres = 0.5 * (fine_edges[1:] + fine_edges[:-1])
    fwhm = resolution_fwhm(instrument, centres, ei=fixed, settings=settings)
    return fine_edges, np.nan_to_num(fwhm, nan=0.0) * FWHM_TO_SIGMA


def _incoherent(setup, request, q_edges, fine_edges, temperature) -> np.ndarray:
    from inslib.scattering.incoherent import incoherent_sqe, multiphonon_terms

    crystal = setup.model.crystal
    data = crystal.scattering
    total = data["sigma_coh"] + data["sigma_inc"]
    sigma_one = data["sigma_inc"] if request.coherent else total
    step = float(fine_edges[1] - fine_edges[0])
    e_limit = float(max(abs(fine_edges[0]), abs(fine_edges[-1])))
    terms = multiphonon_terms(setup.dos, crystal, temperature, request.multiphonon_order,
                              e_limit, step, request.creation_only)
    frac = (np.arange(Q_SUBSAMPLES) + 0.5) / Q_SUBSAMPLES
    q = (q_edges[:-1, None] + np.diff(q_edges)[:, None] * frac[None]).ravel()
    centres = 0.5 * (fine_edges[1:] + fine_edges[:-1])
    sqe = incoherent_sqe(terms, crystal, q, sigma_one, total, energy=centres)
    on_fine = sqe.reshape(len(q_edges) - 1, Q_SUBSAMPLES, -1).mean(axis=1)
    return on_fine * step


def _q_broadening(signal, q_edges, fwhm: float) -> np.ndarray:
    if fwhm <= 0:
        return signal
    centres = 0.5 * (q_edges[1:] + q_edges[:-1])
    widths = np.diff(q_edges)
    kernel = bin_kernel(centres, fwhm * FWHM_TO_SIGMA, q_edges) * widths[:, None]
    return kernel @ signal


def _mode(request) -> str:
    return "creation only" if request.creation_only else "complete"


def _result(template, signal, request, temperature, setup, logs) -> Histogram:
    meta = template.metadata
    meta.temperature = temperature
    terms = [name for name, on in (("coherent", request.coherent),
                                   ("incoherent", request.incoherent)) if on]
    meta.title = f"Simulated S(|Q|,E): {Path(request.force_constants).name}, {temperature:g} K"
    meta.provenance = [*meta.provenance,
                       f"SimulatePowderSQE: {' + '.join(terms)}, multiphonon order "
                       f"{request.multiphonon_order} ({_mode(request)}), mesh {request.grid}^3, "
                       f"force constants {setup.source}"]
    meta.logs.update(logs | setup_logs(setup))
    meta.logs["LowestModeEnergy"] = Log(float(setup.dos.lowest), "meV")
    meta.logs["MultiphononOrder"] = Log(float(request.multiphonon_order))
    signal = np.where(template.mask, np.nan, signal)
    return Histogram(template.axes, signal, np.zeros(signal.shape), template.mask.copy(), meta,
                     y_unit_label="mbarn/meV per atom")


@dataclass
class Setup:
    """Everything expensive that depends only on the model, temperature and mesh."""

    model: object
    dw: object
    dos: object
    source: str
    warnings: list = field(default_factory=list)


def setup_logs(setup: Setup) -> dict:
    """Return the logs every simulation carries about its model (modes, device, warnings)."""
    logs = {"ImaginaryModes": Log(float(setup.dos.n_imaginary)),
            "Device": Log(str(setup.model.opts["device"]))}
    if setup.warnings:
        logs["Warnings"] = Log("; ".join(setup.warnings))
    return logs


_CACHE: dict = {}
_CACHE_SIZE = 4


def _file_key(path: str) -> tuple:
    """Identity of an input file and of the phonopy files read beside it (name, mtime, size)."""
    if not path:
        return ("",)
    path = Path(path)
    siblings = [path.parent / name for name in ("FORCE_SETS", "FORCE_CONSTANTS", "BORN",
                                                 "SPOSCAR")]
    return tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size)
                 for f in [path, *siblings] if f.is_file())


def cached_setup(fc_path: str, structure: str, temperature: float, grid: int,
                 device: str = "Auto") -> Setup:
    """Model, Debye-Waller and DOS, cached on (files and their mtimes, temperature, mesh, device).

    A live-reduction loop that calls the algorithm again with the same model reuses them.
    ``device`` is a Device property value (Auto, CPU, GPU).
    """
    from inslib.phonons.model import resolve_device

    device = resolve_device(device)
    key = (_file_key(fc_path), _file_key(structure), float(temperature), int(grid), device)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _build_setup(fc_path, structure, temperature, grid, device)
    return _CACHE[key]


def _build_setup(fc_path, structure, temperature, grid, device) -> Setup:
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.dos import density_of_states
    from inslib.scattering.thermal import debye_waller

    fcs = to_primitive(load_force_constants(fc_path, structure=structure or None))
    model = PhononModel(fcs, device=device)
    dos = density_of_states(model, (grid,) * 3, width=0.05)
    n_modes = grid**3 * 3 * fcs.crystal.n_atoms
    if dos.n_imaginary > MAX_IMAGINARY_FRACTION * n_modes:
        msg = (f"ForceConstantsFile: {dos.n_imaginary} of {n_modes} modes on the {grid}^3 mesh are "
               f"imaginary (down to {dos.lowest:.2f} meV at q = {np.round(dos.lowest_q, 3)}): "
               "the structure is dynamically unstable "
               "or the force constants are not converged; relax the structure or enlarge the "
               "supercell")
        raise SimulationError(msg)
    dw = debye_waller(model, temperature, (grid,) * 3)
    return Setup(model, dw, dos, str(fc_path), _model_warnings(fcs, dos))


def _model_warnings(fcs, dos) -> list:
    """Things a user should know about the model before trusting the result."""
    warnings = []
    if not fcs.has_born and len(set(fcs.crystal.symbols)) > 1:
        warnings.append("no Born charges: if the material is polar (ionic), LO-TO splitting and "
                        "the long-range dipole forces are missing; put BORN beside the phonopy "
                        "file")
    if dos.n_imaginary:
        warnings.append(f"{dos.n_imaginary} imaginary modes on the mesh (down to "
                        f"{dos.lowest:.2f} meV at q = {np.round(dos.lowest_q, 3).tolist()}, "
                        "r.l.u. of the primitive cell): left out of the intensities")
    return warnings
