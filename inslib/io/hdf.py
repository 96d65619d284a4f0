"""Small h5py helpers for the NeXus conventions Mantid uses (fixed-length byte strings)."""

import h5py
import numpy as np


def write_string(group: h5py.Group, name: str, text: str, **attrs) -> h5py.Dataset:
    """Write ``text`` as Mantid does: a fixed-length ASCII string of shape (1,).

    Parameters
    ----------
    group : h5py.Group
        Parent group.
    name : str
        Dataset name.
    text : str
        The string (an empty one is written as " ", as Mantid does).
    **attrs
        String attributes of the dataset.

    Returns
    -------
    h5py.Dataset
        The new dataset.
    """
    dataset = group.create_dataset(name, data=np.array([(text or " ").encode("ascii", "replace")]))
    set_string_attrs(dataset, **attrs)
    return dataset


def set_string_attrs(obj, **attrs) -> None:
    """Set fixed-length byte-string attributes (NX_class, units...) on a group or dataset."""
    for key, value in attrs.items():
        obj.attrs[key] = np.bytes_(str(value).encode("ascii", "replace"))


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
