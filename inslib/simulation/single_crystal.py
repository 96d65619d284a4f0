"""What SimulateSingleCrystalSQE runs: 4D grids, cuts and slices, or q-paths, from force constants.

The model set-up (modes on the mesh, Debye-Waller) is cached with the powder simulation's. The
energy resolution is the instrument's (Instrument + Ei) or a constant FWHM. With a template
(an MDNorm / SaveMD histogram) the result has its dimensions, bins, mask and metadata.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from inslib.axes import parse_binning
from inslib.histogram import Histogram, Log
from inslib.instruments.kinematics import (
    beam_directions,
    interval_coverage,
    orientation_from_vectors,
    rotation_coverage,
    rotations,
)
from inslib.instruments.resolution import fwhm_function, resolved_settings
from inslib.logs import KINEMATIC_MASK
from inslib.scattering.binning import Resolution
from inslib.simulation.forward import RowsForward, Thermal
from inslib.simulation.grid import (
    CHUNK,
    GridRequest,
    bin_balls,
    bin_q_ranges,
    cell_lattice,
    hkl_cell,
    simulate_grid,
)
from inslib.simulation.qpath import parse_path, path_histogram, path_samples
from inslib.simulation.requests import (
    SingleCrystalRequest,
    crystal_instrument,
    crystal_temperature,
    goniometer_axis,
    model_source,
    projection_matrix,
    psi_angles,
    psi_step,
    require_valid,
    scattering_plane,
)
from inslib.simulation.setup import cached_setup, setup_logs


def run_single_crystal(request: SingleCrystalRequest, progress=None) -> Histogram:
    """Simulate a grid (or a q-path) for a request (validated once, see require_valid)."""
    require_valid(request)
    # the temperature resolved once (-1: the InputWorkspace's), the projections as numbers
    request = replace(request, temperature=crystal_temperature(request),
                      projections=projection_matrix(request))
    report = progress or (lambda _fraction, _message: None)
    setup = cached_setup(*model_source(request), request.temperature, request.grid,
                         request.device)
    report(0.1, "modes on the mesh, Debye-Waller")
    instrument, fixed = crystal_instrument(request)
    fwhm = energy_resolution(request, instrument, fixed)
    if request.path:
        qe = qe_resolution(request, instrument, fixed, setup.model.crystal.cell)
        result = simulate_path(setup, request, fwhm, lambda f: report(0.1 + 0.9 * f, "q-path"),
                               qe)
        result.metadata.provenance.append(
            f"SimulateSingleCrystalSQE: coherent one-phonon along {request.path!r}, "
            f"{request.qe_resolution} resolution, force constants {setup.source}")
        result.metadata.logs.update(setup_logs(setup))
        return result
    grid = _grid_request(request, setup, fwhm)
    grid = replace(grid, qe_resolution=qe_resolution(request, instrument, fixed, grid.hkl_cell))
    result = simulate_grid(setup.model, grid, setup.dw,
                           progress=lambda f: report(0.1 + 0.9 * f, "grid"))
    if request.template is None:
        _kinematic_mask(result, grid, instrument, fixed, request)
    return _finish(result, request, setup)


def _kinematic_mask(result: Histogram, grid: GridRequest, instrument, fixed,
                    request: SingleCrystalRequest) -> None:
    """Mask (NaN) the bins that the sample orientations do not bring onto the detectors.

    A bin is kept when its |Q| range (bounded from its centre and circumradius) overlaps a
    detector bank's reach at some energy of the bin (every orientation) and, with Psi, when
    one of the goniometer settings also brings its component along the beam to what that
    reach needs (:func:`inslib.instruments.kinematics.rotation_coverage`).
    """
    if instrument is None:
        return
    q_lo, q_hi = bin_q_ranges(result.axes[:3], grid.projections, grid.hkl_cell)
    e_edges = result.axes[3].edges
    covered = interval_coverage(q_lo, q_hi, e_edges, fixed, instrument.geometry,
                                instrument.banks_deg)
    if request.psi:
        centres, radius = bin_balls(result.axes[:3], grid.projections, grid.hkl_cell)
        covered &= rotation_coverage(centres, radius, sample_beams(request, grid.hkl_cell),
                                     e_edges, fixed)
    result.mask = ~covered.reshape(result.signal.shape)
    result.signal = np.where(result.mask, np.nan, result.signal)
    meta = result.metadata
    meta.instrument = instrument.name
    if instrument.geometry == "direct":
        meta.emode, meta.ei = "Direct", fixed
    else:
        meta.emode, meta.efixed = "Indirect", fixed
    meta.logs[KINEMATIC_MASK] = Log(f"{instrument.name}, {fixed:g} meV: {_orientations(request)}")


def sample_beams(request: SingleCrystalRequest, cell) -> np.ndarray:
    """Beam directions (n_psi, 3) in the HKL cell's Cartesian frame for the request's Psi scan.

    ``cell``: the HKL cell, rows in Angstrom; UVector and VVector are in its r.l.u.
    """
    axis, sense = goniometer_axis(request.goniometer_axis)
    return beam_directions(rotations(axis, psi_angles(request.psi), sense),
                           sample_orientation(request, cell))


def sample_orientation(request: SingleCrystalRequest, cell) -> np.ndarray:
    """Orientation U (3, 3) of SetUB(UVector, VVector) at Psi = 0, rows x, y (up), z (beam).

    ``cell``: rows in Angstrom of the cell whose r.l.u. UVector and VVector are in; the
    result is in that cell's Cartesian frame.
    """
    u, v = scattering_plane(request) @ (2 * np.pi * np.linalg.inv(cell).T)
    return orientation_from_vectors(u, v)


def _orientations(request: SingleCrystalRequest) -> str:
    """Say what the kinematic mask assumed about the sample orientations (the log's text)."""
    if not request.psi:
        return "masked bins no sample orientation reaches (all orientations: no Psi given)"
    u, v = (",".join(f"{c:g}" for c in row) for row in scattering_plane(request))
    return (f"masked bins none of the {len(psi_angles(request.psi))} settings Psi="
            f"{request.psi} deg about GoniometerAxis={request.goniometer_axis} reaches (u={u} "
            f"along the beam and v={v} horizontal at Psi=0)")


def energy_resolution(request: SingleCrystalRequest, instrument, fixed):
    """Energy resolution FWHM (meV): the instrument's at Ei (a function) or the constant."""
    if instrument is None:
        return float(request.fwhm)
    return fwhm_function(instrument, fixed, resolved_settings(instrument, request.settings))


def qe_resolution(request: SingleCrystalRequest, instrument, fixed, cell):
    """Return the (Q, E) covariance resolution of QEResolution=Covariance, else None.

    ``cell``: rows in Angstrom of the cell whose r.l.u. UVector / VVector are in (the HKL
    cell of grids, the model's cell of q-paths); the scattering plane they span is horizontal,
    the goniometer axis normal to it, in the model's Cartesian frame. With Psi, each point
    takes the orientation of k_i that the scan measures (``QEResolution.beams``).
    """
    if request.qe_resolution != "Covariance":
        return None
    from inslib.instruments.covariance import setting_geometry
    from inslib.scattering.qe_resolution import QEResolution

    vertical = sample_orientation(request, cell)[1]  # u x v, normal to the scattering plane
    geometry = setting_geometry(instrument.name, float(fixed), request.settings)
    if not request.psi:
        return QEResolution(geometry, vertical, seed=request.seed)
    return QEResolution(geometry, vertical, seed=request.seed, beams=sample_beams(request, cell),
                        half_step=np.radians(psi_step(request.psi)) / 2)


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
                       q_resolution=float(request.q_resolution))


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
                       f"{request.qe_resolution} resolution, "
                       f"{request.samples} sample(s) per bin and binned Q dimension, force "
                       f"constants {setup.source}"]
    meta.logs.update(setup_logs(setup))
    return result


def simulate_path(setup, request: SingleCrystalRequest, fwhm, progress=None,
                  qe=None) -> Histogram:
    """S(q, E) along the requested path: Histogram (path distance, DeltaE).

    The lattice is the crystal's own cell, the frame of the path's points (the writer derives
    the UB from it, U = identity).
    """
    forward, edges, ticks = path_forward(setup.model, request, fwhm, qe=qe)
    signal = forward(dw=setup.dw, progress=progress)[0].cpu().numpy()
    result = path_histogram(edges, ticks, forward.e_edges, signal, float(request.temperature))
    result.metadata.lattice = cell_lattice(setup.model.crystal.cell)
    return result


def path_forward(model, request: SingleCrystalRequest, fwhm, thermal: Thermal | None = None,
                 qe=None):
    """Build the differentiable q-path model of a request (path, steps, samples, energy bins).

    Parameters
    ----------
    model : PhononModel
    fwhm : float or callable
        Energy resolution FWHM, meV (a constant or a function of energy).
    thermal : Thermal, optional
        Temperature and mesh for force-constant sets (the request's temperature by default).
    qe : QEResolution, optional
        The (Q, E) covariance resolution (:func:`qe_resolution`); None = ``fwhm`` alone.

    Returns
    -------
    forward : RowsForward
        Rows = path bins.
    edges : numpy.ndarray, shape (n_bins + 1,)
        Path-distance bin edges, 1/Angstrom.
    ticks : list of (float, str)
        Labelled positions along the path.
    """
    segments = parse_path(request.path, model.crystal)
    rng = np.random.default_rng(request.seed)
    q, bins, edges, ticks = path_samples(segments, model.crystal.reciprocal, request.path_step,
                                         request.samples, rng)
    e_edges = parse_binning(request.e_binning, "Dimension3Binning", "meV")
    thermal = thermal or Thermal(float(request.temperature), request.grid)
    forward = RowsForward(model, q, bins, len(edges) - 1, float(request.samples), e_edges,
                          Resolution.of(fwhm, e_edges), thermal, CHUNK, qe_resolution=qe)
    return forward, edges, ticks
