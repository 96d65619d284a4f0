"""Files this package writes round-trip and match the real files' structure."""

import h5py
import numpy as np
import pytest

from inslib.axes import Axis, energy_axis, q_axis
from inslib.histogram import MDHISTO, Histogram, Log, Metadata
from inslib.io.files import load_workspace, save_workspace
from inslib.io.nexus_processed import NexusFormatError


def powder(rng):
    axes = (q_axis(np.linspace(0, 5, 11)), energy_axis(np.linspace(-5, 50, 12)))
    signal = rng.random((10, 11))
    mask = np.zeros(signal.shape, bool)
    mask[0, -3:] = True
    metadata = Metadata(instrument="ARCS", emode="Direct", ei=60.0, temperature=5.0,
                        lattice=(4.05, 4.05, 4.05, 90, 90, 90), ub=np.eye(3) / 4.05,
                        provenance=["test"],
                        logs={"ResolutionFWHM": Log(np.linspace(3, 1, 11), "meV")})
    return Histogram(axes, signal, signal * 0.1, mask, metadata)


def md_volume(rng):
    axes = [Axis(np.linspace(-1, 1, 5), "r.l.u.", "[H,0,0]", frame="HKL", projection=(1, 0, 0)),
            Axis(np.linspace(-1, 1, 4), "r.l.u.", "[0,K,0]", frame="HKL", projection=(0, 1, 0)),
            Axis(np.linspace(-0.5, 0.5, 2), "r.l.u.", "[0,0,L]", frame="HKL",
                 projection=(0, 0, 1)),
            Axis(np.linspace(0, 30, 7), "DeltaE", "DeltaE")]
    signal = rng.random((4, 3, 1, 6))
    mask = rng.random(signal.shape) < 0.3
    metadata = Metadata(ei=50.0, w_matrix=np.eye(3), lattice=(5.65, 5.65, 5.65, 90, 90, 90))
    return Histogram(axes, signal, signal**2, mask, metadata, kind=MDHISTO)


def test_workspace2d_round_trip(tmp_path):
    hist = powder(np.random.default_rng(1))
    back = load_workspace(save_workspace(hist, tmp_path / "p.nxs"))
    np.testing.assert_array_equal(back.axes[0].edges, hist.axes[0].edges)
    np.testing.assert_array_equal(back.axes[1].edges, hist.axes[1].edges)
    np.testing.assert_array_equal(back.mask, hist.mask)
    np.testing.assert_allclose(back.signal[~back.mask], hist.signal[~hist.mask])
    np.testing.assert_allclose(back.variance[~back.mask], hist.variance[~hist.mask])
    assert back.metadata.ei == 60.0
    assert back.metadata.temperature == 5.0
    assert back.metadata.emode == "Direct"
    assert back.metadata.instrument == "ARCS"
    np.testing.assert_allclose(back.metadata.logs["ResolutionFWHM"].value, np.linspace(3, 1, 11))
    assert back.metadata.lattice == pytest.approx(hist.metadata.lattice)
    with h5py.File(tmp_path / "p.nxs") as f:
        # errors on disk are sigma, uncovered bins NaN (as Mantid shows no coverage)
        errors = f["mantid_workspace_1/workspace/errors"][()]
        np.testing.assert_allclose(errors[~hist.mask], np.sqrt(hist.variance[~hist.mask]))
        assert np.isnan(f["mantid_workspace_1/workspace/values"][()][hist.mask]).all()
        assert f["mantid_workspace_1/workspace/axis2"].size == 11  # nSpec + 1: BinEdgeAxis


def test_md_round_trip_and_dimension_order(tmp_path):
    hist = md_volume(np.random.default_rng(2))
    path = save_workspace(hist, tmp_path / "v.nxs")
    with h5py.File(path) as f:
        assert f["MDHistoWorkspace/data/signal"].shape == (6, 1, 3, 4)  # reversed, as SaveMD
        assert f["MDHistoWorkspace/data/signal"].attrs["axes"] == b"D3:D2:D1:D0"
        stored = f["MDHistoWorkspace/data/signal"][()].transpose(3, 2, 1, 0)
        np.testing.assert_array_equal(stored[~hist.mask], hist.signal[~hist.mask])
        assert np.isnan(stored[hist.mask]).all()
        assert f["MDHistoWorkspace/data/mask"][()].transpose(3, 2, 1, 0).astype(bool).tolist() \
            == hist.mask.tolist()
    back = load_workspace(path)
    np.testing.assert_array_equal(back.mask, hist.mask)
    np.testing.assert_allclose(back.signal[~back.mask], hist.signal[~hist.mask])
    assert [a.projection for a in back.axes[:3]] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    np.testing.assert_array_equal(back.metadata.w_matrix, np.eye(3))


def _structure(group, prefix=""):
    """{relative path: (kind, NX_class, dtype kind, attribute names)} of a file subtree."""
    out = {}
    for key, item in group.items():
        path = f"{prefix}{key}"
        if isinstance(item, h5py.Group):
            out[path] = ("group", item.attrs.get("NX_class"), None, set(item.attrs))
            out.update(_structure(item, path + "/"))
        else:
            out[path] = ("data", None, item.dtype.kind, set(item.attrs))
    return out


def _compare(ours, real, paths):
    for path in paths:
        assert path in ours, f"we do not write {path}"
        assert path in real, f"the real file has no {path}"
        kind, nx_class, dtype, attrs = ours[path]
        real_kind, real_class, real_dtype, real_attrs = real[path]
        assert (kind, nx_class) == (real_kind, real_class), path
        if dtype is not None:
            assert dtype == real_dtype, f"{path}: dtype {dtype} vs {real_dtype}"
        assert real_attrs <= attrs, f"{path}: attributes {attrs} vs real {real_attrs}"


WS2D_PATHS = ["mantid_workspace_1", "mantid_workspace_1/definition",
              "mantid_workspace_1/definition_local", "mantid_workspace_1/title",
              "mantid_workspace_1/workspace_name", "mantid_workspace_1/workspace",
              "mantid_workspace_1/workspace/values", "mantid_workspace_1/workspace/errors",
              "mantid_workspace_1/workspace/axis1", "mantid_workspace_1/workspace/axis2",
              "mantid_workspace_1/sample", "mantid_workspace_1/sample/num_oriented_lattice",
              "mantid_workspace_1/sample/num_other_samples", "mantid_workspace_1/sample/geom_id",
              "mantid_workspace_1/logs", "mantid_workspace_1/logs/Ei",
              "mantid_workspace_1/logs/Ei/value", "mantid_workspace_1/logs/deltaE-mode/value",
              "mantid_workspace_1/instrument", "mantid_workspace_1/instrument/name",
              "mantid_workspace_1/process"]


LATTICE = "mantid_workspace_1/sample/oriented_lattice"
LATTICE_PATHS = [LATTICE, f"{LATTICE}/orientation_matrix", f"{LATTICE}/unit_cell_a",
                 f"{LATTICE}/unit_cell_gamma"]


@pytest.mark.parametrize(("real_file", "paths"), [
    ("mslice_MAR21335_Ei60meV.nxs", WS2D_PATHS),  # Workspace2D with instrument and Ei log
    ("Shiver_ub_process_nexus.nxs", LATTICE_PATHS),  # oriented lattice / UB
])
def test_workspace2d_structure_matches_real_file(tmp_path, shared, real_file, paths):
    path = save_workspace(powder(np.random.default_rng(3)), tmp_path / "p.nxs")
    with h5py.File(path) as ours, h5py.File(shared / "mantid_files" / real_file) as real:
        _compare(_structure(ours), _structure(real), paths)


def test_md_structure_matches_real_sunny_file(tmp_path, shared):
    path = save_workspace(md_volume(np.random.default_rng(5)), tmp_path / "v.nxs")
    data = "MDHistoWorkspace/data"
    paths = ["MDHistoWorkspace", data, f"{data}/D0", f"{data}/D3", f"{data}/signal",
             f"{data}/errors_squared", f"{data}/num_events", f"{data}/mask"]
    with h5py.File(path) as ours, \
            h5py.File(shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs") as real:
        _compare(_structure(ours), _structure(real), paths)
        for key in ("NX_class", "SaveMDVersion", "QConvention"):
            assert key in ours["MDHistoWorkspace"].attrs
        assert ours["MDHistoWorkspace"].attrs["SaveMDVersion"].dtype == \
            real["MDHistoWorkspace"].attrs["SaveMDVersion"].dtype


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    import inslib.io.nexus_processed as module

    def explode(*_args):
        msg = "disk full"
        raise RuntimeError(msg)

    monkeypatch.setattr(module, "write_process", explode)
    target = tmp_path / "p.nxs"
    with pytest.raises(RuntimeError, match="disk full"):
        save_workspace(powder(np.random.default_rng(6)), target)
    assert list(tmp_path.iterdir()) == []


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_workspace(tmp_path / "nope.nxs")
    corrupt = tmp_path / "corrupt.nxs"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(NexusFormatError, match="not a readable HDF5"):
        load_workspace(corrupt)
    foreign = tmp_path / "foreign.nxs"
    with h5py.File(foreign, "w") as f:
        f.create_group("entry")
    with pytest.raises(NexusFormatError):
        load_workspace(foreign)


@pytest.mark.parametrize(("real_file", "entry"), [
    ("Shiver_ub_process_nexus.nxs", "mantid_workspace_1"),
    ("NeuXtalViz_experiment.nxs", "mantid_workspace_2"),
])
def test_b_matrix_gives_mantids_reciprocal_metric(shared, real_file, entry):
    """Our B of a real file's lattice: B^T B = (UB)^T UB of the UB Mantid wrote (1e-6).

    Mantid derives the lattice from the UB (any U: U^T U = 1), so this is what it reads.
    """
    from inslib.io.nexus_processed import busing_levy_b

    with h5py.File(shared / "mantid_files" / real_file, "r") as f:
        group = f[f"{entry}/sample/oriented_lattice"]
        lattice = [float(group[k][0]) for k in ("unit_cell_a", "unit_cell_b", "unit_cell_c",
                                                "unit_cell_alpha", "unit_cell_beta",
                                                "unit_cell_gamma")]
        ub = group["orientation_matrix"][()]
    b = busing_levy_b(lattice)
    np.testing.assert_allclose(b.T @ b, ub.T @ ub, rtol=1e-6, atol=1e-9)
    assert np.allclose(np.tril(b, -1), 0.0)  # U = identity: upper triangular


def test_lattice_without_ub_is_written_with_its_b_matrix(tmp_path):
    """A lattice with no UB gets U = identity and the cell's B, not the identity (a = 1 A)."""
    from inslib.io.nexus_processed import busing_levy_b

    hist = md_volume(np.random.default_rng(3))
    hist.metadata.lattice = (5.0, 6.0, 7.0, 80.0, 95.0, 110.0)
    save_workspace(hist, tmp_path / "md.nxs")
    with h5py.File(tmp_path / "md.nxs") as f:
        matrices = []
        f.visititems(lambda name, obj: matrices.append(obj[()])
                     if name.endswith("oriented_lattice/orientation_matrix") else None)
    assert matrices
    for ub in matrices:
        np.testing.assert_allclose(ub, busing_levy_b(hist.metadata.lattice))
        metric = np.linalg.inv(ub.T @ ub)  # direct metric tensor: lattice lengths back
        np.testing.assert_allclose(np.sqrt(np.diag(metric)), [5.0, 6.0, 7.0], rtol=1e-10)
