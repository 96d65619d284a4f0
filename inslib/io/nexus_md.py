"""MDHistoWorkspace files in the SaveMD (version 2) layout, read and written with h5py.

Layout (Mantid's Framework/MDAlgorithms SaveMD2.cpp / LoadMD.cpp): NXentry
``MDHistoWorkspace`` (attrs SaveMDVersion=2, QConvention) with NXdata ``data`` holding the
uniform bin edges ``D0..D{n-1}`` (attrs units, long_name, frame) and ``signal``,
``errors_squared``, ``num_events``, ``mask`` of shape (n_{N-1}, ..., n_0): the reverse of
this library's (n_0, ..., n_{N-1}) order. ``coordinate_system`` (uint32) and ``experiment0``
(instrument, sample, logs: MDBoxFlatTree::loadExperimentInfos drops the whole experiment
info when any of the three fails to load) follow the data.
"""

from pathlib import Path

import h5py
import numpy as np

from inslib.axes import Axis, parse_hkl_name
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.io.atomic import atomic_path
from inslib.io.hdf import new_group, read_text, set_string_attrs, write_array, write_root_attrs
from inslib.io.nexus_processed import (
    NexusFormatError,
    open_nexus,
    read_history,
    read_metadata,
    write_instrument,
    write_logs,
    write_process,
    write_sample,
)
from inslib.logs import Q_CONVENTION

ENTRY = "MDHistoWorkspace"
_UNIFORM_RTOL = 1e-4  # Mantid writes float32 edges: widths in its own files vary by ~1e-5
# Mantid's SpecialCoordinateSystem codes (None 0, QLab 1, QSample 2, HKL 3) by MD frame
_COORDINATE_SYSTEMS = {"QLab": 1, "QSample": 2, "HKL": 3}


def write_md(hist: Histogram, path, q_convention: str = "Inelastic") -> Path:
    """Write an MD histogram in the SaveMD v2 layout, atomically.

    Parameters
    ----------
    hist : Histogram
        Axes D0..D{n-1} with uniform bin edges.
    path : str or pathlib.Path
        Output file (.nxs).
    q_convention : str
        "Inelastic" (Q = ki - kf) or "Crystallography" (Q = kf - ki).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    for index, axis in enumerate(hist.axes):
        widths = np.diff(axis.edges)
        if not np.allclose(widths, widths[0], rtol=_UNIFORM_RTOL):
            msg = (
                f"SaveMD needs uniform bins; dimension D{index} "
                f"({axis.name}) has widths from {widths.min()} to {widths.max()}."
            )
            raise NexusFormatError(msg)
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        write_root_attrs(f, path)
        entry = new_group(f, ENTRY, "NXentry", SaveMDVersion=np.int32(2))
        set_string_attrs(entry, QConvention=q_convention)
        _write_md_data(new_group(entry, "data", "NXdata"), hist)
        entry.create_dataset("coordinate_system",
                             data=np.array([coordinate_system(hist)], np.uint32))
        experiment = new_group(entry, "experiment0", "NXgroup", version=np.int32(1))
        write_instrument(experiment, hist.metadata)
        write_sample(experiment, hist.metadata)
        write_logs(new_group(experiment, "logs", "NXgroup", version=np.int32(1)), hist.metadata)
        write_process(entry, hist.metadata)
    return path


def coordinate_system(hist: Histogram) -> int:
    """Mantid's SpecialCoordinateSystem code of the Q dimensions (0: none, as energy only)."""
    codes = {_COORDINATE_SYSTEMS.get(axis.frame, 0) for axis in hist.axes} - {0}
    return codes.pop() if len(codes) == 1 else 0


def _write_md_data(data, hist: Histogram) -> None:
    n = len(hist.axes)
    for index, axis in enumerate(hist.axes):
        dataset = data.create_dataset(f"D{index}", data=axis.edges)
        set_string_attrs(dataset, units=axis.unit, long_name=axis.name, frame=axis.frame)
    reverse = tuple(range(n - 1, -1, -1))
    signal = write_array(data, "signal",
                         np.where(hist.mask, np.nan, hist.signal).transpose(reverse))
    signal.attrs["signal"] = np.int32(1)
    set_string_attrs(signal, axes=":".join(f"D{i}" for i in reverse))
    write_array(data, "errors_squared",
                np.where(hist.mask, np.nan, hist.variance).transpose(reverse))
    write_array(data, "num_events", (~hist.mask).astype(np.float64).transpose(reverse))
    write_array(data, "mask", hist.mask.astype(np.int8).transpose(reverse))


def read_md(path) -> Histogram:
    """Read a SaveMD v2 MDHistoWorkspace file.

    Parameters
    ----------
    path : str or pathlib.Path
        The .nxs file.

    Returns
    -------
    Histogram
        Axes D0..D{n-1}, signal shape (n_0, ..., n_{N-1}); a bin is masked when the file's
        mask is set or its signal is not finite. QConvention is kept as a log.
    """
    with open_nexus(path) as f:
        data, axes, metadata = read_md_header(f, path)
        order = tuple(range(len(axes) - 1, -1, -1))
        signal = data["signal"][()].transpose(order)
        variance = data["errors_squared"][()].transpose(order)
        mask = data["mask"][()].transpose(order).astype(bool) | ~np.isfinite(signal)
    return Histogram(axes, signal, variance, mask, metadata, kind=MDHISTO)


def read_md_header(f: h5py.File, path) -> tuple:
    """Dimensions and metadata of an open SaveMD file, without reading the arrays.

    Returns
    -------
    data : h5py.Group
        The NXdata group: ``signal``, ``errors_squared``, ``mask`` in reversed order
        (n_{N-1}, ..., n_0), so slabs along the last dimension are contiguous reads.
    axes : tuple of Axis
    metadata : Metadata
    """
    if ENTRY not in f or "data" not in f[ENTRY]:
        msg = (f"{path} is not a SaveMD MDHistoWorkspace file (no /{ENTRY}/data); save it from "
               "Mantid with SaveMD.")
        raise NexusFormatError(msg)
    entry, data = f[ENTRY], f[ENTRY]["data"]
    n = sum(1 for key in data if key[0] == "D" and key[1:].isdigit())
    axes = tuple(_read_dimension(data[f"D{i}"]) for i in range(n))
    metadata = read_metadata(entry["experiment0"]) if "experiment0" in entry else Metadata()
    metadata.provenance = read_history(entry.get("process"))
    metadata.logs[Q_CONVENTION] = _q_convention(entry)
    return data, axes, metadata


def _q_convention(entry) -> Log:
    return Log(read_text(entry.attrs.get("QConvention", b"Inelastic")))


def _read_dimension(dataset) -> Axis:
    name = read_text(dataset.attrs.get("long_name", b""))
    frame = read_text(dataset.attrs.get("frame", b"General Frame"))
    projection = parse_hkl_name(name) if frame == "HKL" else None
    return Axis(dataset[()], read_text(dataset.attrs.get("units", b"")), name,
                frame=frame, projection=projection)
