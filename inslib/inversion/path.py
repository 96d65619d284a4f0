"""The inversion problem of a single-crystal q-path map (FoldBrillouinZone's output).

A fold averages the voxels of a 4D volume whose Wigner-Seitz-reduced q lies within the
half-width (the PathHalfWidth log: a cylinder radius or two box half-widths) of a symmetry image
of the path, in the zones kept, into the path's bins. The model of a bin is that average taken
on the model, S(Q, E) being the simulation's coherent one-phonon model
(:class:`~inslib.simulation.forward.RowsForward`):

* with the volume's Q axes known (``volume_axes``), exactly the fold's: the fold's own matching
  (:func:`~inslib.folding.geometry.build_fold`, the same zones) on the volume's voxels, every
  voxel the mean of ``samples`` random points inside it, each bin the multiplicity-weighted
  mean of its voxels (as the fold of a volume without errors and without masked voxels);
* otherwise, the continuous limit: points drawn along the bin and across the cross-section,
  carried to every distinct image of the segment (the fold's point group, time reversal
  included) and to every zone G of ``zones``. Voxels that are not small against the bins and
  the half-width make the fold differ from this limit (see tests/unit/inversion/
  test_path_inversion.py).

Positions along the path and the cross-section use the fold's metric (the workspace's
lattice); hkl of the fold's conventional cell are mapped to the model's primitive cell through
the crystal's conventional standard cell (:func:`~inslib.simulation.grid.hkl_cell`), as the 4D
simulation does. The energy edges are the workspace's; the resolution is the fold's (given).
A map without the PathHalfWidth log is SimulateSingleCrystalSQE's QPath: the line itself in
zone 0,0,0, its path in the model's own cell, without images.
"""

import hashlib
from dataclasses import dataclass, field, replace

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

PATH_TOLERANCE = 1e-6  # relative mismatch of the path length with the workspace's axis
_FORWARDS: dict = {}


@dataclass(frozen=True)
class PathRequest:
    """An inversion of a q-path map (InvertForceConstants property names in comments).

    Parameters
    ----------
    measured : inslib.histogram.Histogram
        InputWorkspace: I(path distance in 1/Angstrom, DeltaE in meV), FoldBrillouinZone's
        output (its mask, errors, lattice, temperature and PathHalfWidth log are read) or
        SimulateSingleCrystalSQE's q-path map (no PathHalfWidth log).
    force_constants, structure : str
        ForceConstantsFile, StructureFile of the model.
    path : str
        QPath the map was made on ("G-X-U|K-G-L", "[0,0,0]-[0,1,0]", "auto"): hkl of the
        conventional cell for a fold, of the model's cell for a q-path simulation.
    fwhm : float or callable or None
        EnergyResolution: FWHM (meV) of the fold's energy resolution, a constant or a function
        of energy; None = the instrument and Ei of the workspace.
    settings : dict
        ChopperPackage / ChopperFrequency -> value for that instrument (empty = its default).
    symmetry, space_group : str
        The fold's StructureFile or SpaceGroup (with the workspace's lattice); both empty =
        the model's crystal.
    zones : str
        The fold's Zones ("h,k,l;h,k,l", conventional hkl); "" = every zone of the volume
        (``volume_axes``), zone 0,0,0 alone in the continuous limit.
    time_reversal : bool
        The fold's TimeReversal.
    shells, parameters, parameter_range, e_min, e_max, fit_resolution
        As :class:`~inslib.inversion.request.InversionRequest` (Shells, FittedParameters,
        ParameterRange, EMin, EMax (None: 0.95 Ei, else no limit), FitResolution).
    temperature : float or None
        K; None = the workspace's.
    volume_axes : sequence of 3 inslib.axes.Axis or None
        The Q axes of the 4D volume the fold read (bin edges in r.l.u., projection): the model
        is then folded exactly as the fold matched the voxels; None = the continuous limit.
    samples, grid, seed : int
        Model points per voxel and Q dimension, or per bin, segment image and zone
        (SamplesPerBin); Debye-Waller mesh n x n x n (MeshSize); seed of the points.
    """

    measured: object
    force_constants: str
    structure: str = ""
    supercell: str = ""
    path: str = "auto"
    fwhm: object = None
    settings: dict = field(default_factory=dict)
    symmetry: str = ""
    space_group: str = ""
    zones: str = ""
    time_reversal: bool = True
    shells: int = 2
    parameters: tuple = ()
    parameter_range: float = 0.5
    e_min: float = 2.0
    e_max: float | None = None
    fit_resolution: bool = False
    temperature: float | None = None
    volume_axes: tuple | None = None
    samples: int = 4
    grid: int = 16
    seed: int = 0


@dataclass
class PathPoints:
    """Model sample points of a path map and how they fold into its bins.

    Attributes
    ----------
    hkl : numpy.ndarray, shape (n_points, 3)
        Q of every point, r.l.u. of the path's cell (zone included).
    rows : numpy.ndarray of int, shape (n_points,)
        Row of every point (a voxel, or a path bin).
    per_row : float
        Points per row (a row's value is their mean).
    weights : numpy.ndarray, shape (n_bins, n_rows)
        Bin = weights @ rows; each non-empty bin's weights sum to 1.
    """

    hkl: np.ndarray
    rows: np.ndarray
    per_row: float
    weights: np.ndarray


@dataclass
class FoldFrame:
    """What the fold of a q-path used: its geometry, path and cross-section.

    Attributes
    ----------
    geometry : inslib.folding.geometry.FoldGeometry
        Point group (identity alone for a q-path map), metric (1/Angstrom^2) and primitive
        basis of the path's cell.
    segments : list
        From :func:`~inslib.simulation.qpath.parse_path`, hkl of the path's cell.
    widths : numpy.ndarray, shape (0,), (1,) or (2,)
        Half-widths of the cross-section, 1/Angstrom (none: a line).
    conventional : bool
        hkl of the conventional cell (a fold), else of the model's own cell (a q-path map).
    """

    geometry: object
    segments: list
    widths: np.ndarray
    conventional: bool


def build_path_problem(request: PathRequest) -> Problem:
    """Build the fit problem of a q-path map; the forward model is cached on content."""
    basis, fcs, reference, unit = reference_parameters(
        request.force_constants, request.structure, request.supercell, request.shells)
    bounds = parameter_bounds(basis.names, request)
    measured = request.measured
    temperature = _temperature(request)
    resolution = _resolution(request)
    key = (fcs.digest(), request.shells, _key(request, resolution), temperature)
    if key not in _FORWARDS:
        remember(_FORWARDS, key, _forward(request, basis, fcs, reference, unit, temperature,
                                          resolution))
    model, forward = _FORWARDS[key]
    centres = measured.axes[1].centres
    errors = None if measured.variance is None else np.sqrt(np.abs(measured.variance))
    data = measurement(measured.signal, errors, ~measured.mask, centres, request.e_min,
                       energy_limit(request.e_max, request.measured.metadata.ei))
    sigma = _sigma(resolution, centres) if request.fit_resolution else None
    return Problem(basis, reference, unit, bounds, model, forward, data, measured.mask, centres,
                   sigma)


def _forward(request, basis, fcs, reference, unit, temperature, resolution):
    """Phonon model of the projected reference and the path forward model.

    Returns
    -------
    model : PhononModel
    forward : callable
        fc torch (n_sets, n_cells, 3N, 3N) -> maps torch (n_sets, n_bins, n_e), mbarn/meV per
        atom.
    """
    import torch

    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.simulation.forward import RowsForward
    from inslib.simulation.grid import CHUNK

    model = PhononModel(basis.force_constants(reference, like=to_primitive(fcs)))
    frame = fold_frame(request, model.crystal)
    points = (voxel_points if request.volume_axes is not None else line_points)(request, frame)
    wide = np.array([[-request.parameter_range, request.parameter_range]] * len(reference))
    thermal = box_thermal(model, basis, reference, unit, wide, temperature, request.grid)
    q_frac = model_fractions(points.hkl, model.crystal, frame.conventional)
    rows = RowsForward(model, q_frac, points.rows, points.weights.shape[1], points.per_row,
                       request.measured.axes[1].edges, resolution, thermal, CHUNK)
    weights = torch.as_tensor(points.weights, **model.opts)
    return model, (lambda fc: weights @ rows(fc))


def model_fractions(hkl: np.ndarray, crystal, conventional: bool = True) -> np.ndarray:
    """Q (n, 3), r.l.u., in fractions of the model's reciprocal lattice (n, 3).

    With ``conventional`` the r.l.u. are those of the conventional standard cell of the
    model's crystal, in its Cartesian frame (as SimulateSingleCrystalSQE's grids); else of the
    model's own cell (as its q-paths).
    """
    from inslib.simulation.grid import hkl_cell

    cell = hkl_cell(crystal) if conventional else crystal.cell
    cartesian = hkl @ (2 * np.pi * np.linalg.inv(cell).T)
    return cartesian @ np.linalg.inv(crystal.reciprocal)


def fold_frame(request: PathRequest, crystal) -> FoldFrame:
    """Return the fold's geometry, path and cross-section (``crystal``: the model's).

    A map without the PathHalfWidth log (a q-path simulation) has its path in the model's
    cell and no other image than itself.
    """
    from inslib.folding.geometry import fold_geometry
    from inslib.simulation.qpath import parse_path

    widths = _half_widths(request.measured)
    folded = len(widths) > 0
    frame_crystal = _symmetry_crystal(request, crystal) if folded else crystal
    geometry = fold_geometry(frame_crystal, request.measured.metadata.lattice,
                             request.time_reversal)
    if not folded:
        geometry = replace(geometry, operations=np.eye(3)[None])
    return FoldFrame(geometry, parse_path(request.path, frame_crystal), widths, folded)


def voxel_points(request: PathRequest, frame: FoldFrame) -> PathPoints:
    """Stratified random points in every voxel the fold matched, and the fold's bin weights.

    ``samples`` per voxel and Q dimension (``samples``^3 in all), as the 4D simulation draws
    them.

    Raises
    ------
    PathError
        When no PathStep reproduces the workspace's path axis.
    """
    from inslib.folding.geometry import build_fold
    from inslib.folding.run import voxel_hkl

    axes = request.volume_axes
    fold = build_fold(voxel_hkl(axes), frame.segments, frame.geometry, frame.widths,
                      _path_step(request, frame))
    fold = _selected(fold, request.zones, frame.geometry)
    used, column = np.unique(fold.match_cols, return_inverse=True)
    weights = np.zeros((fold.matrix.shape[0], len(used)))
    np.add.at(weights, (fold.match_rows, column.ravel()), 1.0)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    index = np.unravel_index(used, [a.size for a in axes[:3]], order="F")  # D0 fastest
    n = request.samples
    strata = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    inside = (strata + np.random.default_rng(request.seed).random((n**3, len(used), 3))) / n
    coords = np.stack([a.edges[i] + np.diff(a.edges)[i] * inside[..., d]
                       for d, (a, i) in enumerate(zip(axes[:3], index, strict=True))], axis=-1)
    projections = np.array([a.projection for a in axes[:3]], float)
    rows = np.tile(np.arange(len(used)), n**3)
    return PathPoints(coords.reshape(-1, 3) @ projections, rows, float(n**3), weights)


def _path_step(request: PathRequest, frame: FoldFrame) -> float:
    """Return a PathStep whose bins are the workspace's path axis (some segment's bin width)."""
    from inslib.folding.geometry import path_bins
    from inslib.simulation.qpath import PathError

    edges = request.measured.axes[0].edges
    segment, _, _ = _bin_segments(request.measured.axes[0], frame.segments,
                                  frame.geometry.metric, request.path)
    counts = np.bincount(segment, minlength=len(frame.segments))
    lengths = np.diff(_segment_starts(frame.segments, frame.geometry.metric))
    for step in lengths / np.maximum(counts, 1):
        if np.allclose(path_bins(frame.segments, frame.geometry.metric, step)[1], edges,
                       rtol=PATH_TOLERANCE, atol=PATH_TOLERANCE):
            return float(step)
    msg = (f"QPath={request.path!r}: no path step gives the workspace's {len(edges) - 1} "
           "path bins: give the fold's output as it was written")
    raise PathError(msg)


def _selected(fold, zones: str, geometry):
    """Keep the fold's matches in the zones given ("" = all), as FoldBrillouinZone's Zones."""
    from inslib.folding.geometry import select_zones
    from inslib.folding.run import parse_zones

    if not zones.strip():
        return fold
    allowed = {tuple(np.rint(hkl @ geometry.to_primitive).astype(int).tolist())
               for hkl in parse_zones(zones)}
    return select_zones(fold, allowed)


def line_points(request: PathRequest, frame: FoldFrame) -> PathPoints:
    """Points along every bin and across the cross-section, over images and zones."""
    from inslib.folding.geometry import perpendiculars, segment_images
    from inslib.folding.run import parse_zones

    geometry, segments = frame.geometry, frame.segments
    frames = [perpendiculars(qb - qa, geometry.metric) for _, _, qa, qb in segments]
    images = segment_images(segments, geometry.operations,
                            frames if len(frame.widths) == 2 else None)
    segment, t_lo, t_hi = _bin_segments(request.measured.axes[0], segments, geometry.metric,
                                        request.path)
    zones = np.array(parse_zones(request.zones) or [np.zeros(3)])
    rng = np.random.default_rng(request.seed)
    hkl, rows = [], []
    for s, a, b, k in images:
        bins = np.repeat(np.flatnonzero(segment == s), request.samples)
        stratum = np.tile(np.arange(request.samples), len(bins) // request.samples)
        t = t_lo[bins] + (t_hi[bins] - t_lo[bins]) * (stratum + rng.random(len(bins))) \
            / request.samples
        line = a + t[:, None] * (b - a) + _offsets(frame.widths, len(bins), rng) @ (
            frames[s] @ geometry.operations[k])
        hkl.append((zones[:, None, :] + line[None]).reshape(-1, 3))
        rows.append(np.tile(bins, len(zones)))
    rows = np.concatenate(rows)
    counts = np.bincount(rows, minlength=len(segment))
    return PathPoints(np.concatenate(hkl), rows, 1.0, np.diag(1.0 / np.maximum(counts, 1)))


def _offsets(widths: np.ndarray, n: int, rng) -> np.ndarray:
    """Uniform points (n, 2) of the fold's cross-section, 1/Angstrom along its two directions.

    ``widths``: none (a line), one (cylinder radius) or two (box half-widths), 1/Angstrom.
    """
    if len(widths) == 0:
        return np.zeros((n, 2))
    if len(widths) == 2:
        return widths * rng.uniform(-1.0, 1.0, (n, 2))
    radius, angle = widths[0] * np.sqrt(rng.random(n)), 2 * np.pi * rng.random(n)
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _half_widths(measured) -> np.ndarray:
    """Return the fold's PathHalfWidth log (1/Angstrom, 1 or 2 values); none for a path map."""
    from inslib.logs import PATH_HALF_WIDTH

    log = measured.metadata.logs.get(PATH_HALF_WIDTH)
    return np.zeros(0) if log is None else np.atleast_1d(np.asarray(log.value, float))


def _bin_segments(axis, segments, metric, path: str) -> tuple:
    """Segment and fractions t (0-1 along it) of both ends of every bin of the path axis.

    Raises
    ------
    PathError
        When the segments' lengths (in the fold's metric) do not end where the axis does.
    """
    from inslib.simulation.qpath import PathError

    starts = _segment_starts(segments, metric)
    lengths = np.diff(starts)
    edges = axis.edges
    if abs(edges[-1] - starts[-1]) > PATH_TOLERANCE * starts[-1]:
        msg = (f"QPath={path!r}: the path is {starts[-1]:.6g} 1/A long in the workspace's "
               f"lattice but its axis ends at {edges[-1]:.6g} 1/A: give the QPath (and "
               "symmetry) the fold used")
        raise PathError(msg)
    middle = 0.5 * (edges[1:] + edges[:-1])
    segment = np.clip(np.searchsorted(starts, middle) - 1, 0, len(segments) - 1)
    t_lo = np.clip((edges[:-1] - starts[segment]) / lengths[segment], 0.0, 1.0)
    t_hi = np.clip((edges[1:] - starts[segment]) / lengths[segment], 0.0, 1.0)
    return segment, t_lo, t_hi


def _segment_starts(segments, metric) -> np.ndarray:
    """Path coordinate of the start of every segment and of the end, 1/Angstrom."""
    lengths = [np.sqrt((qb - qa) @ metric @ (qb - qa)) for _, _, qa, qb in segments]
    return np.concatenate([[0.0], np.cumsum(lengths)])


def _symmetry_crystal(request: PathRequest, crystal):
    """Return the fold's conventional crystal: its StructureFile or SpaceGroup, else the model's."""
    from inslib.folding.run import FoldRequest, symmetry_crystal
    from inslib.structure import conventional

    if not (request.symmetry or request.space_group):
        return conventional(crystal)
    fold = FoldRequest(structure=request.symmetry, space_group=request.space_group)
    return symmetry_crystal(fold, request.measured.metadata)


def _temperature(request: PathRequest) -> float:
    """Temperature of the fit (K): the request's, else the workspace's."""
    temperature = request.temperature
    if temperature is None:
        temperature = request.measured.metadata.temperature
    if temperature is None:
        msg = "Temperature: the InputWorkspace records none: give the sample temperature in K"
        raise ValueError(msg)
    return float(temperature)


def _resolution(request: PathRequest):
    """Energy resolution of the fold on its energy bins (Resolution)."""
    from inslib.scattering.binning import Resolution

    fwhm, meta = request.fwhm, request.measured.metadata
    if fwhm is None:
        if not (meta.instrument and meta.ei):
            msg = ("EnergyResolution: the InputWorkspace records no instrument and Ei: give "
                   "the fold's energy resolution FWHM in meV")
            raise ValueError(msg)
        from inslib.instruments import load_instrument
        from inslib.instruments.resolution import fwhm_function, resolved_settings

        instrument = load_instrument(meta.instrument)
        fwhm = fwhm_function(instrument, meta.ei, resolved_settings(instrument, request.settings))
    return Resolution.of(fwhm, request.measured.axes[1].edges)


def _sigma(resolution, centres: np.ndarray) -> np.ndarray:
    """Gaussian sigma (meV) of the resolution at the energy centres, shape (n_e,)."""
    import torch

    return resolution(torch.as_tensor(centres, dtype=torch.float64)).numpy()


def _key(request: PathRequest, resolution) -> tuple:
    """Everything of the request the forward model depends on (not the measured values)."""
    digest = hashlib.sha256()
    axes = request.measured.axes
    for array in (axes[0].edges, axes[1].edges, _half_widths(request.measured),
                  resolution.energy, resolution.sigma):
        digest.update(np.ascontiguousarray(array, float).tobytes())
    return (digest.hexdigest(), request.path, request.symmetry, request.space_group,
            repr(request.measured.metadata.lattice), request.zones,
            request.time_reversal, float(request.parameter_range), request.samples,
            request.grid, request.seed, _axes_key(request.volume_axes))


def _axes_key(axes) -> str:
    """Digest of the volume's Q axes (edges and projections), or "" without them."""
    if axes is None:
        return ""
    digest = hashlib.sha256()
    for axis in axes[:3]:
        digest.update(np.ascontiguousarray(axis.edges, float).tobytes())
        digest.update(np.asarray(axis.projection, float).tobytes())
    return digest.hexdigest()
