"""Mantid processed NeXus files (SaveNexusProcessed / LoadNexusProcessed) with h5py.

Layout (Mantid's Framework/Nexus NexusFileIO.cpp): each workspace is an NXentry
``mantid_workspace_N``; a Workspace2D stores ``workspace/values`` and ``errors`` (sigma) of
shape (nSpec, nBins), ``axis1`` (X) and ``axis2`` (vertical axis), plus ``sample`` (with
its ``material``), ``logs``, ``instrument`` and ``process`` (Mantid's multi-line history
records) groups. TableWorkspaces store ``table_workspace``. What Mantid's loaders open
without a guard is listed in docs/mantid.md, "Loader checks".
"""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from inslib.axes import CAPTIONS, Axis
from inslib.histogram import WORKSPACE2D, Histogram, Log, Metadata
from inslib.io.atomic import atomic_path
from inslib.io.hdf import (
    new_group,
    nx_class,
    read_text,
    set_string_attrs,
    write_array,
    write_root_attrs,
    write_string,
)
from inslib.logs import (
    DELTAE_MODE,
    EFIXED,
    EI,
    INSTRUMENT,
    PATH_TICK_LABELS,
    PATH_TICK_POSITIONS,
    TEMPERATURE,
    TEMPERATURE_ALIASES,
    W_MATRIX,
)

DEFINITION = "Mantid Processed Workspace"
PATH_UNIT = "Path"  # inslib's q-path axis; written as MomentumTransfer + tick logs
Y_UNIT = "Counts"  # Mantid's YUnit of measured and reduced data (values 'units')
_LATTICE_NAMES = ("unit_cell_a", "unit_cell_b", "unit_cell_c",
                  "unit_cell_alpha", "unit_cell_beta", "unit_cell_gamma")
HISTORY_PREFIX = "MantidAlgorithm_"  # the NXnote of each history record: MantidAlgorithm_1, _2...
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NUMPY_REPR = re.compile(r"\bnp\.\w+\(([^()]*)\)")  # np.float64(0.1) -> 0.1
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/][^\s,;]+")  # /a/b/c.yaml, C:\x\y


class NexusFormatError(ValueError):
    """A file is not the Mantid NeXus layout the caller asked for."""


@dataclass
class Table:
    """A Mantid TableWorkspace read from a processed NeXus file.

    Parameters
    ----------
    name : str
        Workspace name.
    columns : dict of str to numpy.ndarray
        Column name -> values, shape (n_rows,) (strings decoded).
    """

    name: str
    columns: dict


def write_workspace2d(hist: Histogram, path, name: str = "") -> Path:
    """Write a Workspace2D histogram in the SaveNexusProcessed layout, atomically.

    Parameters
    ----------
    hist : Histogram
        Two axes (vertical, X); masked bins are written as NaN, as Mantid shows no coverage.
    path : str or pathlib.Path
        Output file (.nxs).
    name : str
        Workspace name stored in the file (the file stem when empty).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if hist.kind != WORKSPACE2D:
        msg = f"write_workspace2d needs a Workspace2D, got a {hist.kind}."
        raise NexusFormatError(msg)
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        entry = processed_entry(f, path, hist.metadata.title, name or path.stem)
        _write_data(entry, hist)
        write_sample(entry, hist.metadata)
        write_logs(new_group(entry, "logs", "NXgroup", version=np.int32(1)),
                   with_path_ticks(hist))
        write_instrument(entry, hist.metadata)
        write_process(entry, hist.metadata)
    return path


def _write_data(entry, hist: Histogram) -> None:
    vertical, x_axis = hist.axes
    data = new_group(entry, "workspace", "NXdata")
    chunks = (1, hist.shape[1])  # one spectrum per chunk, as Mantid
    values = write_array(data, "values", np.where(hist.mask, np.nan, hist.signal), chunks)
    values.attrs["signal"] = np.int32(1)
    set_string_attrs(values, axes="axis2,axis1", units=Y_UNIT, unit_label=hist.y_unit_label)
    write_array(data, "errors", np.where(hist.mask, np.nan, hist.errors), chunks)
    axis1 = data.create_dataset("axis1", data=x_axis.values)
    set_string_attrs(axis1, units=x_axis.unit, distribution="1" if hist.distribution else "0")
    axis2 = data.create_dataset("axis2", data=vertical.values)
    # Mantid has no q-path unit: the path coordinate is a momentum transfer (1/Angstrom)
    unit = "MomentumTransfer" if vertical.unit == PATH_UNIT else vertical.unit
    set_string_attrs(axis2, units=unit,
                     caption=vertical.name or CAPTIONS.get(vertical.unit, ""), label="")


def with_path_ticks(hist: Histogram) -> Metadata:
    """Metadata plus the q-path ticks as logs (PathTickPositions, PathTickLabels)."""
    vertical = hist.axes[0]
    if vertical.unit != PATH_UNIT or not vertical.ticks:
        return hist.metadata
    logs = dict(hist.metadata.logs)
    logs[PATH_TICK_POSITIONS] = Log(np.array([t[0] for t in vertical.ticks]), "Angstrom^-1")
    logs[PATH_TICK_LABELS] = Log(" ".join(t[1] for t in vertical.ticks))
    return replace(hist.metadata, logs=logs)


def write_sample(parent, metadata: Metadata) -> None:
    """Write an NXsample group as Mantid's Sample::saveNexus (v1), with the oriented lattice.

    Parameters
    ----------
    parent : h5py.Group
        The NXentry (or MD experiment group).
    metadata : Metadata
        Source of the lattice and UB.
    """
    sample = new_group(parent, "sample", "NXsample", version=np.int32(1),
                       name_empty=np.int32(1))
    set_string_attrs(sample, name=" ", shape_xml=" ")
    _write_material(sample)
    for key in ("geom_height", "geom_thickness", "geom_width"):
        sample.create_dataset(key, data=np.zeros(1))
    sample.create_dataset("geom_id", data=np.zeros(1, np.int32))
    sample.create_dataset("num_other_samples", data=np.zeros(1, np.int32))
    has_lattice = metadata.lattice is not None
    sample.create_dataset("num_oriented_lattice", data=np.array([int(has_lattice)], np.int32))
    if has_lattice:
        lattice = new_group(sample, "oriented_lattice", "NXcrystal")
        for key, value in zip(_LATTICE_NAMES, metadata.lattice, strict=True):
            lattice.create_dataset(key, data=np.array([float(value)]))
        # Mantid derives the lattice from the UB: without one, U = identity and B of the cell
        ub = busing_levy_b(metadata.lattice) if metadata.ub is None else metadata.ub
        lattice.create_dataset("orientation_matrix", data=np.asarray(ub, float))


def _write_material(sample) -> None:
    """Write an empty material as Material::saveNexus (v2); Sample::loadNexus reads it."""
    material = new_group(sample, "material", "NXdata", version=np.int32(2))
    set_string_attrs(material, name=" ", formulaStyle="empty")
    for key, value in (("number_density", 0.0), ("packing_fraction", 1.0),
                       ("temperature", 0.0), ("pressure", 0.0)):
        material.create_dataset(key, data=np.array([value]))


def processed_entry(f, path: Path, title: str, name: str):
    """Start a processed-NeXus file: root attributes and the ``mantid_workspace_1`` entry.

    Writes the definition strings, ``title`` and ``workspace_name`` as SaveNexusProcessed
    does and returns the entry group.
    """
    write_root_attrs(f, path)
    entry = new_group(f, "mantid_workspace_1", "NXentry")
    write_string(entry, "definition", DEFINITION,
                 URL="http://www.nexusformat.org/instruments/xml/NXprocessed.xml", Version="1.0")
    write_string(entry, "definition_local", DEFINITION,
                 URL="http://www.isis.rl.ac.uk/xml/IXmantid.xml", Version="1.0")
    write_string(entry, "title", title)
    write_string(entry, "workspace_name", name)
    return entry


def busing_levy_b(lattice) -> np.ndarray:
    """B matrix of a cell (Busing and Levy 1967, eq. 3; Mantid's UnitCell::getB), 1/Angstrom.

    Parameters
    ----------
    lattice : sequence of 6 float
        a, b, c (Angstrom) and alpha, beta, gamma (degrees).

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Upper triangular, no 2 pi: B^T B is the reciprocal metric tensor.
    """
    a, b, c = lattice[:3]
    alpha, beta, gamma = np.radians(lattice[3:])
    metric = np.array([[a * a, a * b * np.cos(gamma), a * c * np.cos(beta)],
                       [a * b * np.cos(gamma), b * b, b * c * np.cos(alpha)],
                       [a * c * np.cos(beta), b * c * np.cos(alpha), c * c]])
    # B^T B = G* with B upper triangular and a positive diagonal: a Cholesky factor of G*
    return np.linalg.cholesky(np.linalg.inv(metric)).T


def all_logs(metadata: Metadata) -> dict:
    """Return every log to write: the metadata fields as Mantid log names plus the others."""
    logs = dict(metadata.logs)
    if metadata.ei is not None:
        logs[EI] = Log(float(metadata.ei), "meV")
    if metadata.efixed is not None:
        logs[EFIXED] = Log(float(metadata.efixed), "meV")
    if metadata.emode:
        logs[DELTAE_MODE] = Log(metadata.emode)
    if metadata.temperature is not None:
        logs[TEMPERATURE] = Log(float(metadata.temperature), "K")
    if metadata.instrument:
        logs[INSTRUMENT] = Log(metadata.instrument)
    if metadata.w_matrix is not None:
        logs[W_MATRIX] = Log(np.asarray(metadata.w_matrix, float).ravel())
    return logs


def write_logs(logs_group, metadata: Metadata) -> None:
    """Write run logs as NXlog groups with a 'value' dataset and its units attribute.

    Parameters
    ----------
    logs_group : h5py.Group
        The logs group.
    metadata : Metadata
        Source of Ei, deltaE-mode, temperature, instrument, W_MATRIX and the other logs.
    """
    for key, log in all_logs(metadata).items():
        group = new_group(logs_group, key, "NXlog")
        units = {"units": log.unit} if log.unit else {}  # Mantid writes no units when unitless
        series = log.times is not None and len(log.times) == np.size(log.value)
        value = np.atleast_1d(np.asarray(log.value))
        if value.dtype.kind in "SUO":  # one string, or the (n, 1) strings of a series
            text = log.value if isinstance(log.value, str) and not series else [
                str(v) for v in value]
            write_string(group, "value", text, **units)
        else:
            dataset = group.create_dataset("value", data=value.astype(
                np.float64 if value.dtype.kind == "f" else value.dtype))
            set_string_attrs(dataset, **units)
        if series:
            times = group.create_dataset("time", data=np.asarray(log.times, np.float64))
            set_string_attrs(times, start=log.start or "1970-01-01T00:00:00")


def write_instrument(parent, metadata: Metadata) -> None:
    """Write the NXinstrument group ExperimentInfo::loadInstrumentInfoNexus opens unguarded.

    Mantid finds the instrument definition by ``name``; an unknown instrument is written as
    " ", as Mantid writes a workspace without one.
    """
    group = new_group(parent, "instrument", "NXinstrument", version=np.int32(1))
    write_string(group, "name", metadata.instrument)


def write_process(entry, metadata: Metadata) -> None:
    """Write the provenance as an NXprocess of NXnote entries, as Mantid's history.

    Records read from a file (:func:`read_history`) are written back as they were; the other
    lines become records dated now (:func:`history_record`).
    """
    process = new_group(entry, "process", "NXprocess")
    when = datetime.now(UTC)
    for number, line in enumerate(metadata.provenance, start=1):
        note = new_group(process, f"{HISTORY_PREFIX}{number}", "NXnote")
        write_string(note, "author", "inslib")
        record = line if is_history_record(line) else history_record(line, when)
        write_string(note, "data", record)
        write_string(note, "description", "Mantid Algorithm data")


def read_history(process) -> list:
    """Read the algorithm-history records of an NXprocess group, in execution order.

    Parameters
    ----------
    process : h5py.Group or None
        The ``process`` group of a workspace entry (None: no history).

    Returns
    -------
    list of str
        The ``data`` text of each ``MantidAlgorithm_N`` note, ordered by N (Mantid numbers
        them from 1; the keys sort as text otherwise: 1, 10, 11, ..., 2); other notes
        (MantidEnvironment) are left out.
    """
    if process is None:
        return []
    numbered = []
    for key, note in process.items():
        number = key.removeprefix(HISTORY_PREFIX)
        if (number != key and number.isdigit() and isinstance(note, h5py.Group)
                and "data" in note):
            numbered.append((int(number), read_text(note["data"][()])))
    return [record for _, record in sorted(numbered)]


def is_history_record(line: str) -> bool:
    """Whether a provenance line is a whole history record read from a file."""
    return line.startswith("Algorithm: ") and "\nParameters:" in line


def history_record(line: str, when: datetime) -> str:
    """Format one provenance line as a record of Mantid's algorithm history.

    Parameters
    ----------
    line : str
        "AlgorithmName: what it did" (other text is recorded under the name "inslib").
    when : datetime.datetime
        Execution date to record.

    Returns
    -------
    str
        The multi-line record WorkspaceHistory::parseAlgorithmHistory reads: "Algorithm: Name
        v1", "Execution Date: 2026-Nov-27 15:40:53", "Execution Duration: -1 seconds" (-1:
        unknown), "Parameters:" and one "  Name: Description, Value: ..., Default?: No,
        Direction: Input" line. Values are plain text (numbers as 0.1, absolute paths as
        file names); there is no trailing newline (older parsers read an empty last line as
        a malformed parameter).
    """
    name, sep, text = line.partition(": ")
    if not (sep and name.isidentifier()):
        name, text = "inslib", line
    date = f"{when:%Y}-{_MONTHS[when.month - 1]}-{when:%d %H:%M:%S}"
    return "\n".join([f"Algorithm: {name} v1", f"Execution Date: {date}",
                      "Execution Duration: -1 seconds", "Parameters:",
                      f"  Name: Description, Value: {plain_text(text)}, Default?: No, "
                      "Direction: Input"])


def plain_text(text: str) -> str:
    """Return ``text`` with numpy reprs as plain numbers and absolute paths as file names."""
    text = _NUMPY_REPR.sub(r"\1", " ".join(text.split()))
    return _ABSOLUTE_PATH.sub(lambda m: re.split(r"[\\/]", m.group(0).rstrip("\\/"))[-1], text)


def read_processed(path) -> list:
    """Read every workspace entry of a processed NeXus file.

    Parameters
    ----------
    path : str or pathlib.Path
        The .nxs file.

    Returns
    -------
    list of Histogram or Table
        One item per ``mantid_workspace_N`` entry, in entry order.
    """
    with open_nexus(path) as f:
        entries = sorted((k for k in f if k.startswith("mantid_workspace_")),
                         key=lambda k: int(k.rsplit("_", 1)[1]))
        if not entries:
            msg = (
                f"{path} is not a Mantid processed NeXus file (no mantid_workspace_N entry);"
                " save it from Mantid with SaveNexusProcessed."
            )
            raise NexusFormatError(
                msg
            )
        return [_read_entry(f[key], path) for key in entries]


def open_nexus(path) -> h5py.File:
    """Open an HDF5/NeXus file for reading with a clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        msg = f"File {path} does not exist."
        raise FileNotFoundError(msg)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        msg = (
            f"{path} is not a readable HDF5/NeXus file ({err}); is it truncated or of another"
            " format?"
        )
        raise NexusFormatError(
            msg
        ) from None


def _read_entry(entry, path):
    name = read_text(entry["workspace_name"][()]) if "workspace_name" in entry else ""
    if "table_workspace" in entry:
        return _read_table(entry["table_workspace"], name)
    if "workspace" not in entry:
        msg = f"{path}:{entry.name} holds neither a Workspace2D nor a table."
        raise NexusFormatError(msg)
    return _read_workspace2d(entry, path)


def _read_table(group, name) -> Table:
    columns = {}
    for key in sorted(group, key=lambda k: int(k.rsplit("_", 1)[1])):
        dataset = group[key]
        values = dataset[()]
        if values.dtype.kind == "S":  # rows of shape (1,), or none at all
            values = np.array([read_text(row) for row in values], dtype=str)
        columns[read_text(dataset.attrs.get("name", key))] = values
    return Table(name, columns)


def _read_axis(dataset, n_bins) -> Axis:
    unit = read_text(dataset.attrs.get("units", b""))
    values = dataset[()]
    if values.dtype.kind == "S":  # TextAxis: labels, one per spectrum
        return Axis(np.arange(values.size, dtype=float), "Label", "text",
                    is_edges=False, ticks=tuple(enumerate(read_text(v) for v in values)))
    caption = read_text(dataset.attrs.get("caption", b"")) or CAPTIONS.get(unit, "")
    return Axis(values, unit, caption, is_edges=values.size == n_bins + 1)


def _read_workspace2d(entry, path) -> Histogram:
    data = entry["workspace"]
    values, errors = data["values"][()], data["errors"][()]
    if values.ndim != 2:
        msg = f"{path}: workspace/values has shape {values.shape}, not 2D."
        raise NexusFormatError(msg)
    x_axis = _read_axis(data["axis1"], values.shape[1])
    vertical = _read_axis(data["axis2"], values.shape[0])
    mask = ~np.isfinite(values)
    metadata = read_metadata(entry)
    vertical = _path_axis(vertical, metadata)
    distribution = read_text(data["axis1"].attrs.get("distribution", b"0")) == "1"
    label = read_text(data["values"].attrs.get("unit_label", b"")) or "Intensity"
    return Histogram((vertical, x_axis), values, errors**2, mask, metadata,
                     distribution=distribution, y_unit_label=label)


def _path_axis(axis: Axis, metadata: Metadata) -> Axis:
    """Restore a q-path axis (unit and ticks) written by :func:`write_workspace2d`."""
    if PATH_TICK_LABELS not in metadata.logs or PATH_TICK_POSITIONS not in metadata.logs:
        return axis
    positions = np.atleast_1d(np.asarray(metadata.logs.pop(PATH_TICK_POSITIONS).value, float))
    labels = str(metadata.logs.pop(PATH_TICK_LABELS).value).split()
    return Axis(axis.values, PATH_UNIT, axis.name, is_edges=axis.is_edges,
                ticks=tuple(zip(positions.tolist(), labels, strict=True)))


def read_metadata(group) -> Metadata:
    """Read title, logs, instrument name, oriented lattice and history of a workspace group.

    Parameters
    ----------
    group : h5py.Group
        An NXentry (or an MD experiment group) with optional logs/sample/instrument.

    Returns
    -------
    Metadata
        What the file records; ``provenance`` holds the history records of the group's
        ``process`` (:func:`read_history`), which :func:`write_process` writes back unchanged.
    """
    logs = read_logs(group["logs"]) if "logs" in group else {}
    metadata = Metadata(title=read_text(group["title"][()]) if "title" in group else "",
                        logs=logs, provenance=read_history(group.get("process")))
    metadata.ei = _scalar(logs.pop(EI, None))
    metadata.efixed = _scalar(logs.pop(EFIXED, None))
    metadata.emode = str(logs.pop(DELTAE_MODE).value) if DELTAE_MODE in logs else ""
    for key in TEMPERATURE_ALIASES:
        if key in logs:
            metadata.temperature = _scalar(logs.pop(key))
            break
    if W_MATRIX in logs:
        metadata.w_matrix = np.asarray(logs.pop(W_MATRIX).value, float).reshape(3, 3)
    instrument = group.get("instrument")
    if instrument is not None and "name" in instrument and read_text(instrument["name"][()]):
        metadata.instrument = read_text(instrument["name"][()])
    elif INSTRUMENT in logs:
        metadata.instrument = str(logs.pop(INSTRUMENT).value)
    _read_lattice(group, metadata)
    return metadata


def _scalar(log):
    if log is None:
        return None
    value = np.atleast_1d(log.value)
    return float(value[-1]) if value.dtype.kind in "fiu" else None


def read_logs(logs_group) -> dict:
    """Read NXlog groups into {name: Log}; string values decoded, time series kept whole.

    A ``time`` dataset with one time per value makes the log a time series (``Log.times`` and
    ``Log.start``, its ``start`` attribute), which :func:`write_logs` writes back.
    """
    logs = {}
    for key, group in logs_group.items():
        if nx_class(group) != "NXlog" or "value" not in group:
            continue
        dataset = group["value"]
        unit = read_text(dataset.attrs.get("units", b""))
        value = dataset[()]
        if value.dtype.kind == "S":
            value = read_text(value) if value.size == 1 else [read_text(v) for v in value]
        elif value.size == 1:
            value = value.ravel()[0].item()
        logs[key] = Log(value, unit)
        time = group.get("time")
        if isinstance(time, h5py.Dataset) and time.shape[:1] == dataset.shape[:1]:
            logs[key].times = time[()].astype(float).ravel()
            logs[key].start = read_text(time.attrs.get("start", b""))
    return logs


def _read_lattice(group, metadata: Metadata) -> None:
    sample = group.get("sample")
    if sample is None or "oriented_lattice" not in sample:
        return
    lattice = sample["oriented_lattice"]
    metadata.lattice = tuple(float(lattice[k][0]) for k in _LATTICE_NAMES)
    if "orientation_matrix" in lattice:
        metadata.ub = np.asarray(lattice["orientation_matrix"][()], float)
