"""What Mantid's loaders open without a guard is in every file we write, and in Mantid's own.

Mantid cannot be installed here. LOADER_CHECKS lists, from Mantid's sources (paths relative
to the mantidproject/mantid repository), the groups, datasets and attributes that
LoadNexusProcessed and LoadMD open without a guard, where a missing one loses data:

- Framework/DataHandling/src/LoadNexusProcessed.cpp: loadEntry, loadNonEventEntry
- Framework/API/src/ExperimentInfo.cpp: loadExperimentInfoNexus (sample and logs, then the
  instrument), loadInstrumentInfoNexus, loadEmbeddedInstrumentInfoNexus
- Framework/API/src/Sample.cpp: Sample::loadNexus; Framework/Kernel/src/Material.cpp:
  Material::loadNexus; Framework/Geometry/src/Crystal/OrientedLattice.cpp: loadNexus
- Framework/API/src/Run.cpp and LogManager.cpp: loadNexus
- Framework/MDAlgorithms/src/LoadMD.cpp: exec, loadDimensions2, loadHisto, loadSlab
- Framework/DataObjects/src/MDBoxFlatTree.cpp: loadExperimentInfos (an experiment info that
  fails anywhere is dropped whole)
- Framework/API/src/WorkspaceHistory.cpp: loadNestedHistory, parseAlgorithmHistory

The same table is checked against the real Mantid-written files, so it cannot ask for more
than Mantid writes.
"""

import re
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest

from inslib.histogram import Log
from inslib.io.files import load_workspace, save_workspace
from inslib.io.hdf import read_text
from inslib.io.nexus_processed import history_record, plain_text
from inslib.runtime.host import run_algorithm

W2D, MD, EXP, LATTICE = "w2d", "md", "exp", "lattice"  # row tags: which files a row binds
# (loader function, tag, path, attributes): "{entry}" is the workspace entry, "{exp}" the
# group holding sample/logs/instrument (the entry itself, or MD's experiment0);
# "NX_class=NXdata" asks for a value, a bare name only for presence.
LOADER_CHECKS = [
    ("LoadNexusProcessed::loadEntry", W2D, "{entry}", ["NX_class=NXentry"]),
    ("LoadNexusProcessed::loadEntry", W2D, "{entry}/workspace", ["NX_class=NXdata"]),
    ("LoadNexusProcessed::loadEntry", W2D, "{entry}/workspace/axis1", []),
    ("LoadNexusProcessed::loadEntry", W2D, "{entry}/workspace/axis2", []),
    ("LoadNexusProcessed::loadNonEventEntry", W2D, "{entry}/workspace/values", ["signal"]),
    ("LoadNexusProcessed::loadNonEventEntry", W2D, "{entry}/workspace/errors", []),
    # version 0 (no attribute) is the pre-2011 layout: lattice and material are not read
    ("Sample::loadNexus", EXP, "{exp}/sample",
     ["NX_class=NXsample", "version", "name", "shape_xml"]),
    ("Sample::loadNexus", EXP, "{exp}/sample/num_other_samples", []),
    ("Sample::loadNexus", EXP, "{exp}/sample/num_oriented_lattice", []),
    ("Material::loadNexus", EXP, "{exp}/sample/material",
     ["NX_class=NXdata", "name", "version=2", "formulaStyle"]),
    ("Material::loadNexus", EXP, "{exp}/sample/material/number_density", []),
    ("Material::loadNexus", EXP, "{exp}/sample/material/temperature", []),
    ("Material::loadNexus", EXP, "{exp}/sample/material/pressure", []),
    ("OrientedLattice::loadNexus", LATTICE, "{exp}/sample/oriented_lattice",
     ["NX_class=NXcrystal"]),
    ("OrientedLattice::loadNexus", LATTICE, "{exp}/sample/oriented_lattice/orientation_matrix",
     []),
    ("Run::loadNexus", EXP, "{exp}/logs", ["NX_class=NXgroup"]),
    ("ExperimentInfo::loadInstrumentInfoNexus", EXP, "{exp}/instrument",
     ["NX_class=NXinstrument"]),
    ("ExperimentInfo::loadEmbeddedInstrumentInfoNexus", EXP, "{exp}/instrument/name", []),
    ("LoadMD::exec", MD, "{entry}", ["NX_class=NXentry", "SaveMDVersion"]),
    ("LoadMD::loadDimensions2", MD, "{entry}/data", ["NX_class=NXdata"]),
    ("LoadMD::loadDimensions2", MD, "{entry}/data/signal", ["axes"]),
    ("LoadMD::loadDimensions2", MD, "{entry}/data/D0", ["long_name", "units"]),
    ("LoadMD::loadHisto", MD, "{entry}/data/errors_squared", []),
    ("LoadMD::loadHisto", MD, "{entry}/data/num_events", []),
    ("LoadMD::loadHisto", MD, "{entry}/data/mask", []),
    ("MDBoxFlatTree::loadExperimentInfos", MD, "{entry}/experiment0", ["NX_class=NXgroup"]),
]
MD_ENTRY, MD_EXPERIMENT = "MDHistoWorkspace", "MDHistoWorkspace/experiment0"


def missing(f: h5py.File, tags: set, entry: str, exp: str) -> list:
    """Return the rows of LOADER_CHECKS with the given tags that ``f`` does not satisfy."""
    problems = []
    for loader, tag, template, attrs in LOADER_CHECKS:
        if tag not in tags:
            continue
        path = template.format(entry=entry, exp=exp)
        if path not in f:
            problems.append(f"{loader}: no {path}")
            continue
        for attr in attrs:
            name, _, value = attr.partition("=")
            if name not in f[path].attrs:
                problems.append(f"{loader}: no attribute {name} on {path}")
            elif value and read_text(f[path].attrs[name]) != value:
                problems.append(f"{loader}: {path} {name} is not {value}")
    return problems


def unreadable_logs_and_history(f: h5py.File, entry: str, exp: str) -> list:
    """Return NXlog groups without 'value' (Run::loadNexus) and history notes without 'data'."""
    logs = [f"{exp}/logs/{k}" for k, g in f[f"{exp}/logs"].items()
            if read_text(g.attrs.get("NX_class", b"")) == "NXlog" and "value" not in g]
    process = f.get(f"{entry}/process", {})
    notes = [f"{entry}/process/{k}" for k in process
             if k.startswith("MantidAlgorithm_") and "data" not in process[k]]
    return logs + notes


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, ge_files, shared) -> dict:
    """Each kind of output, small and fast, saved: {label: (path, histogram)}."""
    folder = tmp_path_factory.mktemp("outputs")
    sunny = shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs"
    made = {
        "template": run_algorithm("CreateSQETemplate", Instrument="ARCS", Ei="60",
                                  OutputWorkspace="t"),
        "qpath": run_algorithm("SimulateSingleCrystalSQE", Temperature="10", QPath="G-X",
                               EnergyResolution="1", MeshSize="4", OutputWorkspace="q",
                               **ge_files),
        "grid": run_algorithm("SimulateSingleCrystalSQE", Temperature="10",
                              EnergyResolution="2", Dimension0Binning="0,1,2",
                              Dimension1Binning="0,1,2", Dimension2Binning="-0.05,0.05",
                              Dimension3Binning="2,12,38", MeshSize="4", OutputWorkspace="g",
                              **ge_files),
        "fold": run_algorithm("FoldBrillouinZone", InputFile=str(sunny), SpaceGroup="P6/mmm",
                              Lattice="5,5,10,90,90,120", QPath="K-M",
                              PerpendicularHalfWidth="0.2", PathStep="0.1",
                              OutputWorkspace="f"),
    }
    return {label: (save_workspace(out["OutputWorkspace"], folder / f"{label}.nxs"),
                    out["OutputWorkspace"])
            for label, out in made.items()}


def _layout(label: str) -> tuple:
    """Return the row tags, entry and experiment group of an output."""
    return ({MD, EXP}, MD_ENTRY, MD_EXPERIMENT) if label == "grid" else \
        ({W2D, EXP}, "mantid_workspace_1", "mantid_workspace_1")


@pytest.mark.parametrize("label", ["template", "qpath", "grid", "fold"])
def test_every_unguarded_loader_read_is_written(outputs, label):
    tags, entry, exp = _layout(label)
    with h5py.File(outputs[label][0]) as f:
        assert missing(f, tags, entry, exp) == []
        assert unreadable_logs_and_history(f, entry, exp) == []
        assert len(f[f"{entry}/process"]) == len(outputs[label][1].metadata.provenance) >= 1


def test_md_grid_carries_lattice_and_coordinate_system(outputs):
    """LoadMD keeps the experiment info: lattice (UB), W_MATRIX and temperature come back."""
    path, hist = outputs["grid"]
    with h5py.File(path) as f:
        assert missing(f, {LATTICE}, MD_ENTRY, MD_EXPERIMENT) == []
        system = f[f"{MD_ENTRY}/coordinate_system"]
        assert system.dtype == np.uint32
        assert system[()].tolist() == [3]  # HKL (LoadMD::loadCoordinateSystem)
    back = load_workspace(path)
    assert back.metadata.lattice == pytest.approx(hist.metadata.lattice)
    np.testing.assert_array_equal(back.metadata.w_matrix, np.eye(3))
    assert back.metadata.temperature == 10.0


def test_qpath_output_carries_the_lattice(outputs):
    """The q-path's lattice is the cell its points are given in (Ge primitive: fcc, 60 deg)."""
    path, hist = outputs["qpath"]
    with h5py.File(path) as f:
        assert missing(f, {LATTICE}, "mantid_workspace_1", "mantid_workspace_1") == []
    a, b, c, alpha, beta, gamma = hist.metadata.lattice
    assert (a, b, c) == pytest.approx((4.0,) * 3, abs=0.05)
    assert (alpha, beta, gamma) == pytest.approx((60.0,) * 3)
    assert load_workspace(path).metadata.lattice == pytest.approx(hist.metadata.lattice)


@pytest.mark.parametrize(("real_file", "entry", "tags", "expected"), [
    ("mslice_MAR21335_Ei60meV.nxs", "mantid_workspace_1", {W2D, EXP}, []),
    ("Shiver_ub_process_nexus.nxs", "mantid_workspace_1", {W2D, EXP, LATTICE}, []),
    ("NeuXtalViz_experiment.nxs", "mantid_workspace_2", {W2D, EXP, LATTICE}, []),
    # written by Sunny.jl, not Mantid: no experiment info (LoadMD loads it without one)
    ("Sunny.jl_1Dcut_sym_0p00T_K.nxs", MD_ENTRY, {MD},
     [f"MDBoxFlatTree::loadExperimentInfos: no {MD_EXPERIMENT}"]),
])
def test_real_mantid_files_pass_the_same_checks(shared, real_file, entry, tags, expected):
    """The table asks for nothing Mantid does not write."""
    with h5py.File(shared / "mantid_files" / real_file) as f:
        assert missing(f, tags, entry, entry) == expected
        if EXP in tags:
            assert unreadable_logs_and_history(f, entry, entry) == []


def test_material_is_written_as_mantid_writes_it(outputs, shared):
    """Point 5: the empty material of Material::saveNexus v2, as in the Shiver file."""
    real_path = "mantid_workspace_1/sample/material"
    with h5py.File(outputs["template"][0]) as ours, \
            h5py.File(shared / "mantid_files" / "Shiver_ub_process_nexus.nxs") as real:
        mine, theirs = ours[real_path], real[real_path]
        assert set(mine) == set(theirs)
        assert set(mine.attrs) == set(theirs.attrs)
        for key in ("NX_class", "formulaStyle", "name"):
            assert read_text(mine.attrs[key]) == read_text(theirs.attrs[key])
        assert mine.attrs["version"] == theirs.attrs["version"] == 2
        assert {k: mine[k][()].tolist() for k in mine} == {k: theirs[k][()].tolist()
                                                           for k in theirs}
    back = load_workspace(outputs["template"][0])
    assert back.metadata.ei == 60.0
    assert back.metadata.emode == "Direct"


# --- history records (point 7) -------------------------------------------------------------

_PARAMETER = re.compile(r"  Name: ([^,]*), Value: (.*), Default\?: (Yes|No), "
                        r"Direction: (Input|Output|InOut|None)")


def parse_history(record: str) -> dict:
    """Parse a record as WorkspaceHistory::parseAlgorithmHistory does, strictly.

    Line 0 is exactly three words "Algorithm: Name vN", line 1 four words with the date as
    %Y-%b-%d %H:%M:%S, line 2 four words with a number of seconds, line 3 "Parameters:",
    then one line per property. Mantid's own records end with a newline (dropped here).
    """
    lines = record.removesuffix("\n").split("\n")
    assert len(lines) >= 4, "Malformed history record: Incorrect record size."
    head, date, duration = (line.split() for line in lines[:3])
    assert [len(head), head[0], head[2][0]] == [3, "Algorithm:", "v"], lines[0]
    assert [len(date), *date[:2]] == [4, "Execution", "Date:"], lines[1]
    assert [len(duration), *duration[:2], duration[-1]] == [4, "Execution", "Duration:",
                                                            "seconds"], lines[2]
    assert lines[3] == "Parameters:"
    matches = [_PARAMETER.fullmatch(line) for line in lines[4:]]
    assert all(matches), lines[4:]
    return {"name": head[1], "version": int(head[2][1:]),
            "date": datetime.strptime(" ".join(date[2:]), "%Y-%b-%d %H:%M:%S"),
            "duration": float(duration[2]),
            "parameters": {m[1]: m[2] for m in matches}}


def _records(path, entry) -> list:
    with h5py.File(path) as f:
        process = f[f"{entry}/process"]
        keys = sorted((k for k in process if k.startswith("MantidAlgorithm_")),
                      key=lambda k: int(k.rsplit("_", 1)[1]))
        return [process[k]["data"][0].decode() for k in keys]


def test_parser_reads_every_record_of_a_real_mantid_file(shared):
    records = _records(shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs",
                       "mantid_workspace_1")
    parsed = [parse_history(r) for r in records]
    assert len(parsed) == 92
    assert (parsed[0]["name"], parsed[0]["version"]) == ("Load", 1)
    assert parsed[0]["duration"] == 0.525
    assert parsed[0]["date"] == datetime(2016, 8, 3, 15, 40, 53)
    assert parsed[0]["parameters"]["OutputWorkspace"] == "SR_MAR021335"


@pytest.mark.parametrize(("label", "algorithm", "fragment"), [
    ("template", "CreateSQETemplate", "instrument ARCS from ARCS.yaml"),
    ("fold", "FoldBrillouinZone", "half-width 0.2 1/A"),
    # the tests pass absolute paths: the record keeps the file name
    ("grid", "SimulateSingleCrystalSQE", "force constants FORCE_CONSTANTS"),
])
def test_our_records_parse_with_plain_values(outputs, label, algorithm, fragment):
    entry = MD_ENTRY if label == "grid" else "mantid_workspace_1"
    (record,) = _records(outputs[label][0], entry)
    parsed = parse_history(record)
    assert (parsed["name"], parsed["version"], parsed["duration"]) == (algorithm, 1, -1.0)
    now = datetime.now(UTC).replace(tzinfo=None)
    # written by this session's fixture: before now, and not a day-old or unparsed default
    assert 0 <= (now - parsed["date"]).total_seconds() < 86400
    description = parsed["parameters"]["Description"]
    assert fragment in description
    assert "np." not in description
    assert not re.search(r"(^|\s)/\w", description), description


def test_a_real_mantid_history_is_read_and_written_back_unchanged(shared, tmp_path):
    source = shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs"
    records = [record.strip() for record in _records(source, "mantid_workspace_1")]
    workspace = load_workspace(source)
    assert workspace.metadata.provenance == records  # 92 records, in execution order
    saved = save_workspace(workspace, tmp_path / "again.nxs")
    assert _records(saved, "mantid_workspace_1") == records
    assert parse_history(records[-1])["name"] == "SaveNexus"


def test_time_series_logs_of_a_real_mantid_file_survive_a_load_and_save(shared, tmp_path):
    """String series (ISIS icpevent: (n, 1) strings) and numeric series keep values and times.

    Before, a string series was read as a list and saving it failed (no h5py conversion of
    numpy's unicode strings), and every series lost its times.
    """
    source = shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs"
    workspace = load_workspace(source)
    workspace.metadata.logs["added"] = Log([1.5, 2.5], "K", np.array([0.0, 10.0]),
                                           "2026-11-28T06:00:00")  # a list of numbers
    saved = save_workspace(workspace, tmp_path / "again.nxs")
    added = load_workspace(saved).metadata.logs["added"]
    np.testing.assert_array_equal(added.value, [1.5, 2.5])
    np.testing.assert_array_equal(added.times, [0.0, 10.0])
    assert (added.unit, added.start) == ("K", "2026-11-28T06:00:00")
    with h5py.File(source) as real, h5py.File(saved) as ours:
        for key in ("icpevent", "status", "fermi_speed", "Ei"):
            before, after = real[f"mantid_workspace_1/logs/{key}"], ours[
                f"mantid_workspace_1/logs/{key}"]
            assert set(after) == set(before), key  # value, and time where Mantid wrote one
            assert after["value"].shape == before["value"].shape, key
            values = [np.char.strip(d["value"][()]) if d["value"].dtype.kind == "S"
                      else d["value"][()] for d in (before, after)]  # strings read stripped
            assert np.array_equal(*values), key
            if "time" in before:
                assert np.array_equal(after["time"][()], before["time"][()]), key
                assert read_text(after["time"].attrs["start"]) == read_text(
                    before["time"].attrs["start"]), key
        assert unreadable_logs_and_history(ours, "mantid_workspace_1", "mantid_workspace_1") == []


@pytest.mark.parametrize("label", ["template", "grid"])
def test_our_history_survives_a_load_and_save(outputs, tmp_path, label):
    entry = MD_ENTRY if label == "grid" else "mantid_workspace_1"
    records = _records(outputs[label][0], entry)
    saved = save_workspace(load_workspace(outputs[label][0]), tmp_path / f"{label}.nxs")
    assert _records(saved, entry) == records  # the dates too: nothing re-dated


def test_an_algorithm_adds_its_record_after_its_inputs_history(outputs, tmp_path):
    source = outputs["template"][0]
    (first,) = _records(source, "mantid_workspace_1")
    out = run_algorithm("CreateSQETemplate", InputWorkspace=str(source), Instrument="ARCS",
                        Ei="60", OutputWorkspace="again")["OutputWorkspace"]
    records = _records(save_workspace(out, tmp_path / "again.nxs"), "mantid_workspace_1")
    assert records[0] == first
    assert [parse_history(r)["name"] for r in records] == ["CreateSQETemplate"] * 2


@pytest.mark.parametrize(("label", "fragment"), [
    ("template", "instrument ARCS from ARCS.yaml"),
    ("fold", "half-width 0.2 1/A, step 0.1 1/A"),
])
def test_provenance_is_plain_before_writing(outputs, label, fragment):
    """The workspace in memory already names files without folders and numbers as numbers."""
    note = outputs[label][1].metadata.provenance[-1]
    assert fragment in note
    assert "np." not in note
    assert not re.search(r"(^|\s)/\w", note), note


@pytest.mark.parametrize(("text", "plain"), [
    ("half-width (np.float64(0.2),) 1/A", "half-width (0.2,) 1/A"),
    ("file /work/main/instruments/ARCS.yaml; Ei=60", "file ARCS.yaml; Ei=60"),
    ("from C:\\data\\fc.yaml", "from fc.yaml"),
    ("force constants data/Si/FORCE_CONSTANTS", "force constants data/Si/FORCE_CONSTANTS"),
    ("two\nlines", "two lines"),
])
def test_plain_text(text, plain):
    assert plain_text(text) == plain


def test_line_without_an_algorithm_name_is_recorded_under_inslib():
    record = history_record("merged 3 runs: mean", datetime(2026, 1, 2, 3, 4, 5))
    parsed = parse_history(record)
    assert parsed["name"] == "inslib"
    assert parsed["date"] == datetime(2026, 1, 2, 3, 4, 5)
    assert parsed["parameters"] == {"Description": "merged 3 runs: mean"}
    assert not record.endswith("\n")


# --- strings, units, root attributes, compression (point 9) --------------------------------

def _string_pads(f: h5py.File) -> set:
    """Return the padding of every fixed-length string dataset and attribute in ``f``."""
    pads = set()

    def visit(_name, obj):
        for key in obj.attrs:
            kind = obj.attrs.get_id(key).get_type()
            if isinstance(kind, h5py.h5t.TypeStringID):
                pads.add(kind.get_strpad())
        if isinstance(obj, h5py.Dataset) and isinstance(obj.id.get_type(), h5py.h5t.TypeStringID):
            pads.add(obj.id.get_type().get_strpad())

    visit("/", f)
    f.visititems(visit)
    return pads


@pytest.mark.parametrize("label", ["template", "grid"])
def test_strings_are_nullterm_as_in_mantid_files(outputs, shared, label):
    with h5py.File(shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs") as real:
        assert _string_pads(real) == {h5py.h5t.STR_NULLTERM}
    with h5py.File(outputs[label][0]) as f:
        assert _string_pads(f) == {h5py.h5t.STR_NULLTERM}
        assert read_text(f["/"].attrs["NeXus_version"]).startswith("4.")


@pytest.mark.parametrize("label", ["template", "grid"])
def test_root_attributes_match_mantid_files(outputs, shared, label):
    with h5py.File(shared / "mantid_files" / "Shiver_ub_process_nexus.nxs") as real, \
            h5py.File(outputs[label][0]) as ours:
        assert set(ours.attrs) == set(real.attrs) == {"HDF5_Version", "NeXus_version",
                                                      "file_name", "file_time"}
        assert read_text(ours.attrs["HDF5_Version"]) == h5py.version.hdf5_version
        assert read_text(ours.attrs["file_name"]) == str(outputs[label][0])


def test_units_as_mantid_writes_them(outputs):
    with h5py.File(outputs["template"][0]) as f:
        values = f["mantid_workspace_1/workspace/values"]
        assert read_text(values.attrs["units"]) == "Counts"
        logs = f["mantid_workspace_1/logs"]
        assert read_text(logs["Ei/value"].attrs["units"]) == "meV"
        assert "units" not in logs["deltaE-mode/value"].attrs  # unitless: no attribute
        blank = [k for k, g in logs.items() if "value" in g
                 and read_text(g["value"].attrs.get("units", b"x")) == ""]
        assert blank == []


def test_data_arrays_are_compressed_as_mantid(outputs, shared):
    with h5py.File(outputs["template"][0]) as f:
        for key in ("values", "errors"):
            dataset = f[f"mantid_workspace_1/workspace/{key}"]
            assert (dataset.compression, dataset.compression_opts) == ("gzip", 6)
            assert dataset.chunks == (1, dataset.shape[1])  # one spectrum, as mslice's file
    with h5py.File(outputs["grid"][0]) as f:
        for key in ("signal", "errors_squared", "num_events", "mask"):
            assert f[f"{MD_ENTRY}/data/{key}"].compression == "gzip"
    with h5py.File(shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs") as real:
        values = real["mantid_workspace_1/workspace/values"]
        assert (values.compression, values.compression_opts) == ("gzip", 6)
