"""Host TableWorkspaces: Mantid's Python API subset, the property, and the processed-NeXus file.

The file layout is checked against a real Mantid-written table
(tests/data/shared/mantid_files/vesuvio_yspace_gauss_test_fwd_initial_parameters.nxs) and read
back by inslib's reader, which follows LoadNexusProcessed::loadTableEntry.
"""

import h5py
import numpy as np
import pytest

from inslib.io.files import load_table, save_workspace
from inslib.io.hdf import nullterm
from inslib.io.nexus_processed import NexusFormatError, read_processed
from inslib.runtime import compat
from inslib.runtime.host import ADS, Direction, PropertyMode, PythonAlgorithm
from inslib.runtime.table import ITableWorkspaceProperty, TableWorkspace, WorkspaceFactory

REAL = "mantid_files/vesuvio_yspace_gauss_test_fwd_initial_parameters.nxs"


def _table() -> TableWorkspace:
    table = WorkspaceFactory.createTable()
    for kind, name in (("str", "Name"), ("double", "Value"), ("int", "Count"), ("bool", "Use"),
                       ("float", "Single"), ("long64", "Big")):
        assert table.addColumn(kind, name)
    table.addRow(["Scale", 0.5173378100100964, 6397, True, 1.5, 2**40])
    table.addRow({"Name": "", "Value": -1e-300, "Count": -3, "Use": False, "Single": 0.25,
                  "Big": -1})
    table.addRow(["Pearson r (fit)", np.nan, 0, True, -2.0, 0])
    return table


def test_compat_hands_out_the_host_table_api():
    assert compat.WorkspaceFactory is WorkspaceFactory
    assert compat.ITableWorkspaceProperty is ITableWorkspaceProperty


def test_table_api_follows_mantid():
    table = _table()
    assert table.rowCount() == 3
    assert table.columnCount() == 6
    assert table.getColumnNames() == ["Name", "Value", "Count", "Use", "Single", "Big"]
    assert table.columnTypes() == ["str", "double", "int", "bool", "float", "long64"]
    assert table.column("Count") == [6397, -3, 0]
    assert table.column(0) == ["Scale", "", "Pearson r (fit)"]
    assert table.row(0)["Value"] == 0.5173378100100964
    assert table.cell(1, 2) == -3
    assert table.cell("Name", 2) == "Pearson r (fit)"


def test_table_api_refuses_bad_columns_and_rows():
    table = WorkspaceFactory.createTable()
    table.addColumn("double", "x")
    with pytest.raises(ValueError, match="already has a column 'x'"):
        table.addColumn("double", "x")
    with pytest.raises(ValueError, match="'complex' is not one of"):
        table.addColumn("complex", "z")
    with pytest.raises(ValueError, match="needs 1 values"):
        table.addRow([1.0, 2.0])
    with pytest.raises(KeyError, match="no column 'y'"):
        table.column("y")
    with pytest.raises(ValueError, match="only 'TableWorkspace'"):
        WorkspaceFactory.createTable("PeaksWorkspace")


def _layout(path) -> dict:
    """{dataset path: (dtype kind, rank, attrs)} of a table entry, values left out."""
    found = {}
    with h5py.File(path) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and "table_workspace" in name:
                found[name] = (obj.dtype.kind, obj.ndim,
                               {k: v.decode() for k, v in obj.attrs.items() if k != "name"})
            elif isinstance(obj, h5py.Group):
                found[name] = obj.attrs["NX_class"].decode()
        f.visititems(visit)
    return found


def test_written_table_has_mantids_layout(tmp_path, shared):
    path = save_workspace(_table(), tmp_path / "fit.nxs")
    ours, real = _layout(path), _layout(shared / REAL)
    assert ours["mantid_workspace_1"] == real["mantid_workspace_1"] == "NXentry"
    assert ours["mantid_workspace_1/table_workspace"] == "NXdata"
    string_column = "mantid_workspace_1/table_workspace/column_1"  # "label" in the real file
    assert ours[string_column] == real[string_column] == ("S", 2, {"interpret_as": "A string",
                                                                   "units": "N/A"})
    # the real file's numeric columns are float32; the attributes are those of every number
    assert ours["mantid_workspace_1/table_workspace/column_5"] == (
        "f", 1, real["mantid_workspace_1/table_workspace/column_2"][2])
    with h5py.File(path) as f:
        entry = f["mantid_workspace_1"]
        columns = entry["table_workspace"]
        assert [columns[f"column_{i}"].dtype for i in range(1, 7)] == [
            np.dtype("S15"), np.float64, np.int32, np.uint8, np.float32, np.int64]
        assert columns["column_1"].shape == (3, 1)
        assert columns["column_1"][1, 0] == b" " * 15  # space-padded, as Mantid writes
        assert entry["workspace_name"][0] == b"fit"
        assert entry["definition"][0] == b"Mantid Processed Workspace"
        with h5py.File(shared / REAL) as real:
            assert set(f.attrs) == set(real.attrs)  # HDF5_Version, NeXus_version, file_*
            real_columns = real["mantid_workspace_1/table_workspace"]
            for ours_key, real_key in (("column_1", "column_1"), ("column_2", "column_2")):
                mine, theirs = columns[ours_key], real_columns[real_key]
                assert mine.chunks == theirs.chunks  # strings (1, 1), numbers contiguous
                assert mine.compression == theirs.compression
            pads = {columns["column_1"].id.get_type().get_strpad(),
                    real_columns["column_1"].id.get_type().get_strpad()}
            assert pads == {h5py.h5t.STR_NULLTERM}


def test_table_round_trip_keeps_names_types_and_values(tmp_path):
    table = _table()
    path = save_workspace(table, tmp_path / "fit.nxs")
    (read,) = read_processed(path)
    assert read.name == "fit"
    assert list(read.columns) == table.getColumnNames()
    assert [read.columns[n].dtype.kind for n in read.columns] == ["U", "f", "i", "u", "f", "i"]
    for name in table.getColumnNames():
        np.testing.assert_array_equal(read.columns[name], table.column(name), err_msg=name)
    assert read.columns["Value"][0] == 0.5173378100100964  # float64: bit for bit


def test_empty_strings_and_tables_are_written(tmp_path):
    table = WorkspaceFactory.createTable()
    table.addColumn("str", "Comment")
    table.addColumn("double", "x")
    with h5py.File(save_workspace(table, tmp_path / "empty.nxs")) as f:
        columns = f["mantid_workspace_1/table_workspace"]
        assert (columns["column_1"].shape, columns["column_2"].shape) == ((0, 1), (0,))
    table.addRow(["", 1.0])
    with h5py.File(save_workspace(table, tmp_path / "t.nxs")) as f:
        assert f["mantid_workspace_1/table_workspace/column_1"].dtype == np.dtype("S1")


def test_empty_table_reads_back(tmp_path):
    """Zero rows: the (0, 1) string dataset and the (0,) numbers read as empty columns."""
    table = WorkspaceFactory.createTable()
    table.addColumn("str", "Comment")
    table.addColumn("double", "x")
    (read,) = read_processed(save_workspace(table, tmp_path / "empty.nxs"))
    assert read.name == "empty"
    assert list(read.columns) == ["Comment", "x"]
    assert [(c.shape, c.dtype.kind) for c in read.columns.values()] == [((0,), "U"), ((0,), "f")]


def test_strings_and_root_attributes_come_from_the_shared_writer(tmp_path, shared):
    """Table strings use hdf.nullterm and the root attributes hdf.write_root_attrs, as Mantid's."""
    path = save_workspace(_table(), tmp_path / "fit.nxs")
    with h5py.File(path) as f, h5py.File(shared / REAL) as real:
        column = f["mantid_workspace_1/table_workspace/column_1"].id.get_type()
        assert column == nullterm(15)
        for key in real.attrs:
            ours, theirs = f.attrs.get_id(key).get_type(), real.attrs.get_id(key).get_type()
            assert ours.get_strpad() == theirs.get_strpad() == h5py.h5t.STR_NULLTERM, key
        assert f.attrs["file_name"].decode() == str(path)
        assert f.attrs["NeXus_version"].decode().startswith("4.4.")


def test_mantid_only_column_types_are_refused_by_name(tmp_path):
    class _Peaks:  # a Mantid table with a V3D column (the writer duck-types on Mantid's API)
        def columnTypes(self):
            return ["double", "V3D"]

    with pytest.raises(NexusFormatError, match=r"type \['V3D'\]"):
        save_workspace(_Peaks(), tmp_path / "peaks.nxs")
    assert not (tmp_path / "peaks.nxs").exists()


class _MakeTable(PythonAlgorithm):
    def name(self):
        return "_MakeTable"

    def PyInit(self):
        self.declareProperty(ITableWorkspaceProperty("InputTable", "", Direction.Input,
                                                     PropertyMode.Optional), "in")
        self.declareProperty(ITableWorkspaceProperty("OutputTable", "", Direction.Output), "out")

    def PyExec(self):
        given = self.getProperty("InputTable").value
        table = WorkspaceFactory.createTable()
        table.addColumn("double", "Twice")
        for value in (given.column(0) if given is not None else [1.0]):
            table.addRow([2 * value])
        self.setProperty("OutputTable", table)


def test_table_property_takes_tables_names_and_files(tmp_path):
    algorithm = _MakeTable()
    algorithm.initialize()
    algorithm.setProperty("OutputTable", "doubled")
    algorithm.execute()
    assert ADS["doubled"].column("Twice") == [2.0]
    save_workspace(ADS["doubled"], tmp_path / "doubled.nxs")
    for source in ("doubled", str(tmp_path / "doubled.nxs"), ADS["doubled"]):
        again = _MakeTable()
        again.initialize()
        again.setProperty("InputTable", source)
        again.setProperty("OutputTable", "quadrupled")
        again.execute()
        assert ADS["quadrupled"].column("Twice") == [4.0]
    assert load_table(tmp_path / "doubled.nxs").columns["Twice"].tolist() == [2.0]


def test_table_property_refuses_histograms_and_unknown_names(shared):
    from inslib.io.histogram_h5 import read_histogram_h5

    ADS["a_histogram"] = read_histogram_h5(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    prop = ITableWorkspaceProperty("InputTable", "", Direction.Input)
    with pytest.raises(ValueError, match="is not a TableWorkspace"):
        prop.set("a_histogram")
    with pytest.raises(ValueError, match="no table workspace or file"):
        prop.set("no_such_table")
