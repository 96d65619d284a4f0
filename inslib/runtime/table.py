"""The host's TableWorkspace: the part of Mantid's ITableWorkspace Python API inslib uses.

Algorithms create tables as in Mantid (``WorkspaceFactory.createTable()``, ``addColumn(type,
name)``, ``addRow([...])``) and declare them with ``ITableWorkspaceProperty(name, default,
direction[, optional])``; both come from :mod:`inslib.runtime.compat`. A table output named
``x`` or ``x.nxs`` on the command line is saved by :func:`inslib.io.files.save_workspace` in
the layout Mantid's SaveNexusProcessed writes.
"""

from pathlib import Path

import numpy as np

from inslib.runtime.host import ADS, PropertyMode, WorkspaceProperty

#: Mantid column type names -> the Python type of their cells.
COLUMN_TYPES = {"double": float, "float": float, "int": int, "long64": int, "str": str,
                "bool": bool}


class TableWorkspace:
    """Named, typed columns of equal length (Mantid's ITableWorkspace subset)."""

    def __init__(self):
        self._names, self._types, self._cells = [], [], []

    def addColumn(self, type, name) -> bool:
        """Append an empty-celled column of a Mantid type ("double", "int", "str"...)."""
        if type not in COLUMN_TYPES:
            msg = f"column type {type!r} is not one of {sorted(COLUMN_TYPES)}"
            raise ValueError(msg)
        if name in self._names:
            msg = f"the table already has a column {name!r}"
            raise ValueError(msg)
        self._names.append(name)
        self._types.append(type)
        self._cells.append([COLUMN_TYPES[type]()] * self.rowCount())
        return True

    def addRow(self, row) -> None:
        """Append a row: a sequence in column order or a dict {column name: value}."""
        values = [row[name] for name in self._names] if isinstance(row, dict) else list(row)
        if len(values) != self.columnCount():
            msg = f"a row needs {self.columnCount()} values ({self._names}), got {len(values)}"
            raise ValueError(msg)
        for cells, kind, value in zip(self._cells, self._types, values, strict=True):
            cells.append(COLUMN_TYPES[kind](value))

    def rowCount(self) -> int:
        """Return the number of rows."""
        return len(self._cells[0]) if self._cells else 0

    def columnCount(self) -> int:
        """Return the number of columns."""
        return len(self._names)

    def getColumnNames(self) -> list:
        """Return the column names in order."""
        return list(self._names)

    def columnTypes(self) -> list:
        """Return the Mantid type names of the columns, in order."""
        return list(self._types)

    def column(self, key) -> list:
        """Return the cells of a column given by name or index."""
        return list(self._cells[self._index(key)])

    def row(self, index) -> dict:
        """Return row ``index`` as {column name: value}."""
        return {name: cells[index] for name, cells in zip(self._names, self._cells, strict=True)}

    def cell(self, first, second):
        """Return one cell: ``cell(row, column)`` or, as in Mantid, ``cell(column_name, row)``."""
        column, row = (first, second) if isinstance(first, str) else (second, first)
        return self._cells[self._index(column)][row]

    def _index(self, key) -> int:
        if isinstance(key, str):
            if key not in self._names:
                msg = f"the table has no column {key!r}; it has {self._names}"
                raise KeyError(msg)
            return self._names.index(key)
        return int(key)

    @classmethod
    def from_columns(cls, columns: dict) -> "TableWorkspace":
        """Build a table from {name: 1D array} (a table read from a file), types from dtypes."""
        table = cls()
        kinds = {"f": "double", "i": "long64", "u": "long64", "b": "bool"}
        for name, values in columns.items():
            values = np.asarray(values)
            table._names.append(name)
            table._types.append(kinds.get(values.dtype.kind, "str"))
            table._cells.append([COLUMN_TYPES[table._types[-1]](v) for v in values.tolist()])
        return table


class WorkspaceFactory:
    """Mantid's WorkspaceFactory, tables only."""

    @staticmethod
    def createTable(type="TableWorkspace") -> TableWorkspace:
        """Return a new empty table (only Mantid's plain "TableWorkspace" type exists here)."""
        if type != "TableWorkspace":
            msg = f"WorkspaceFactory.createTable: only 'TableWorkspace' exists here, not {type!r}"
            raise ValueError(msg)
        return TableWorkspace()


class ITableWorkspaceProperty(WorkspaceProperty):
    """A table workspace: an input is a table, a workspace name or a .nxs file; an output a name."""

    def __init__(self, name, default, direction, optional=PropertyMode.Mandatory):
        super().__init__(name, default, direction, optional)
        self.type = "table"

    held = TableWorkspace

    def resolve(self, name: str) -> TableWorkspace:
        """Return the table of an ADS name or a .nxs file."""
        return _resolve_table(self.name, name)


def _resolve_table(prop: str, name: str) -> TableWorkspace:
    if isinstance(ADS.get(name), TableWorkspace):
        return ADS[name]
    if name in ADS:
        msg = f"{prop}={name!r} is not a TableWorkspace."
        raise ValueError(msg)
    if Path(name).is_file():
        from inslib.io.files import load_table

        return TableWorkspace.from_columns(load_table(name).columns)
    msg = f"{prop}={name!r}: no table workspace or file of that name."
    raise ValueError(msg)
