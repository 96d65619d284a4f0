"""What SimulateSingleCrystalSQE runs: 4D grids, cuts and slices, or q-paths, from force constants.

The model set-up (modes on the mesh, Debye-Waller) is cached with the powder simulation's. The
energy resolution is the instrument's (Instrument + Ei) or a constant FWHM. With a template
(an MDNorm / SaveMD histogram) the result has its dimensions, bins, mask and metadata.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inslib.axes import Axis, energy_axis, parse_binning
from inslib.histogram import Histogram, Log, Metadata
from inslib.simulate import (
    SimulationError,
    cached_setup,
    device_error,
    raise_errors,
    setup_logs,
)
from inslib.single_crystal import GridRequest, hkl_cell, simulate_grid


@dataclass
class SingleCrystalRequest:
    """Inputs of a single-crystal simulation (property names in the comments).

    Parameters
    ----------
    force_constants, structure : str
        ForceConstantsFile, StructureFile.
    projections : numpy.ndarray, shape (3, 3)
        QDimension0..2 (rows, r.l.u. of the HKL cell).
    q_binning : list of str
        Dimension0Binning..Dimension2Binning ("min,step,max" or "min,max" = integrated).
    e_binning : str
        Dimension3Binning, meV.
    temperature : float or None
        Temperature, K.
    instrument, ei : str, float or None
        Instrument and Ei for the energy resolution (else ``fwhm``).
    fwhm : float
        EnergyResolution: constant FWHM in meV when no instrument is given.
    q_fwhm : float
        QResolution: isotropic Gaussian Q resolution FWHM in 1/Angstrom (grids; 0 = none).
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
    """

    force_constants: str
    structure: str = ""
    projections: np.ndarray = field(default_factory=lambda: np.eye(3))
    q_binning: list = field(default_factory=lambda: ["-2,0.05,2", "-0.05,0.05", "-0.05,0.05"])
    e_binning: str = "0,0.5,40"
    temperature: float | None = None
    instrument: str = ""
    ei: float | None = None
    fwhm: float = 0.0
    q_fwhm: float = 0.0
    hkl: str = "Conventional"
    samples: int = 1
    seed: int = 0
    grid: int = 16
    path: str = ""
    path_step: float = 0.02
    template: Histogram | None = None
    device: str = "Auto"


def validate_single_crystal(request: SingleCrystalRequest) -> dict:
    """Return {property: message} for everything wrong with a request."""
    errors = {}
    if not Path(request.force_constants).is_file():
        errors["ForceConstantsFile"] = f"file not found: {request.force_constants!r}"
    if request.temperature is None or request.temperature < 0:
        errors["Temperature"] = (f"give the sample temperature in K (>= 0), got "
                                 f"{request.temperature}")
    projections = np.asarray(request.projections, dtype=float)
    if projections.shape != (3, 3) or abs(np.linalg.det(projections)) < 1e-9:
        errors["QDimension2"] = "QDimension0..2 must be three independent HKL vectors"
    if request.template is not None and len(request.template.axes) != 4:
        errors["InputWorkspace"] = (f"needs a 4D MD histogram (3 HKL dimensions + DeltaE), got "
                                    f"{len(request.template.axes)} dimensions")
    for index, text in enumerate(request.q_binning):
        if isinstance(text, str):
            try:
                _check_q_binning(text, index)
            except ValueError as err:
                errors[f"Dimension{index}Binning"] = str(err)
    try:
        if isinstance(request.e_binning, str):
            parse_binning(request.e_binning, "Dimension3Binning", "meV")
    except ValueError as err:
        errors["Dimension3Binning"] = str(err)
    if request.samples < 1:
        errors["SamplesPerBin"] = f"must be >= 1, got {request.samples}"
    if request.q_fwhm < 0:
        errors["QResolution"] = f"must be >= 0 (1/Angstrom), got {request.q_fwhm}"
    elif request.path and request.q_fwhm > 0:
        errors["QResolution"] = (f"applies to grids only, not to QPath {request.path!r}: "
                                 "set it to 0")
    return errors | device_error(request.device)


def _check_q_binning(text: str, index: int) -> None:
    from inslib.single_crystal import _q_edges

    edges, _ = _q_edges(text, index)
    if len(edges) < 2:
        msg = f"Dimension{index}Binning {text!r} gives no bins"
        raise ValueError(msg)


def run_single_crystal(request: SingleCrystalRequest, progress=None) -> Histogram:
    """Simulate a grid (or a q-path) for a validated request."""
    raise_errors(validate_single_crystal(request))
    report = progress or (lambda _fraction, _message: None)
    setup = cached_setup(request.force_constants, request.structure, request.temperature,
                         request.grid, request.device)
    report(0.1, "modes on the mesh, Debye-Waller")
    instrument, fixed = _instrument(request)
    fwhm = _resolution(request, instrument, fixed)
    if request.path:
        from inslib.qpath import simulate_path

        result = simulate_path(setup, request, fwhm, lambda f: report(0.1 + 0.9 * f, "q-path"))
        result.metadata.provenance.append(
            f"SimulateSingleCrystalSQE: coherent one-phonon along {request.path!r}, force "
            f"constants {setup.source}")
        result.metadata.logs.update(setup_logs(setup))
        return result
    grid = _grid_request(request, setup, fwhm)
    result = simulate_grid(setup.model, grid, setup.dw,
                           progress=lambda f: report(0.1 + 0.9 * f, "grid"))
    if request.template is None:
        _kinematic_mask(result, grid, instrument, fixed)
    return _finish(result, request, setup)


def _kinematic_mask(result: Histogram, grid: GridRequest, instrument, fixed) -> None:
    """Mask (NaN) the bins that no sample orientation reaches on the instrument.

    A bin is kept when its |Q| range (bounded from its centre and circumradius) overlaps a
    detector bank's reach at some energy of the bin; a rotation scan covers at most this.
    """
    if instrument is None:
        return
    from inslib.instruments.kinematics import interval_coverage
    from inslib.single_crystal import bin_q_ranges

    q_lo, q_hi = bin_q_ranges(result.axes[:3], grid.projections, grid.hkl_cell)
    covered = interval_coverage(q_lo, q_hi, result.axes[3].edges, fixed, instrument.geometry,
                                instrument.banks_deg)
    result.mask = ~covered.reshape(result.signal.shape)
    result.signal = np.where(result.mask, np.nan, result.signal)
    meta = result.metadata
    meta.instrument = instrument.name
    if instrument.geometry == "direct":
        meta.emode, meta.ei = "Direct", fixed
    else:
        meta.emode, meta.efixed = "Indirect", fixed
    meta.logs["KinematicMask"] = Log(
        f"{instrument.name}, {fixed:g} meV: bins no sample orientation reaches")


def _instrument(request: SingleCrystalRequest):
    """Return the instrument and its fixed energy (Ei or Ef, meV); (None, None) without one."""
    if not request.instrument:
        return None, None
    from inslib.instruments import load_instrument

    instrument = load_instrument(request.instrument)
    fixed = request.ei if instrument.geometry == "direct" else instrument.final_energy
    if instrument.geometry == "direct" and not fixed:
        msg = f"Ei: give the incident energy for {instrument.name} (meV)"
        raise SimulationError(msg)
    return instrument, fixed


def _resolution(request: SingleCrystalRequest, instrument, fixed):
    if instrument is None:
        return float(request.fwhm)
    from inslib.instruments.resolution import resolution_fwhm, resolved_settings

    settings = resolved_settings(instrument, {})

    def fwhm(energy):
        return resolution_fwhm(instrument, energy, ei=fixed, settings=settings)

    return fwhm


def _grid_request(request, setup, fwhm) -> GridRequest:
    cell = hkl_cell(setup.model.crystal) if request.hkl == "Conventional" \
        else setup.model.crystal.cell
    projections, q_binning, e_binning = request.projections, request.q_binning, request.e_binning
    if request.template is not None:
        axes = request.template.axes
        projections = np.array([axis.projection for axis in axes[:3]], dtype=float)
        q_binning = [axis.edges for axis in axes[:3]]
        e_binning = axes[3].edges
    return GridRequest(np.asarray(projections, float), list(q_binning), e_binning,
                       float(request.temperature), fwhm, request.samples, request.seed, cell,
                       q_fwhm=float(request.q_fwhm))


def _finish(result: Histogram, request, setup) -> Histogram:
    meta = result.metadata
    if request.template is not None:
        base = request.template.metadata
        result.mask = np.asarray(request.template.mask, bool).copy()
        result.signal = np.where(result.mask, np.nan, result.signal)
        meta.ub, meta.instrument, meta.ei = base.ub, base.instrument, base.ei
        meta.provenance = list(base.provenance)
    meta.title = (f"Simulated S(Q,E): {Path(request.force_constants).name}, "
                  f"{request.temperature:g} K")
    meta.provenance = [*meta.provenance,
                       f"SimulateSingleCrystalSQE: coherent one-phonon, {request.hkl} HKL cell, "
                       f"{request.samples} sample(s) per bin and Q dimension, force constants "
                       f"{setup.source}"]
    meta.logs.update(setup_logs(setup))
    return result


def path_axis(distance_edges, ticks) -> Axis:
    """Axis along a q-path: cumulative distance (1/Angstrom) with labelled ticks."""
    return Axis(distance_edges, "Path", "Q-path", ticks=tuple(ticks))


def path_histogram(edges, ticks, e_edges, signal, temperature) -> Histogram:
    """Wrap S(q, E) on a path as a Workspace2D-like histogram."""
    meta = Metadata(temperature=temperature, title="Simulated S(q,E) along a q-path")
    return Histogram((path_axis(edges, ticks), energy_axis(e_edges)), signal,
                     np.zeros(signal.shape), np.zeros(signal.shape, bool), meta,
                     y_unit_label="mbarn/meV per atom")

