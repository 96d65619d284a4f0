"""Horace .sqw / .d2d (dnd) binary files: the image part, read without the pixels.

Layouts as Horace's file accessors write them (pace-neutrons/Horace, horace_core/sqw/file_io);
all numbers little-endian, arrays in MATLAB (column-major) order:

* Every file starts with a 26-byte application header: uint32 6, ``"horace"``, float64
  format version, uint32 file type (1 sqw, 0 dnd), uint32 number of image dimensions.
* Versions 2 to 3.x (faccess_sqw_v2/v3, faccess_dnd_v2: sqw_binfile_common and
  dnd_binfile_common): fields follow one another; a string is int32 length + chars. An sqw
  file holds the main header (filename, filepath, title, int32 nfiles), one run header per
  contributing file (filename, filepath, float32 efix, int32 emode, float32 alatt[3],
  angdeg[3], cu[3], cv[3], psi, omega, dpsi, gl, gs in radians, en (int32 n + float32[n]),
  uoffset[4], u_to_rlu[4, 4], ulen[4], labels), the detector block (filename, filepath,
  uint32 ndet, float32[6, ndet]) and then the image; a dnd file holds the image only. The
  image: filename, filepath, title; float32 alatt[3], angdeg[3], uoffset[4], u_to_rlu[4, 4],
  ulen[4]; labels (int32 rows, cols + char matrix); uint32 npax; int32 iax[4 - npax]; float32
  iint[2, 4 - npax]; int32 pax[npax]; per plot axis int32 n + float32 edges[n]; int32
  dax[npax]; float32 s and e, uint64 npix, each of shape (len(edges_i) - 1, ...). The pixels
  of an sqw file follow and are not read.
* Version 4.x (binfile_v4_common): a block allocation table follows the header (uint32
  size, uint32 count, per block: type, name and level-2 name as uint32 length + chars,
  uint64 position, uint32 size, uint32 lock flag). Block data/metadata is a Herbert-serialised
  struct of the line_axes (img_range, nbins_all_dims, label...) and line_proj (u, v, w, type,
  nonorthogonal, alatt, angdeg, offset) fields; data/nd_data is uint32 ndim, uint32
  sizes[ndim], float64 s, float64 e, uint64 npix; experiment_info/expdata holds the runs'
  IX_experiment fields (psi, omega, dpsi, gl, gs, u, v, efix, emode).

Horace's ``s`` is the average signal of a bin's pixels and ``e`` its variance
(dnd_binfile_common and DnDBase document ``e`` as the variance); both are returned as stored,
``e`` as the variance. A bin with npix = 0 holds no measurement and is masked.
"""

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inslib.axes import Axis
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.io.nexus_processed import busing_levy_b
from inslib.logs import Q_CONVENTION

MAGIC = b"horace"
HEADER_SIZE = 26  # uint32 6 + "horace" + float64 version + uint32 type + uint32 ndims
SUPPORTED = ("Horace sqw/dnd binary files of format version 2 to 3.x (sequential layout) "
             "or 4.x (block allocation table)")
_N_AXES = 4  # Horace images have 3 Q axes and energy, integrated or plotted
_DIRECT, _INDIRECT = 1, 2  # Horace's emode codes
_ROUNDING = 1e-12  # relative size below which a projection component is rounding (0)


class HoraceFormatError(ValueError):
    """A file is not a Horace sqw/dnd file this reader supports."""


@dataclass(frozen=True)
class RunHeader:
    """Sample orientation and energy of one contributing run (Horace's run header).

    Attributes
    ----------
    efix : float
        Fixed energy, meV (Ei in direct geometry, Ef in indirect).
    emode : int
        1 direct, 2 indirect geometry, 0 elastic.
    psi, omega, dpsi, gl, gs : float
        Goniometer angles, degrees: rotation psi of u about the vertical, the small
        goniometer arcs gl, gs about an axis at omega to u, and the psi correction dpsi.
    u, v : tuple of float
        The r.l.u. vectors that span the scattering plane (u along ki at psi = 0).
    """

    efix: float
    emode: int
    psi: float
    omega: float
    dpsi: float
    gl: float
    gs: float
    u: tuple
    v: tuple


@dataclass(frozen=True)
class Projection:
    """How image coordinates map to (h, k, l, E).

    Attributes
    ----------
    steps : numpy.ndarray, shape (4, 4)
        Column i: the (h, k, l) r.l.u. and meV of one unit of image coordinate i (Horace's
        u_to_rlu); the rows 0-2 of columns 0-2 are the Q directions.
    offset : numpy.ndarray, shape (4,)
        (h, k, l) r.l.u. and E (meV) of the image origin.
    lattice : tuple of float
        (a, b, c) Angstrom and (alpha, beta, gamma) degrees.
    scaling : str
        Horace's normalisation letters of the three Q axes ("r": r.l.u. with max |h, k, l| = 1,
        "a": 1/Angstrom, "p": as the given vectors), "" where the file does not say (v2/v3).
    """

    steps: np.ndarray
    offset: np.ndarray
    lattice: tuple
    scaling: str = ""

    @property
    def in_rlu(self) -> tuple | None:
        """Per Q axis, True for r.l.u. units ("r", "p"), False for 1/Angstrom ("a").

        None where the file does not say (versions 2 and 3).
        """
        return tuple(letter != "a" for letter in self.scaling.lower()) if self.scaling else None


@dataclass(frozen=True)
class HoraceImage:
    """The image (dnd) part of a Horace file, on the four projection axes.

    Attributes
    ----------
    path : pathlib.Path
    version : float
        File format version from the application header.
    title : str
    labels : tuple of str
        Horace's captions of the four projection axes.
    edges : tuple of numpy.ndarray
        Bin edges of each projection axis, in image coordinates (shape (n_i + 1,)); an
        integration axis has its range as its one bin.
    integrated : tuple of bool
        Which projection axes are integration axes.
    projection : Projection
    signal : numpy.ndarray, shape (n_0, n_1, n_2, n_3)
        Average signal per bin, in the units of the file (arbitrary).
    variance : numpy.ndarray, shape (n_0, n_1, n_2, n_3)
        Its variance.
    npix : numpy.ndarray of int, shape (n_0, n_1, n_2, n_3)
        Pixels (detector-energy cells) in each bin.
    runs : tuple of RunHeader
        One per contributing run where the file holds them (sqw files), else empty.
    """

    path: Path
    version: float
    title: str
    labels: tuple
    edges: tuple
    integrated: tuple
    projection: Projection
    signal: np.ndarray
    variance: np.ndarray
    npix: np.ndarray
    runs: tuple = field(default_factory=tuple)


class _Reader:
    """Little-endian fields of an open file, with errors naming the file and the field."""

    def __init__(self, f, path):
        self.f, self.path = f, path
        self.size = os.fstat(f.fileno()).st_size

    def seek(self, position: int, what: str) -> None:
        if position > self.size:
            self._truncated(what, position, 0)
        self.f.seek(position)

    def bytes(self, n: int, what: str) -> bytes:
        start = self.f.tell()
        data = self.f.read(n)
        if len(data) < n:
            self._truncated(what, start, n)
        return data

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dtype = np.dtype(dtype).newbyteorder("<")
        return np.frombuffer(self.bytes(int(count) * dtype.itemsize, what), dtype)

    def scalar(self, dtype: str, what: str):
        return self.array(dtype, 1, what)[0].item()

    def string(self, what: str) -> str:
        return self.bytes(self.scalar("<i4", what), what).decode("latin-1")

    def _truncated(self, what: str, start: int, n: int):
        msg = (f"{self.path} is truncated: {what} needs {n} bytes at offset {start}, the file "
               f"has {self.size} bytes.")
        raise HoraceFormatError(msg)


def is_horace_file(path) -> bool:
    """Return True when the file starts with Horace's header (uint32 6, "horace")."""
    with open(path, "rb") as f:
        start = f.read(10)
    return start == struct.pack("<I", len(MAGIC)) + MAGIC


def read_horace(path) -> HoraceImage:
    """Read the image of a Horace sqw or dnd file (format versions 2 to 4.x).

    Parameters
    ----------
    path : str or pathlib.Path
        A .sqw, .d1d ... .d4d file written by Horace.

    Returns
    -------
    HoraceImage

    Raises
    ------
    HoraceFormatError
        Not a Horace file, a version outside 2-4.x, a truncated file or a layout this reader
        does not know (named in the message with what is supported).
    """
    path = Path(path)
    with open(path, "rb") as f:
        reader = _Reader(f, path)
        version, sqw_type = _application_header(reader)
        if version >= 4:
            return _read_v4(reader, version)
        runs = _skip_to_image_v3(reader) if sqw_type else ()
        return _read_image_v3(reader, version, runs)


def _application_header(reader: _Reader) -> tuple[float, bool]:
    n = reader.scalar("<u4", "the application header")
    name = reader.bytes(min(n, 64), "the application name")
    if n != len(MAGIC) or name != MAGIC:
        msg = (f"{reader.path} is not a Horace file: it starts with {name[:16]!r}, not the "
               f"application name 'horace'. Supported: {SUPPORTED}.")
        raise HoraceFormatError(msg)
    version = reader.scalar("<f8", "the format version")
    sqw_type = reader.scalar("<u4", "the file type")
    reader.scalar("<u4", "the number of dimensions")
    if not 2 <= version < 5:
        msg = f"{reader.path}: Horace format version {version:g} is not supported ({SUPPORTED})."
        raise HoraceFormatError(msg)
    if sqw_type not in (0, 1):
        msg = f"{reader.path}: file type {sqw_type} is neither 1 (sqw) nor 0 (dnd)."
        raise HoraceFormatError(msg)
    return version, bool(sqw_type)


# --- versions 2 and 3 -------------------------------------------------------------------------

def _skip_to_image_v3(reader: _Reader) -> tuple:
    """Read the main header and run headers, skip the detectors; return the runs."""
    for what in ("main header filename", "main header filepath", "main header title"):
        reader.string(what)
    nfiles = reader.scalar("<i4", "the number of contributing files")
    runs = tuple(_run_header_v3(reader, index) for index in range(nfiles))
    reader.string("detector filename")
    reader.string("detector filepath")
    ndet = reader.scalar("<u4", "the number of detectors")
    reader.seek(reader.f.tell() + 6 * 4 * ndet, "the detector parameters")
    return runs


def _run_header_v3(reader: _Reader, index: int) -> RunHeader:
    what = f"run header {index + 1}"
    reader.string(what)
    reader.string(what)
    efix = reader.scalar("<f4", what)
    emode = reader.scalar("<i4", what)
    floats = reader.array("<f4", 3 + 3 + 3 + 3 + 5, what)
    reader.array("<f4", reader.scalar("<i4", what), what)  # energy bin boundaries
    reader.array("<f4", 4 + 16 + 4, what)  # uoffset, u_to_rlu, ulen of the run
    _labels(reader, what)
    psi, omega, dpsi, gl, gs = np.degrees(floats[12:17].astype(float))
    return RunHeader(float(efix), int(emode), psi, omega, dpsi, gl, gs,
                     tuple(floats[6:9].astype(float)), tuple(floats[9:12].astype(float)))


def _labels(reader: _Reader, what: str) -> tuple:
    rows, cols = reader.array("<i4", 2, what)
    chars = np.frombuffer(reader.bytes(rows * cols, what), "S1").reshape((rows, cols), order="F")
    return tuple(b"".join(row).decode("latin-1").strip() for row in chars)


def _read_image_v3(reader: _Reader, version: float, runs: tuple) -> HoraceImage:
    reader.string("image filename")
    reader.string("image filepath")
    title = reader.string("image title")
    lattice = tuple(reader.array("<f4", 6, "the lattice").astype(float))
    offset = reader.array("<f4", 4, "uoffset").astype(float)
    steps = reader.array("<f4", 16, "u_to_rlu").astype(float).reshape((4, 4), order="F")
    reader.array("<f4", 4, "ulen")
    labels = _labels(reader, "the axis labels")
    npax = reader.scalar("<u4", "npax")
    if npax > _N_AXES:
        msg = f"{reader.path}: {npax} plot axes; a Horace image has at most {_N_AXES}."
        raise HoraceFormatError(msg)
    iax = reader.array("<i4", _N_AXES - npax, "iax") - 1
    iint = reader.array("<f4", 2 * (_N_AXES - npax), "iint").astype(float).reshape(-1, 2)
    pax = reader.array("<i4", npax, "pax") - 1
    edges = {int(i): np.asarray(r) for i, r in zip(iax, iint, strict=True)}
    for index in pax:
        edges[int(index)] = reader.array("<f4", reader.scalar("<i4", "p"), "p").astype(float)
    reader.array("<i4", npax, "dax")
    edges = tuple(edges[i] for i in range(_N_AXES))
    signal, variance, npix = _image_arrays_v3(reader, [e.size - 1 for e in edges])
    projection = Projection(steps, offset, lattice)
    integrated = tuple(i in set(iax.tolist()) for i in range(_N_AXES))
    return HoraceImage(reader.path, version, title, labels, edges, integrated, projection,
                       signal, variance, npix, runs)


def _image_arrays_v3(reader: _Reader, shape: list) -> tuple:
    n = int(np.prod(shape))
    signal = reader.array("<f4", n, "the signal s").astype(float)
    variance = reader.array("<f4", n, "the variance e").astype(float)
    if reader.size - reader.f.tell() < 8 * n:
        msg = (f"{reader.path} has no npix array after s and e (a type 'b' image, or a "
               "truncated file): the bins without data cannot be told apart; save the cut "
               "again from Horace (sqw or dnd with npix).")
        raise HoraceFormatError(msg)
    npix = reader.array("<u8", n, "npix").astype(np.int64)
    return tuple(a.reshape(shape, order="F") for a in (signal, variance, npix))


# --- version 4 --------------------------------------------------------------------------------

def _read_v4(reader: _Reader, version: float) -> HoraceImage:
    blocks = _block_table(reader)
    metadata = _serialised_block(reader, blocks, ("data", "metadata"))
    axes, proj = _field(metadata, "axes", reader.path), _field(metadata, "proj", reader.path)
    _block_position(reader, blocks, ("data", "nd_data"))
    nbins = [int(n) for n in np.ravel(_field(axes, "nbins_all_dims", reader.path))]
    signal, variance, npix = _image_arrays_v4(reader, nbins)
    img_range = np.asarray(_field(axes, "img_range", reader.path), float).reshape((2, 4),
                                                                                 order="F")
    edges = tuple(np.linspace(img_range[0, i], img_range[1, i], nbins[i] + 1)
                  for i in range(_N_AXES))
    single = np.ravel(axes.get("single_bin_defines_iax", np.ones(_N_AXES, bool))).astype(bool)
    integrated = tuple(bool(n == 1 and s) for n, s in zip(nbins, single, strict=True))
    runs = _runs_v4(reader, blocks) if ("experiment_info", "expdata") in blocks else ()
    return HoraceImage(reader.path, version, str(axes.get("title", "")),
                       tuple(_labels_v4(axes)), edges, integrated,
                       _line_projection(proj, reader.path), signal, variance, npix, runs)


def _block_table(reader: _Reader) -> dict:
    reader.seek(HEADER_SIZE, "the block allocation table")
    reader.scalar("<u4", "the block allocation table size")
    count = reader.scalar("<u4", "the number of blocks")
    blocks = {}
    for index in range(count):
        what = f"block descriptor {index + 1} of {count}"
        reader.string(what)  # block type: data_block, dnd_data_block, pix_data_block
        name = (reader.string(what), reader.string(what))
        position = reader.scalar("<u8", what)
        size, locked = reader.array("<u4", 2, what).tolist()
        blocks[name] = (position, size, locked)
    return blocks


def _block_position(reader: _Reader, blocks: dict, name: tuple) -> int:
    if name not in blocks:
        msg = (f"{reader.path} (Horace format 4) has no {'/'.join(name)} block: the blocks are "
               f"{sorted('/'.join(n) for n in blocks)}; an image needs data/metadata and "
               "data/nd_data.")
        raise HoraceFormatError(msg)
    position, size, locked = blocks[name]
    if locked:
        msg = (f"{reader.path}: block {'/'.join(name)} is locked (Horace was writing it): "
               "let Horace finish or save the file again.")
        raise HoraceFormatError(msg)
    reader.seek(position, f"block {'/'.join(name)}")
    return size


def _serialised_block(reader: _Reader, blocks: dict, name: tuple):
    size = _block_position(reader, blocks, name)
    data = reader.bytes(size, f"block {'/'.join(name)}")
    try:
        return deserialise(data)
    except _SerialError as err:
        msg = f"{reader.path}: block {'/'.join(name)} does not deserialise: {err}"
        raise HoraceFormatError(msg) from None


def _field(container, name: str, path):
    if not isinstance(container, dict) or name not in container:
        keys = sorted(container) if isinstance(container, dict) else type(container).__name__
        msg = f"{path}: the image metadata has no {name!r} field (has {keys})."
        raise HoraceFormatError(msg)
    return container[name]


def _labels_v4(axes: dict) -> list:
    labels = axes.get("label", ["", "", "", ""])
    return [str(label) for label in (labels if isinstance(labels, list) else [labels])]


def _image_arrays_v4(reader: _Reader, nbins: list) -> tuple:
    ndim = reader.scalar("<u4", "the nd_data dimensions")
    sizes = reader.array("<u4", ndim, "the nd_data sizes")
    n = int(np.prod(sizes))
    if n != int(np.prod(nbins)):
        msg = (f"{reader.path}: the image holds {n} bins (sizes {sizes.tolist()}), the axes "
               f"{int(np.prod(nbins))} (nbins_all_dims {nbins}).")
        raise HoraceFormatError(msg)
    signal = reader.array("<f8", n, "the signal s")
    variance = reader.array("<f8", n, "the variance e")
    npix = reader.array("<u8", n, "npix").astype(np.int64)
    return tuple(a.reshape(nbins, order="F") for a in (signal, variance, npix))


def _line_projection(proj: dict, path) -> Projection:
    serial = proj.get("serial_name", "")
    if serial not in ("line_proj", "ortho_proj"):
        msg = (f"{path}: projection {serial!r} is not supported; the reader knows the "
               "rectilinear line_proj (ortho_proj) of Horace 4, not spherical or cylindrical.")
        raise HoraceFormatError(msg)
    lattice = tuple(np.concatenate([np.ravel(_field(proj, key, path)) for key in
                                    ("alatt", "angdeg")]).astype(float))
    w = np.ravel(proj.get("w", [])).astype(float)
    scaling = str(proj.get("type", "ppr"))
    steps = np.eye(4)
    steps[:3, :3] = _line_proj_steps(lattice, np.ravel(_field(proj, "u", path)).astype(float),
                                    np.ravel(_field(proj, "v", path)).astype(float),
                                    w if w.size == 3 else None, scaling,
                                    bool(proj.get("nonorthogonal", False)))
    offset = np.zeros(4)
    given = np.ravel(proj.get("offset", np.zeros(4))).astype(float)
    offset[:given.size] = given
    return Projection(steps, offset, lattice, scaling)


def _runs_v4(reader: _Reader, blocks: dict) -> tuple:
    experiments = _serialised_block(reader, blocks, ("experiment_info", "expdata"))
    return tuple(_run_header_v4(found) for found in _dicts_with(experiments, "psi"))


def _dicts_with(value, key: str) -> list:
    """Every dict in a deserialised tree that has ``key``, depth first."""
    if isinstance(value, dict):
        if key in value:
            return [value]
        value = list(value.values())
    if isinstance(value, list):
        return [found for item in value for found in _dicts_with(item, key)]
    return []


def _run_header_v4(experiment: dict) -> RunHeader:
    in_degrees = bool(experiment.get("angular_is_degree", False))
    angles = [float(np.ravel(experiment.get(key, 0.0))[0])
              for key in ("psi", "omega", "dpsi", "gl", "gs")]
    if not in_degrees:
        angles = np.degrees(angles).tolist()
    efix = np.ravel(experiment.get("efix", np.nan)).astype(float)
    return RunHeader(float(efix[0]), int(np.ravel(experiment.get("emode", 1))[0]), *angles,
                     tuple(np.ravel(experiment.get("u", [np.nan] * 3)).astype(float)),
                     tuple(np.ravel(experiment.get("v", [np.nan] * 3)).astype(float)))


# --- Herbert's serialised values (version-4 blocks) ------------------------------------------
# Each value: uint8 type tag, uint8 ndim, uint32 sizes[ndim] (MATLAB size), then the data
# (column-major). Tags (hlp_serial_types): 0 logical, 1 char, 3-12 numbers, 23 cell (each
# element a value), 24 struct (uint32 nfields, uint32 name lengths, names, then one cell of
# nfields x elements values), 32 an object that serialises itself (a value follows).
# ndim = 0 is an empty value with no data.

_NUMBERS = {0: "u1", 1: "u1", 3: "<f8", 4: "<f4", 5: "i1", 6: "u1", 7: "<i2", 8: "<u2",
            9: "<i4", 10: "<u4", 11: "<i8", 12: "<u8"}
_LOGICAL, _CHAR, _CELL, _STRUCT, _SELF_SERIALISED = 0, 1, 23, 24, 32


class _SerialError(ValueError):
    """Bytes that are not a Herbert-serialised value this reader knows."""


def deserialise(data: bytes):
    """Decode one Herbert-serialised value (Horace 4 data blocks).

    Parameters
    ----------
    data : bytes

    Returns
    -------
    object
        dict for a struct (list of dicts for a struct array), list for a cell, str for a
        char row, a Python scalar for one number, else a numpy array in MATLAB's shape.

    Raises
    ------
    ValueError
        An unknown type tag or data shorter than the sizes announce.
    """
    try:
        return _value(memoryview(data), 0)[0]
    except (struct.error, IndexError) as err:
        msg = f"the serialised data end early ({err})"
        raise _SerialError(msg) from None


def _value(buf: memoryview, pos: int) -> tuple:
    tag = buf[pos]
    if tag == _SELF_SERIALISED:
        return _value(buf, pos + 1)
    ndim = buf[pos + 1]
    shape = struct.unpack_from(f"<{ndim}I", buf, pos + 2)
    pos += 2 + 4 * ndim
    count = int(np.prod(shape)) if ndim else 0
    if tag in _NUMBERS:
        return _simple(buf, pos, tag, shape, count)
    if tag == _CELL:
        items = []
        for _ in range(count):
            item, pos = _value(buf, pos)
            items.append(item)
        return items, pos
    if tag == _STRUCT:
        return _struct(buf, pos, count)
    msg = f"type tag {tag} at byte {pos - 2 - 4 * ndim} is not supported"
    raise _SerialError(msg)


def _simple(buf: memoryview, pos: int, tag: int, shape: tuple, count: int) -> tuple:
    dtype = np.dtype(_NUMBERS[tag])
    end = pos + count * dtype.itemsize
    if end > len(buf):
        msg = f"{count} values at byte {pos} run past the end ({len(buf)} bytes)"
        raise _SerialError(msg)
    values = np.frombuffer(buf[pos:end], dtype)
    if tag == _CHAR:
        rows = shape[0] if len(shape) == 2 and shape[0] > 1 else 1  # a char matrix: rows
        text = values.tobytes().decode("latin-1")
        if rows == 1:
            return text, end
        return ["".join(text[i::rows]).rstrip() for i in range(rows)], end
    if tag == _LOGICAL:
        values = values.astype(bool)
    if count == 1:
        return values[0].item(), end
    return (values.reshape(shape, order="F") if len(shape) > 1 else values.copy()), end


def _struct(buf: memoryview, pos: int, count: int) -> tuple:
    if count == 0:
        return [], pos
    (nfields,) = struct.unpack_from("<I", buf, pos)
    lengths = struct.unpack_from(f"<{nfields}I", buf, pos + 4)
    pos += 4 + 4 * nfields
    names = []
    for length in lengths:
        names.append(bytes(buf[pos:pos + length]).decode("latin-1"))
        pos += length
    values, pos = _value(buf, pos)
    if not isinstance(values, list) or len(values) != nfields * count:
        msg = f"a struct of {count} x {nfields} fields holds {len(values)} values"
        raise _SerialError(msg)
    structs = [dict(zip(names, values[i * nfields:(i + 1) * nfields], strict=True))
               for i in range(count)]
    return (structs[0] if count == 1 else structs), pos


# --- line_proj: image axes in (h, k, l) -------------------------------------------------------

def _line_proj_steps(lattice, u, v, w, scaling: str, nonorthogonal: bool) -> np.ndarray:
    """Step of each Q image axis in r.l.u., as line_proj documents its axes.

    Orthogonal axes: u1 || u; u2 in the (u, v) plane perpendicular to u; u3 || u x v (w, when
    given, only sets the length of a "p" axis). Non-orthogonal: u1 || u, u2 || v, u3 || w (or
    u x v). Lengths by ``scaling`` letter: "a" 1/Angstrom, "r" r.l.u. with max |h, k, l| = 1,
    "p" the given vector's length (orthogonal axes: its projection onto the axis).

    Parameters
    ----------
    lattice : sequence of 6 float
        a, b, c (Angstrom), alpha, beta, gamma (degrees).
    u, v : numpy.ndarray, shape (3,)
        r.l.u.
    w : numpy.ndarray, shape (3,), or None
    scaling : str
        Three letters of "a", "r", "p".
    nonorthogonal : bool

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Column i: (h, k, l) of one unit along image axis i.
    """
    b = 2 * np.pi * busing_levy_b(lattice)  # Q (1/Angstrom) = b @ hkl
    e1 = b @ u / np.linalg.norm(b @ u)
    e2 = b @ v - (b @ v @ e1) * e1
    e2 /= np.linalg.norm(e2)
    e3 = np.cross(e1, e2)
    given = [u, v, w]
    if nonorthogonal:
        given[2] = np.linalg.solve(b, e3) if w is None else w
        directions = [g / np.linalg.norm(b @ g) for g in given]  # per 1/Angstrom
        lengths = [np.linalg.norm(b @ g) for g in given]
    else:
        directions = [np.linalg.solve(b, e) for e in (e1, e2, e3)]
        lengths = [abs(e @ b @ g) if g is not None else np.nan
                   for e, g in zip((e1, e2, e3), given, strict=True)]
    steps = np.column_stack([_scaled(d, letter, length) for d, letter, length
                             in zip(directions, scaling.lower(), lengths, strict=True)])
    return np.where(np.abs(steps) < _ROUNDING * np.abs(steps).max(), 0.0, steps)


def _scaled(direction: np.ndarray, letter: str, length: float) -> np.ndarray:
    """One image unit along a direction given per 1/Angstrom, in r.l.u."""
    if letter == "a":
        return direction
    if letter == "r":
        return direction / np.abs(direction).max()
    if letter == "p" and np.isfinite(length):
        return direction * length
    msg = (f"projection type letter {letter!r} is not supported here (\"a\", \"r\", or \"p\" "
           "with its vector given)")
    raise HoraceFormatError(msg)


# --- the histogram ----------------------------------------------------------------------------

def horace_histogram(image: HoraceImage) -> Histogram:
    """Return the image as an MD histogram on (h, k, l) projections and DeltaE.

    The origin offset is taken into the edges (a Q offset along the three projection
    vectors, an energy offset into the energy edges), so that bin coordinates times the axis
    projections give (h, k, l) as the simulations expect. Bins with npix = 0 are masked (NaN).

    Parameters
    ----------
    image : HoraceImage

    Returns
    -------
    Histogram
        Axes D0-D2: r.l.u. along ``Axis.projection`` (HKL frame), D3: DeltaE (meV); shape
        (n_0, n_1, n_2, n_3), integration axes with one bin.
    """
    steps, offset = image.projection.steps, image.projection.offset
    if not np.allclose(steps[3, :3], 0) or not np.allclose(steps[:3, 3], 0):
        msg = (f"{image.path}: the projection mixes energy into the Q axes (u_to_rlu "
               f"{steps.tolist()}); only separate Q and energy axes are supported.")
        raise HoraceFormatError(msg)
    shift = np.linalg.solve(steps[:3, :3], offset[:3])
    axes = [Axis(image.edges[i] + shift[i], "r.l.u.", image.labels[i], frame="HKL",
                 projection=tuple(float(c) for c in steps[:3, i])) for i in range(3)]
    axes.append(Axis(image.edges[3] * steps[3, 3] + offset[3], "DeltaE", "DeltaE"))
    mask = image.npix == 0
    return Histogram(axes, np.where(mask, np.nan, image.signal),
                     np.where(mask, np.nan, image.variance), mask, _metadata(image),
                     kind=MDHISTO)


def _metadata(image: HoraceImage) -> Metadata:
    meta = Metadata(lattice=image.projection.lattice, w_matrix=image.projection.steps[:3, :3],
                    title=image.title,
                    provenance=[f"Horace file {image.path.name} (format {image.version:g})"],
                    logs={Q_CONVENTION: Log("Inelastic"), "HoraceFile": Log(str(image.path))})
    modes = {(run.emode, round(run.efix, 6)) for run in image.runs}
    if len(modes) == 1:
        emode, efix = modes.pop()
        if emode == _DIRECT:
            meta.emode, meta.ei = "Direct", efix
        elif emode == _INDIRECT:
            meta.emode, meta.efixed = "Indirect", efix
    return meta


def load_horace(path) -> Histogram:
    """Read a Horace sqw/dnd file as an MD histogram (see :func:`horace_histogram`)."""
    return horace_histogram(read_horace(path))
