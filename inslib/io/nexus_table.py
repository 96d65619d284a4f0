"""TableWorkspaces in Mantid's processed NeXus layout (SaveNexusProcessed), written with h5py.

Layout (Mantid's NexusFileIO::writeNexusTableWorkspace, checked against the Mantid-written
tests/data/shared/mantid_files/vesuvio_yspace_gauss_test_fwd_initial_parameters.nxs)::

    /mantid_workspace_1                NXentry: title, workspace_name, definition(_local)
      table_workspace                  NXdata
        column_1 .. column_N           one dataset per column, attrs name, units, interpret_as
      process                          NXprocess (history; empty here)

Numbers are contiguous 1D datasets of the column's type (double -> float64, float -> float32,
int -> int32, long64 -> int64, bool -> uint8; units "Not known", interpret_as ""). Strings are
fixed-length NULLTERM ASCII, space-padded to the longest, of shape (n_rows, 1) in (1, 1) chunks,
which the NeXus API reports as a rank-2 (n_rows, longest) char array (units "N/A", interpret_as
"A string"). LoadNexusProcessed rebuilds the column types from these dataset types;
:func:`inslib.io.nexus_processed.read_processed` reads the columns back.
"""

from pathlib import Path

import h5py
import numpy as np

from inslib.histogram import Metadata
from inslib.io.atomic import atomic_path
from inslib.io.hdf import new_group, nullterm, set_string_attrs
from inslib.io.nexus_processed import NexusFormatError, processed_entry, write_process

#: Mantid column type -> numpy dtype of its dataset (strings are handled apart).
NUMERIC_DTYPES = {"double": np.float64, "float": np.float32, "int": np.int32,
                  "long64": np.int64, "bool": np.uint8}


def write_table(table, path, name: str = "") -> Path:
    """Write a table workspace in the SaveNexusProcessed layout, atomically.

    Parameters
    ----------
    table : TableWorkspace or Mantid ITableWorkspace
        Anything with ``getColumnNames()``, ``columnTypes()`` and ``column(index)``.
    path : str or pathlib.Path
        Output file (.nxs).
    name : str
        Workspace name stored in the file (the file stem when empty).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    kinds = list(table.columnTypes())
    unknown = sorted({kind for kind in kinds if kind != "str" and kind not in NUMERIC_DTYPES})
    if unknown:
        msg = (f"cannot write table columns of type {unknown}; supported: str, "
               f"{', '.join(NUMERIC_DTYPES)}")
        raise NexusFormatError(msg)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        entry = processed_entry(f, path, "", name or path.stem)
        group = new_group(entry, "table_workspace", "NXdata")
        for index, (column, kind) in enumerate(zip(table.getColumnNames(), kinds, strict=True)):
            _write_column(group, f"column_{index + 1}", column, kind, table.column(index))
        write_process(entry, Metadata())
    return path


def _write_column(group, key: str, column: str, kind: str, cells) -> None:
    if kind == "str":
        texts = [str(cell).encode("ascii", "replace") for cell in cells]
        width = max([len(text) for text in texts] + [1])  # Mantid pads empty columns to 1
        _write_strings(group, key, [text.ljust(width) for text in texts], width)
        set_string_attrs(group[key], units="N/A", interpret_as="A string", name=column)
        return
    dataset = group.create_dataset(key, data=np.asarray(cells, dtype=NUMERIC_DTYPES[kind]))
    set_string_attrs(dataset, units="Not known", interpret_as="", name=column)


def _write_strings(group, key: str, texts: list, width: int) -> None:
    """Write equal-length strings as an (n, 1) NULLTERM dataset in (1, 1) chunks, as Mantid."""
    string_type = nullterm(width)
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    if texts:  # a chunk may not exceed a fixed dimension: an empty column stays contiguous
        plist.set_chunk((1, 1))
    dataset = h5py.h5d.create(group.id, key.encode(), string_type,
                              h5py.h5s.create_simple((len(texts), 1)), dcpl=plist)
    # memory type = file type: no conversion, which would overwrite a full string's last byte
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL,
                  np.array(texts, dtype=f"S{width}").reshape(-1, 1), mtype=string_type)
