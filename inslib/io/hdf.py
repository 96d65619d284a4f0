"""Small h5py helpers for the NeXus conventions Mantid uses.

Mantid writes through the NeXus API: fixed-length ASCII strings with NULLTERM padding
(datasets of shape (1,), scalar attributes), gzip level 6 on the large arrays and the
HDF5_Version / NeXus_version root attributes. h5py's own defaults differ (NULLPAD strings,
no compression), so strings and arrays go through these helpers.
"""

from datetime import UTC, datetime

import h5py
import numpy as np

NEXUS_VERSION = "4.4.3"  # the NeXus API release the layout follows (Mantid 6 writes 4.4.x)
GZIP_LEVEL = 6  # NeXus NX_COMP_LZW, as in Mantid's files


def nullterm(size: int) -> h5py.h5t.TypeStringID:
    """Fixed-length ASCII string type with NULLTERM padding, as the NeXus API writes."""
    string_type = h5py.h5t.C_S1.copy()
    string_type.set_size(max(size, 1))
    string_type.set_strpad(h5py.h5t.STR_NULLTERM)
    return string_type


def _encode(text) -> bytes:
    return str(text).encode("ascii", "replace")


def write_string(group: h5py.Group, name: str, text, **attrs) -> h5py.Dataset:
    """Write ``text`` as Mantid does: NULLTERM fixed-length ASCII strings.

    Parameters
    ----------
    group : h5py.Group
        Parent group.
    name : str
        Dataset name.
    text : str or list of str
        One string (shape (1,)), or the values of a string time-series log (shape (n, 1), one
        length for all, as Mantid writes them); an empty string is written as " ", as Mantid
        does.
    **attrs
        String attributes of the dataset.

    Returns
    -------
    h5py.Dataset
        The new dataset.
    """
    texts = [text] if isinstance(text, str) else list(text)
    data = [_encode(item or " ") for item in texts]
    string_type = nullterm(max(len(item) for item in data))
    shape = (1,) if isinstance(text, str) else (len(data), 1)
    space = h5py.h5s.create_simple(shape)
    dataset_id = h5py.h5d.create(group.id, name.encode(), string_type, space)
    # memory type = file type: no conversion, which would overwrite a full string's last byte
    dataset_id.write(h5py.h5s.ALL, h5py.h5s.ALL,
                     np.array(data, dtype=f"S{string_type.get_size()}").reshape(shape),
                     mtype=string_type)
    dataset = group[name]
    set_string_attrs(dataset, **attrs)
    return dataset


def set_string_attrs(obj, **attrs) -> None:
    """Set NULLTERM scalar string attributes (NX_class, units...) on a group or dataset."""
    for key, value in attrs.items():
        if key in obj.attrs:
            del obj.attrs[key]
        data = _encode(value)
        string_type = nullterm(len(data))
        attr = h5py.h5a.create(obj.id, key.encode(), string_type,
                               h5py.h5s.create(h5py.h5s.SCALAR))
        attr.write(np.array(data, dtype=f"S{string_type.get_size()}"), mtype=string_type)


def write_root_attrs(f: h5py.File, path) -> None:
    """Write the root attributes the NeXus API puts in every file Mantid saves.

    Parameters
    ----------
    f : h5py.File
        The file being written.
    path : str or pathlib.Path
        The file name to record (as given, not resolved).
    """
    set_string_attrs(f, HDF5_Version=h5py.version.hdf5_version,
                     NeXus_version=NEXUS_VERSION, file_name=str(path),
                     file_time=datetime.now(UTC).isoformat(timespec="seconds"))


def write_array(group: h5py.Group, name: str, data, chunks=True) -> h5py.Dataset:
    """Write a large array gzip-compressed (level 6), as Mantid compresses its data arrays.

    Parameters
    ----------
    group : h5py.Group
        Parent group.
    name : str
        Dataset name.
    data : array_like
        The values.
    chunks : tuple of int or True
        Chunk shape (True: h5py chooses).

    Returns
    -------
    h5py.Dataset
        The new dataset.
    """
    return group.create_dataset(name, data=data, chunks=chunks, compression="gzip",
                                compression_opts=GZIP_LEVEL)


def new_group(parent: h5py.Group, name: str, nx_class: str, **attrs) -> h5py.Group:
    """Create a group with its NX_class attribute (the Mantid loaders index groups by it)."""
    group = parent.create_group(name)
    set_string_attrs(group, NX_class=nx_class)
    for key, value in attrs.items():
        group.attrs[key] = value
    return group


def read_text(value) -> str:
    """Decode a string dataset value or attribute (bytes, numpy bytes or str, any shape)."""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else b""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("ascii", "replace").strip()
    return str(value).strip()


def nx_class(obj) -> str:
    """Return the NX_class attribute of a group or dataset ("" when absent)."""
    return read_text(obj.attrs.get("NX_class", b""))
