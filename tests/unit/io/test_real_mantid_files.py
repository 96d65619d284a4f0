"""Every real Mantid-written file in tests/data/shared/mantid_files is read and checked."""

import numpy as np
import pytest

from inslib.histogram import MDHISTO, Histogram
from inslib.io.files import load_workspace
from inslib.io.nexus_md import read_md
from inslib.io.nexus_processed import NexusFormatError, Table, read_processed


def test_mari_workspace2d(shared):
    (ws,) = read_processed(shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs")
    assert ws.shape == (285, 294)
    spectra, energy = ws.axes
    assert energy.unit == "DeltaE"
    assert energy.is_edges
    assert energy.values.size == 295
    assert energy.values[0] == pytest.approx(-30.0)
    assert energy.values[-1] == pytest.approx(58.2)
    assert spectra.unit == "spectraNumber"
    assert not spectra.is_edges
    np.testing.assert_array_equal(spectra.values[:3], [1, 2, 3])
    assert ws.metadata.ei == pytest.approx(59.37064727)
    assert ws.metadata.emode == "Direct"
    assert ws.metadata.instrument == "MARI"
    assert ws.distribution
    assert ws.y_unit_label == "Counts per meV"
    assert "Al pellets" in ws.metadata.title
    assert np.isfinite(ws.signal).all()
    assert not ws.mask.any()


def test_sunny_mdnorm_histogram(shared):
    md = read_md(shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs")
    assert md.kind == MDHISTO
    assert md.shape == (1, 1, 1, 88)
    names = [axis.name for axis in md.axes]
    assert names == ["[H,0,0]", "[-0.5K,K,0]", "[0,0,L]", "DeltaE"]
    assert [axis.frame for axis in md.axes] == ["HKL", "HKL", "HKL", "General Frame"]
    assert md.axes[1].projection == (-0.5, 1.0, 0.0)
    assert md.axes[0].edges == pytest.approx([-0.05, 0.05])
    assert md.metadata.logs["QConvention"].value == "Crystallography"
    assert (md.variance[~md.mask] >= 0).all()


def test_shiver_oriented_lattice_is_a_consistent_ub(shared):
    (ws,) = read_processed(shared / "mantid_files" / "Shiver_ub_process_nexus.nxs")
    assert ws.metadata.lattice == pytest.approx((3, 5, 7, 90, 90, 120))
    a, b, c = 3.0, 5.0, 7.0
    gamma = np.deg2rad(120)
    direct_metric = np.array([[a * a, a * b * np.cos(gamma), 0],
                              [a * b * np.cos(gamma), b * b, 0], [0, 0, c * c]])
    # UB^T UB is the reciprocal metric (no 2 pi) whatever the orientation U
    ub = ws.metadata.ub
    np.testing.assert_allclose(ub.T @ ub, np.linalg.inv(direct_metric), atol=1e-12)


def test_neuxtalviz_two_entries(shared):
    table, sample = read_processed(shared / "mantid_files" / "NeuXtalViz_experiment.nxs")
    assert isinstance(table, Table)
    assert table.name == "plan"
    assert table.columns["Comment"][0] == "(2.0 0.0 0.0)"
    assert table.columns["BL12:Mot:goniokm:omega"][0] == pytest.approx(18.0)
    assert isinstance(sample, Histogram)
    assert sample.metadata.instrument == "basic_rect"  # CreateSampleWorkspace's instrument
    assert sample.metadata.logs["instrument"].value == "TOPAZ"
    assert sample.metadata.logs["limits"].value.shape == (6,)


def test_vesuvio_table_workspace(shared):
    path = shared / "mantid_files" / "vesuvio_yspace_gauss_test_fwd_initial_parameters.nxs"
    (table,) = read_processed(path)
    assert table.name == "yspace_gauss_test_fwd_initial_parameters"
    assert len(table.columns["label"]) == 4
    assert table.columns["mass"].dtype.kind == "f"
    with pytest.raises(NexusFormatError, match="only TableWorkspaces"):
        load_workspace(path)
