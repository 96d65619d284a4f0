"""What FoldBrillouinZone runs: read a 4D volume (in memory or streamed from SaveMD), fold it.

A voxel can contribute to one bin several times (c > 1: near Gamma it lies on several images
of a segment; on a zone face it belongs to two zones). Weighting: with separate data and
normalisation volumes (MDNorm's two outputs) both are summed, I = sum(c D) / sum(c N),
var = sum(c^2 var D) / sum(c N)^2 (normalisation errors neglected). With one normalised
volume: inverse-variance means I = sum(c w y) / sum(c w), var = sum(c^2 w) / sum(c w)^2
where every contributing voxel has a variance > 0, otherwise plain means with
var = sum(c^2 var) / sum(c)^2. NaN or masked voxels never contribute. The counts output is
the number of distinct voxels per bin.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.axes import Axis
from inslib.folding.geometry import (
    FoldError,
    build_fold,
    fold_geometry,
    select_zones,
    space_group_crystal,
    zone_coverage,
)
from inslib.histogram import Histogram, Log, Metadata
from inslib.logs import PATH_HALF_WIDTH
from inslib.simulation.errors import format_errors
from inslib.simulation.qpath import PathError, parse_path, path_pairs
from inslib.simulation.requests import check_once
from inslib.structure import StructureError

ENERGY_CHUNK = 8  # energy bins per streamed slab


@dataclass
class FoldRequest:
    """Inputs of FoldBrillouinZone (property names in the comments).

    Parameters
    ----------
    volume : Histogram or str
        InputWorkspace (histogram or SaveMD file): normalised intensity with errors.
    input_file : str
        InputFile: a SaveMD file read slab by slab instead of ``volume``.
    data, normalization : Histogram or str or None
        DataWorkspace / NormalizationWorkspace: MDNorm's two outputs (instead of ``volume``).
    structure : str
        StructureFile for the symmetry (its conventional cell is the HKL frame).
    space_group : str
        SpaceGroup (number or symbol) with ``lattice`` when there is no structure file.
    lattice : tuple or None
        Lattice a, b, c, alpha, beta, gamma; default the input's oriented lattice.
    path : str
        QPath: "auto", labels "G-X-U|K-G-L" or points "[0,0,0]-[0.5,0,0.5]".
    half_width : float or tuple of 2 floats
        PerpendicularHalfWidth, 1/Angstrom: the radius of a cylinder around the path, or two
        half-widths of a box (along c* made perpendicular to the segment, then the third
        direction; see :func:`inslib.folding.geometry.perpendiculars`).
    step : float
        PathStep, 1/Angstrom.
    zones : str
        Zones: "" = all; else "h,k,l;h,k,l" reciprocal lattice vectors (conventional hkl).
    min_coverage : float
        MinZoneCoverage: zones whose contributing voxels are covered less are left out.
    time_reversal : bool
        TimeReversal: add Q -> -Q to the point group.
    """

    volume: object = None
    input_file: str = ""
    data: object = None
    normalization: object = None
    structure: str = ""
    space_group: str = ""
    lattice: tuple | None = None
    path: str = "auto"
    half_width: object = 0.1
    step: float = 0.05
    zones: str = ""
    min_coverage: float = 0.0
    time_reversal: bool = True


class Volume:
    """A 4D histogram read slab by slab along energy (from memory or a SaveMD file)."""

    def __init__(self, source, stack: ExitStack, prop: str):
        self.prop = prop
        if isinstance(source, Histogram):
            self.hist, self.axes, self.metadata = source, tuple(source.axes), source.metadata
            self._data = None
        else:
            from inslib.io.nexus_md import read_md_header
            from inslib.io.nexus_processed import open_nexus

            handle = stack.enter_context(open_nexus(source))
            self._data, self.axes, self.metadata = read_md_header(handle, source)
            self.hist = None
        check_axes(self.axes, prop)

    @property
    def shape(self) -> tuple:
        """(n0, n1, n2, n_e)."""
        return tuple(axis.size for axis in self.axes)

    def slab(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Signal and variance for energy bins [start, stop): (n_e, n_voxels), on-disk order."""
        if self._data is not None:
            signal = self._data["signal"][start:stop]
            variance = self._data["errors_squared"][start:stop]
            masked = self._data["mask"][start:stop].astype(bool)
        else:
            order = (3, 2, 1, 0)
            signal = self.hist.signal[..., start:stop].transpose(order)
            variance = self.hist.variance[..., start:stop].transpose(order)
            masked = self.hist.mask[..., start:stop].transpose(order)
        n = stop - start
        signal = np.where(masked, np.nan, signal).reshape(n, -1)
        return signal, np.asarray(variance, dtype=float).reshape(n, -1)


def check_axes(axes, prop: str) -> None:
    """Refuse anything but three HKL dimensions with projections and an energy dimension."""
    if len(axes) != 4:
        msg = f"{prop}: needs a 4D MD histogram (3 HKL dimensions + DeltaE), got {len(axes)}D"
        raise FoldError(msg)
    for index, axis in enumerate(axes[:3]):
        if axis.frame != "HKL" or axis.projection is None:
            msg = (f"{prop}: dimension D{index} ({axis.name!r}, frame {axis.frame!r}) has no HKL "
                   "frame/projection; bin with MDNorm (or SimulateSingleCrystalSQE) in r.l.u.")
            raise FoldError(msg)
    if axes[3].unit not in ("DeltaE", "meV"):
        msg = f"{prop}: dimension D3 must be the energy transfer, got unit {axes[3].unit!r}"
        raise FoldError(msg)


def voxel_hkl(axes) -> np.ndarray:
    """Return the hkl of every voxel centre in SaveMD's on-disk order (D0 fastest), (n, 3)."""
    centres = [axis.centres for axis in axes[:3]]
    projections = np.array([axis.projection for axis in axes[:3]], dtype=float)
    c2, c1, c0 = np.meshgrid(centres[2], centres[1], centres[0], indexing="ij")
    coords = np.stack([c0.ravel(), c1.ravel(), c2.ravel()], axis=1)
    return coords @ projections


def symmetry_crystal(request: FoldRequest, metadata: Metadata):
    """Return the conventional crystal whose symmetry folds the data."""
    from inslib.structure import conventional, load_structure

    if request.structure:
        return conventional(load_structure(request.structure))
    lattice = request.lattice or metadata.lattice
    if not request.space_group or lattice is None:
        msg = ("StructureFile: give a structure file, or SpaceGroup with Lattice (the input "
               "records no lattice)" if lattice is None else
               "SpaceGroup: give a space group (or a StructureFile)")
        raise FoldError(msg)
    return space_group_crystal(request.space_group, lattice)


def run_fold(request: FoldRequest, progress=None) -> tuple[Histogram, Histogram]:
    """Fold the request's volume: (I(q, E) with errors, contributing-voxel counts)."""
    check_request(request)
    report = progress or (lambda _fraction, _message: None)
    with ExitStack() as stack:
        sources = _sources(request, stack)
        first = sources[0]
        crystal = symmetry_crystal(request, first.metadata)
        lattice = request.lattice or first.metadata.lattice
        geometry = fold_geometry(crystal, lattice, request.time_reversal)
        segments = parse_path(request.path, crystal)
        fold = build_fold(voxel_hkl(first.axes), segments, geometry, request.half_width,
                          request.step)
        report(0.1, "voxels matched to the path")
        fold = _zones(fold, request, sources, geometry)
        if fold.matrix.nnz == 0:
            msg = ("QPath: no voxel of any zone lies within PerpendicularHalfWidth="
                   f"{request.half_width} 1/A of the path; widen it or check the path")
            raise FoldError(msg)
        sums = _accumulate(fold, sources, report)
    return _outputs(sums, fold, first, request)


def validate_fold(request: FoldRequest) -> dict:
    """Check a request once (kept on it, as the simulation requests): {property: message}."""
    return check_once(request, fold_errors)


def check_request(request: FoldRequest) -> None:
    """Raise FoldError listing every bad property of a request (see :func:`fold_errors`)."""
    errors = validate_fold(request)
    if errors:
        raise FoldError(format_errors(errors))


def fold_errors(request: FoldRequest) -> dict:
    """Check a fold request before any work: {property: message} (empty: it can run)."""
    errors = {}
    widths = np.atleast_1d(np.asarray(request.half_width, dtype=float))
    if len(widths) not in (1, 2) or np.any(widths <= 0):
        errors["PerpendicularHalfWidth"] = (f"{widths.tolist()} is not valid: give one (cylinder "
                                            "radius) or two (box half-widths) values > 0, "
                                            "1/Angstrom")
    if not request.step > 0:
        errors["PathStep"] = (f"{request.step:g} is not valid: give a bin width > 0 along the "
                              "path, 1/Angstrom")
    if not 0 <= request.min_coverage <= 1:
        errors["MinZoneCoverage"] = (f"{request.min_coverage:g} is not valid: give a fraction "
                                     "from 0 to 1")
    if request.lattice is not None and len(request.lattice) != 6:
        errors["Lattice"] = (f"{list(request.lattice)} is not valid: give six numbers a, b, c "
                             "(Angstrom), alpha, beta, gamma (degrees), or leave it empty")
    if not (request.structure or request.space_group):
        errors["StructureFile"] = "empty: give a StructureFile, or a SpaceGroup, for the symmetry"
    errors |= _input_errors(request)
    try:
        parse_zones(request.zones)
    except FoldError as err:
        errors["Zones"] = str(err)
    return errors | _path_errors(request, errors)


def _input_errors(request: FoldRequest) -> dict:
    """{property: message} for missing, doubled or unreadable inputs."""
    inputs = (("InputWorkspace", request.volume), ("InputFile", request.input_file or None),
              ("DataWorkspace", request.data))
    given = [name for name, value in inputs if value is not None]
    if len(given) > 1:
        return {given[1]: f"given with {given[0]}: give only one of InputWorkspace, "
                          "InputFile or DataWorkspace + NormalizationWorkspace"}
    if not given or (given == ["DataWorkspace"]) != (request.normalization is not None):
        return {"InputWorkspace": "give InputWorkspace, or InputFile, or both DataWorkspace and "
                                  "NormalizationWorkspace (MDNorm's two outputs)"}
    import h5py

    if request.input_file and not h5py.is_hdf5(request.input_file):
        return {"InputFile": f"{request.input_file!r} is not a NeXus (HDF5) file: give a "
                             "SaveMD .nxs file"}
    return {}


def _path_errors(request: FoldRequest, errors: dict) -> dict:
    """{"QPath": message} for a path that does not parse (labels: where the crystal is known)."""
    try:
        if request.path.strip().lower() != "auto":
            path_pairs(request.path)
        if request.structure and "StructureFile" not in errors:
            from inslib.structure import conventional, load_structure

            parse_path(request.path, conventional(load_structure(request.structure)))
    except PathError as err:
        return {"QPath": str(err)}
    except StructureError as err:
        return {"StructureFile": str(err)}
    return {}


def parse_zones(text: str) -> list:
    """Parse the Zones property: [] for "", else hkl rows of "h,k,l;h,k,l" (else FoldError)."""
    zones = []
    for part in (p for p in text.replace(" ", "").split(";") if p) if text.strip() else ():
        try:
            zones.append(np.array([float(v) for v in part.split(",")]))
        except ValueError:
            zones.append(np.array([]))
        if zones[-1].shape != (3,) or not np.all(np.isfinite(zones[-1])):
            msg = (f"{text!r}: {part!r} is not h,k,l: give reciprocal lattice vectors "
                   "'h,k,l;h,k,l' (conventional hkl), e.g. '0,0,0;1,1,1', or leave it empty")
            raise FoldError(msg)
    return zones


def _sources(request, stack) -> list:
    if request.volume is not None:
        return [Volume(request.volume, stack, "InputWorkspace")]
    if request.input_file:
        return [Volume(request.input_file, stack, "InputFile")]
    data = Volume(request.data, stack, "DataWorkspace")
    norm = Volume(request.normalization, stack, "NormalizationWorkspace")
    if data.shape != norm.shape:
        msg = f"NormalizationWorkspace: shape {norm.shape} differs from the data's {data.shape}"
        raise FoldError(msg)
    return [data, norm]


def _zones(fold, request, sources, geometry):
    if request.zones:
        inverse = geometry.to_primitive
        allowed = set()
        for hkl in parse_zones(request.zones):
            g = hkl @ inverse
            if not np.allclose(g, np.round(g), atol=1e-6):
                msg = (f"Zones: {hkl.tolist()} is not a reciprocal lattice vector of the "
                       "crystal (of its primitive cell): give lattice vectors only")
                raise FoldError(msg)
            allowed.add(tuple(np.rint(g).astype(int).tolist()))
        fold = select_zones(fold, allowed)
    if request.min_coverage > 0:
        covered = _finite_fraction(sources[0])
        coverage = zone_coverage(fold, covered)
        fold = select_zones(fold, {z for z, c in coverage.items() if c >= request.min_coverage})
    return fold


def _finite_fraction(volume: Volume) -> np.ndarray:
    n_e = volume.shape[3]
    total = 0.0
    for start in range(0, n_e, ENERGY_CHUNK):
        signal, _ = volume.slab(start, min(start + ENERGY_CHUNK, n_e))
        total = total + np.isfinite(signal).sum(axis=0)
    return total / n_e


def _accumulate(fold, sources, report) -> dict:
    matrix = fold.matrix
    squared = matrix.multiply(matrix).tocsr()  # c^2 for the variances
    distinct = matrix.copy()
    distinct.data[:] = 1.0
    n_e = sources[0].shape[3]
    keys = ("sum", "weight", "var", "count", "sum_w", "var_w", "weight2", "voxels")
    sums = {k: np.zeros((matrix.shape[0], n_e)) for k in keys}
    sums["norm"] = np.zeros((matrix.shape[0], n_e))
    for start in range(0, n_e, ENERGY_CHUNK):
        stop = min(start + ENERGY_CHUNK, n_e)
        signal, variance = sources[0].slab(start, stop)
        valid = np.isfinite(signal)
        if len(sources) == 2:
            norm, _ = sources[1].slab(start, stop)
            valid &= np.isfinite(norm) & (norm > 0)
            sums["norm"][:, start:stop] = (matrix @ np.where(valid, norm, 0.0).T)
        y, v = np.where(valid, signal, 0.0), np.where(valid, variance, 0.0)
        w = np.where(valid & (variance > 0), 1.0 / np.where(variance > 0, variance, 1.0), 0.0)
        sums["sum"][:, start:stop] = matrix @ y.T
        sums["var"][:, start:stop] = squared @ v.T
        sums["count"][:, start:stop] = matrix @ valid.T.astype(float)
        sums["voxels"][:, start:stop] = distinct @ valid.T.astype(float)
        sums["sum_w"][:, start:stop] = matrix @ (w * y).T
        sums["weight"][:, start:stop] = matrix @ w.T
        sums["weight2"][:, start:stop] = squared @ w.T
        sums["var_w"][:, start:stop] = matrix @ ((valid & (variance <= 0)).T.astype(float))
        report(0.1 + 0.9 * stop / n_e, "folding")
    sums["two_volumes"] = len(sources) == 2
    return sums


def _outputs(sums, fold, first: Volume, request) -> tuple[Histogram, Histogram]:
    count = sums["count"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if sums["two_volumes"]:
            signal = sums["sum"] / sums["norm"]
            variance = sums["var"] / sums["norm"] ** 2
        else:
            inverse = (sums["var_w"] == 0) & (sums["weight"] > 0)
            signal = np.where(inverse, sums["sum_w"] / sums["weight"], sums["sum"] / count)
            variance = np.where(inverse, sums["weight2"] / sums["weight"] ** 2,
                                sums["var"] / count**2)
    mask = count == 0
    count = sums["voxels"]
    path = Axis(fold.edges, "Path", "Q-path", ticks=tuple(fold.ticks))
    energy = first.axes[3]
    energy = Axis(energy.edges, "DeltaE", "Energy transfer")
    meta = _metadata(first.metadata, request)
    folded = Histogram((path, energy), np.where(mask, np.nan, signal),
                       np.where(mask, np.nan, variance), mask, meta,
                       y_unit_label="Intensity (folded)")
    counts_meta = _metadata(first.metadata, request)
    counts_meta.title = "Contributing voxels per (q, E) bin"
    counts = Histogram((path, energy), count, np.zeros(count.shape), np.zeros(count.shape, bool),
                       counts_meta, y_unit_label="Voxels")
    return folded, counts


def _metadata(base: Metadata, request) -> Metadata:
    """Output metadata: the input's, with the Lattice property (when given) as the lattice.

    A given lattice replaces the input's UB unless it is the input's own lattice (the writer
    then derives the UB from the lattice, U = identity).
    """
    labels = request.path.strip()
    source = request.structure or request.space_group
    half_widths = np.atleast_1d(np.asarray(request.half_width, dtype=float))
    lattice, ub = base.lattice, base.ub
    if request.lattice is not None:
        lattice = tuple(float(value) for value in request.lattice)
        if base.lattice is None or not np.allclose(lattice, base.lattice):
            ub = None
    symmetry = Path(str(source)).name or source
    if request.lattice is not None:
        symmetry += f" with lattice {_numbers(lattice)}"
    return Metadata(
        instrument=base.instrument, emode=base.emode, ei=base.ei,
        temperature=base.temperature, lattice=lattice, ub=ub,
        title=f"Folded I(q,E) along {labels}",
        provenance=[*base.provenance,
                    f"FoldBrillouinZone: path {labels}, half-width {_numbers(half_widths)} 1/A, "
                    f"step {_numbers([request.step])} 1/A, symmetry from {symmetry}, "
                    f"time reversal {'on' if request.time_reversal else 'off'}"],
        logs={**base.logs, PATH_HALF_WIDTH: Log(half_widths, "Angstrom^-1")})


def _numbers(values) -> str:
    """Write numbers plainly (Python floats, no rounding): "0.2" or "5.0, 5.0, 10.0, ..."."""
    return ", ".join(str(float(value)) for value in values)

