"""Horace sqw/dnd files: the image as an MD histogram, simulated on its own bins, compared.

Format 4: a file written by scippneutron 26.7.0 (an independent writer that Horace reads;
tests/data/shared/horace/make_scippneutron_v4.py). Formats 2-3: no small real file could be
retrieved, so the files are written here by a test-only writer built from the layout Horace's
accessors document (dnd_binfile_common.get_dnd_form, sqw_binfile_common main header, header
and detpar forms), independently of the reader's code.
"""

import struct

import numpy as np
import pytest

from inslib.compare import compare
from inslib.io.files import load_workspace, save_workspace
from inslib.io.horace import HoraceFormatError, read_horace
from inslib.runtime.cli import main
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

V4_FILE = "scippneutron_v4_Ge_cut.sqw"
A_GE = 5.6575  # Angstrom, the lattice make_scippneutron_v4.py writes
# u1 = [1,1,0], u2 = [-1,1,0], u3 = [0,0,1] (r.l.u. per image unit), origin at (2, 2, 0)
U_TO_RLU = np.array([[1, -1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
OFFSET = np.array([2.0, 2.0, 0.0, 0.0])
P1 = np.linspace(-0.5, 0.5, 6)  # image coordinate along u1: H = K = 1.5 ... 2.5
P4 = np.arange(5.0, 36.0, 5.0)  # meV
NPIX = (np.arange(5 * 6).reshape(5, 6) % 4) * 3  # every 4th bin empty


# --- a test-only writer of the version 2/3 layout ---------------------------------------------

def _string(text: str) -> bytes:
    return struct.pack("<i", len(text)) + text.encode()


def _f32(values) -> bytes:
    return np.asarray(values, "<f4").tobytes(order="F")


def _labels(labels) -> bytes:
    width = max(len(label) for label in labels)
    padded = [label.ljust(width) for label in labels]
    chars = "".join(padded[row][col] for col in range(width) for row in range(len(padded)))
    return struct.pack("<ii", len(padded), width) + chars.encode()


def _app_header(version: float, sqw: bool, ndim: int) -> bytes:
    return struct.pack("<I", 6) + b"horace" + struct.pack("<dII", version, int(sqw), ndim)


def _image(signal, variance, npix) -> bytes:
    """Return a 2D cut's image block: plot axes u1 and energy, u2 and u3 over +-0.1."""
    head = (_string("cut.d2d") + _string("/data/") + _string("Ge (HH0) cut")
            + _f32([A_GE] * 3) + _f32([90.0] * 3) + _f32(OFFSET) + _f32(U_TO_RLU)
            + _f32([1.0] * 4) + _labels(["Q_{[1,1,0]}", "Q_{[-1,1,0]}", "Q_l", "E"])
            + struct.pack("<I", 2) + struct.pack("<2i", 2, 3)
            + _f32(np.array([[-0.1, -0.1], [0.1, 0.1]])) + struct.pack("<2i", 1, 4))
    axes = b"".join(struct.pack("<i", p.size) + _f32(p) for p in (P1, P4))
    arrays = (_f32(signal) + _f32(variance)
              + np.asarray(npix, "<u8").tobytes(order="F"))
    return head + axes + struct.pack("<2i", 1, 2) + arrays


def _run_header(psi_deg: float) -> bytes:
    angles = np.radians([psi_deg, 0.0, 0.25, 1.5, -1.0])  # psi, omega, dpsi, gl, gs
    return (_string("run.nxspe") + _string("/data/") + struct.pack("<fi", 45.0, 1)
            + _f32([A_GE] * 3) + _f32([90.0] * 3) + _f32([1, 1, 0]) + _f32([0, 0, 1])
            + _f32(angles) + struct.pack("<i", 3) + _f32([0.0, 10.0, 20.0])
            + _f32(np.zeros(4)) + _f32(np.eye(4)) + _f32(np.ones(4))
            + _labels(["Q_x", "Q_y", "Q_z", "E"]))


def _write_v3(path, signal, variance, npix=NPIX, *, sqw=False, version=3.0):
    if sqw:
        detectors = _string("det.par") + _string("/data/") + struct.pack("<I", 2) + _f32(
            np.zeros(12))
        pixels = _f32(np.zeros(8)) + struct.pack("<iq", 0, 1) + _f32(np.zeros(9))
        body = (_string("cut.sqw") + _string("/data/") + _string("Ge") + struct.pack("<i", 2)
                + _run_header(30.0) + _run_header(32.5) + detectors
                + _image(signal, variance, npix) + pixels)
    else:
        body = _image(signal, variance, npix)
    path.write_bytes(_app_header(version, sqw, 2) + body)
    return path


def _image_values():
    signal = 1.0 + np.arange(30.0).reshape(5, 6)
    return signal, 0.1 * signal


# --- reading ----------------------------------------------------------------------------------

def test_v3_dnd_image_on_hkl_axes_with_npix_mask(tmp_path):
    """Edges shifted by the origin (2,2,0) along u1, projections from u_to_rlu, npix mask."""
    signal, variance = _image_values()
    hist = load_workspace(_write_v3(tmp_path / "cut.d2d", signal, variance))
    assert hist.shape == (5, 1, 1, 6)
    np.testing.assert_allclose(hist.axes[0].edges, P1 + 2, rtol=1e-6)
    np.testing.assert_allclose(hist.axes[1].edges, [-0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(hist.axes[3].edges, P4)
    assert [axis.projection for axis in hist.axes[:3]] == [(1, 1, 0), (-1, 1, 0), (0, 0, 1)]
    assert [axis.name for axis in hist.axes] == ["Q_{[1,1,0]}", "Q_{[-1,1,0]}", "Q_l", "DeltaE"]
    assert hist.axes[3].unit == "DeltaE"
    empty = NPIX == 0
    np.testing.assert_array_equal(hist.mask[:, 0, 0, :], empty)
    assert np.isnan(hist.signal[:, 0, 0, :][empty]).all()
    np.testing.assert_allclose(hist.signal[:, 0, 0, :][~empty], signal[~empty], rtol=1e-6)
    np.testing.assert_allclose(hist.variance[:, 0, 0, :][~empty], variance[~empty], rtol=1e-6)
    assert hist.metadata.lattice == pytest.approx((A_GE,) * 3 + (90.0,) * 3, rel=1e-6)


def test_v3_sqw_skips_headers_and_detectors_and_keeps_the_run_orientation(tmp_path):
    signal, variance = _image_values()
    path = _write_v3(tmp_path / "cut.sqw", signal, variance, sqw=True)
    image = read_horace(path)
    assert [run.psi for run in image.runs] == pytest.approx([30.0, 32.5], abs=1e-5)
    run = image.runs[0]
    assert (run.dpsi, run.gl, run.gs, run.efix, run.emode) == pytest.approx(
        (0.25, 1.5, -1.0, 45.0, 1), abs=1e-5)
    assert run.u == (1, 1, 0)
    np.testing.assert_array_equal(image.npix[:, 0, 0, :], NPIX)
    hist = load_workspace(path)
    assert (hist.metadata.emode, hist.metadata.ei) == ("Direct", 45.0)


def test_v4_file_from_an_independent_writer(shared):
    """A type "aaa" cut from scippneutron: 1/Angstrom image axes become r.l.u. along [H,0,0]."""
    image = read_horace(shared / "horace" / V4_FILE)
    assert image.version == 4.0
    assert image.integrated == (False, True, True, False)
    assert image.projection.scaling == "aaa"
    assert image.projection.in_rlu == (False, False, False)
    hist = load_workspace(shared / "horace" / V4_FILE)
    step = A_GE / (2 * np.pi)  # r.l.u. per 1/Angstrom along a cubic axis
    assert hist.axes[0].projection == pytest.approx((step, 0, 0), rel=1e-12)
    h = np.asarray(hist.axes[0].projection)[0] * hist.axes[0].edges
    np.testing.assert_allclose(h, np.linspace(1, 2, 5), rtol=1e-12)
    np.testing.assert_allclose(hist.axes[3].edges, np.arange(0.0, 41.0, 5.0))
    # make_scippneutron_v4.py: signal 1 + C-order index, npix = index % 5 (0: masked)
    index = np.arange(32).reshape(4, 1, 1, 8)
    np.testing.assert_array_equal(hist.mask, index % 5 == 0)
    np.testing.assert_array_equal(hist.signal[~hist.mask], (1.0 + index)[~hist.mask])
    # the file's e field as stored: scippneutron writes sqrt(variance) there (see docs)
    stored = np.sqrt(0.25 + 0.01 * index)
    np.testing.assert_allclose(hist.variance[~hist.mask], stored[~hist.mask], rtol=1e-12)
    assert [run.psi for run in image.runs] == pytest.approx([10.0, 20.0], rel=1e-12)
    assert (image.runs[0].dpsi, image.runs[0].gl, image.runs[0].gs) == pytest.approx(
        (0.5, 1.0, -2.0), rel=1e-12)
    assert (hist.metadata.emode, hist.metadata.ei) == ("Direct", 60.0)


# --- bad input --------------------------------------------------------------------------------

def test_wrong_magic_names_the_file_and_what_is_supported(tmp_path):
    path = tmp_path / "notes.sqw"
    path.write_bytes(struct.pack("<I", 6) + b"matlab" + bytes(40))
    with pytest.raises(HoraceFormatError, match=r"notes\.sqw is not a Horace file.*'horace'"):
        read_horace(path)


def test_unsupported_version_is_named(tmp_path):
    signal, variance = _image_values()
    path = _write_v3(tmp_path / "old.sqw", signal, variance, version=1.0)
    with pytest.raises(HoraceFormatError, match=r"version 1 is not supported.*2 to 3\.x"):
        read_horace(path)


def test_truncated_file_names_the_field_and_sizes(tmp_path):
    signal, variance = _image_values()
    full = _write_v3(tmp_path / "full.d2d", signal, variance).read_bytes()
    (tmp_path / "cut.d2d").write_bytes(full[:150])
    with pytest.raises(HoraceFormatError, match=r"cut\.d2d is truncated: .* the file has 150"):
        read_horace(tmp_path / "cut.d2d")
    (tmp_path / "nonpix.d2d").write_bytes(full[:-8 * NPIX.size])
    with pytest.raises(HoraceFormatError, match="no npix array"):
        read_horace(tmp_path / "nonpix.d2d")


def test_v4_file_without_the_image_block(shared, tmp_path):
    name = struct.pack("<I", 7) + b"nd_data"  # the level-2 name in the block table
    data = (shared / "horace" / V4_FILE).read_bytes().replace(name, name[:-1] + b"_", 1)
    (tmp_path / "broken.sqw").write_bytes(data)
    with pytest.raises(HoraceFormatError, match="no data/nd_data block"):
        read_horace(tmp_path / "broken.sqw")


def test_bad_horace_input_workspace_names_the_property(tmp_path, ge_files):
    (tmp_path / "bad.sqw").write_bytes(_app_header(7.0, True, 4))
    with pytest.raises((InvalidArgumentsError, ValueError)) as info:
        run_algorithm("SimulateSingleCrystalSQE", InputWorkspace=str(tmp_path / "bad.sqw"),
                      Temperature="5", OutputWorkspace="s", **ge_files)
    assert "InputWorkspace" in str(info.value)
    assert "version 7" in str(info.value)


# --- simulating on the cut and comparing ------------------------------------------------------

@pytest.fixture(scope="module")
def simulated(tmp_path_factory, ge_files):
    """Ge S(Q,E) on the v3 cut's own projection and bins (1 sample per bin: fast)."""
    folder = tmp_path_factory.mktemp("horace")
    signal, variance = _image_values()
    cut = _write_v3(folder / "cut.d2d", signal, variance)
    out = run_algorithm("SimulateSingleCrystalSQE", InputWorkspace=str(cut), Temperature="5",
                        EnergyResolution="1", MeshSize="6", SamplesPerBin="1",
                        OutputWorkspace="s", **ge_files)["OutputWorkspace"]
    return folder, out


def test_simulation_uses_the_cut_projection_bins_and_mask(simulated):
    folder, out = simulated
    template = load_workspace(folder / "cut.d2d")
    assert out.shape == template.shape
    for ours, theirs in zip(out.axes, template.axes, strict=True):
        np.testing.assert_allclose(ours.edges, theirs.edges)
        assert ours.projection == theirs.projection
    np.testing.assert_array_equal(out.mask, template.mask)
    assert np.isfinite(out.signal[~out.mask]).all()
    assert np.ptp(out.signal[~out.mask]) > 0


def test_simulation_on_the_independent_v4_file_in_one_call(shared, ge_files):
    """The scippneutron cut as InputWorkspace: its bins, its mask, its Ei (60 meV)."""
    out = run_algorithm("SimulateSingleCrystalSQE", InputWorkspace=str(shared / "horace" / V4_FILE),
                        Temperature="5", EnergyResolution="2", MeshSize="6", SamplesPerBin="1",
                        OutputWorkspace="s", **ge_files)["OutputWorkspace"]
    template = load_workspace(shared / "horace" / V4_FILE)
    np.testing.assert_allclose(out.axes[0].edges, template.axes[0].edges)
    np.testing.assert_array_equal(out.mask, template.mask)
    assert np.isfinite(out.signal[~out.mask]).all()
    assert out.metadata.ei == 60.0


def test_compare_recovers_scale_and_background_of_a_horace_measurement(simulated, capsys):
    """A measurement 2 x model + 0.5 written as a Horace file: scale 2, background 0.5, r 1.

    Tolerance 1e-5: the file stores float32 (relative rounding 6e-8 per bin).
    """
    folder, model = simulated
    measured_signal = np.where(model.mask, 0.0, 2 * model.signal + 0.5)[:, 0, 0, :]
    measured = _write_v3(folder / "measured.d2d", measured_signal,
                         np.full(measured_signal.shape, 0.01))
    result = compare(model, load_workspace(measured), e_min=1.0)
    assert result.scale == pytest.approx(2.0, rel=1e-5)
    assert result.background == pytest.approx(0.5, rel=1e-5)
    assert result.pearson_r == pytest.approx(1.0, abs=1e-9)
    model_file = save_workspace(model, folder / "model.nxs")
    assert main(["compare", str(model_file), str(measured), "--emin", "1"]) == 0
    assert "scale 2  background 0.5" in capsys.readouterr().out
