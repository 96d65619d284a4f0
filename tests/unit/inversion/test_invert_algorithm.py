"""InvertForceConstants on the host: bad input refused before any work, outputs on a real map.

The measured map is the ARCS Al map shipped in tests/data (Ei = 80 meV, 300 K). The end-to-end
run uses a coarse powder average (20 directions, 6^3 mesh, one start) so that it takes seconds:
it checks the outputs' shapes, units and round trips, not the fit's accuracy (that is
tests/unit/inversion/test_gradient.py and tests/validation/test_inversion_measured.py).
"""

from dataclasses import replace

import numpy as np
import pytest

from inslib.io.histogram_h5 import read_histogram_h5
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

AL_MAP = "tests/data/Al-iqe.h5"
AL_FC = "tests/data/Al_phonopy/phonopy.yaml"
FAST = {"DirectionsPerShell": 20, "MeshSize": 6, "Starts": 1, "MultiphononOrder": 2}
BASE = {"ForceConstantsFile": AL_FC, "Instrument": "ARCS", "Ei": 80.0, "Temperature": 300.0}


@pytest.fixture(scope="module")
def measured():
    return read_histogram_h5(AL_MAP)


def _refused(tmp_path, workspace, **changes) -> dict:
    out = tmp_path / "fit.nxs"
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("InvertForceConstants", InputWorkspace=workspace,
                      OutputWorkspace=str(out), **(BASE | FAST | changes))
    assert not out.exists()  # nothing written
    return info.value.errors


def test_workspace_without_energy_axis_is_refused(tmp_path, measured):
    from inslib.axes import Axis

    axes = (measured.axes[0], Axis(measured.axes[1].values, "MomentumTransfer", "Q"))
    errors = _refused(tmp_path, replace(measured, axes=axes))
    assert "DeltaE" in errors["InputWorkspace"]  # names the missing energy-transfer axis


@pytest.mark.parametrize(("fill", "fragment"), [(np.nan, "NaN"), (0.0, "every value is 0")])
def test_empty_data_is_refused(tmp_path, measured, fill, fragment):
    empty = replace(measured, signal=np.full(measured.signal.shape, fill))
    assert fragment in _refused(tmp_path, empty)["InputWorkspace"]


def test_negative_errors_are_refused(tmp_path, measured):
    bad = replace(measured, variance=-np.abs(measured.variance) - 1.0)
    assert "negative" in _refused(tmp_path, bad)["InputWorkspace"]


def test_temperature_that_disagrees_with_the_log_is_refused(tmp_path, measured):
    logged = replace(measured, metadata=replace(measured.metadata, temperature=10.0))
    message = _refused(tmp_path, logged)["Temperature"]
    assert "300 K" in message
    assert "10 K" in message


def test_unknown_parameter_name_is_refused(tmp_path, measured):
    message = _refused(tmp_path, measured, FittedParameters="1NN xx,3NN zz")["FittedParameters"]
    assert "3NN zz" in message
    assert "1NN xy" in message


def test_shells_beyond_the_supercell_are_refused(tmp_path, measured):
    message = _refused(tmp_path, measured, Shells=9)["Shells"]
    assert "supercell holds only" in message


def test_emax_below_emin_is_refused(tmp_path, measured):
    assert "EMax" in _refused(tmp_path, measured, EMin=20.0, EMax=10.0)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, measured):
    folder = tmp_path_factory.mktemp("invert")
    result = run_algorithm(
        "InvertForceConstants", InputWorkspace=measured, OutputWorkspace="fit",
        OutputResidualWorkspace="residual", OutputParameterTable="params",
        OutputDispersionWorkspace="dispersion",
        OutputForceConstantsFile=str(folder / "inverted.yaml"), **(BASE | FAST))
    return result, folder / "inverted.yaml"


def test_outputs_share_the_measured_bins(outputs, measured):
    result, _ = outputs
    fitted, residual = result["OutputWorkspace"], result["OutputResidualWorkspace"]
    for out in (fitted, residual):
        assert out.shape == measured.shape
        assert all(np.array_equal(a.edges, b.edges)
                   for a, b in zip(out.axes, measured.axes, strict=True))
    used = np.isfinite(residual.signal)
    np.testing.assert_allclose(residual.signal[used],
                               measured.signal[used] - fitted.signal[used], rtol=1e-12)
    # EMin = 8 meV and EMax = 0.95 Ei = 76 meV bound the fitted bins
    energy = measured.axes[1].centres
    assert not used[:, (energy <= 8.0) | (energy >= 76.0)].any()


def test_parameter_table_lists_parameters_then_nuisances(outputs):
    table = outputs[0]["OutputParameterTable"]
    names = table.column("Name")
    assert names[:5] == ["1NN xx", "1NN zz", "1NN xy", "2NN xx", "2NN yy"]
    assert names[5:] == ["Scale", "Background", "PearsonR", "NMSE", "ChiSquaredPerDoF"]
    errors = np.array(table.column("Error")[:5])
    assert np.all(errors > 0)
    assert np.all(np.isfinite(errors))
    distances = np.array(table.column("Distance")[:5])
    # fcc Al, a = 4.04 A: 1NN at a / sqrt(2), 2NN at a
    np.testing.assert_allclose(distances[:3] * np.sqrt(2), distances[3:].mean(), rtol=1e-6)


def test_inverted_force_constants_load_and_match_the_table(outputs):
    from inslib.phonons.force_constants import load_force_constants
    from inslib.phonons.parameters import ParameterBasis

    result, path = outputs
    inverted = load_force_constants(path)
    params, residual = ParameterBasis.from_force_constants(inverted, shells=2).project(inverted)
    table = result["OutputParameterTable"]
    np.testing.assert_allclose(params[0], table.column("Value")[:5], rtol=1e-6, atol=1e-9)
    assert residual[0] < 1e-8  # nothing beyond the second shell


def test_dispersion_has_three_branches_with_a_band(outputs):
    dispersion = outputs[0]["OutputDispersionWorkspace"]
    assert dispersion.shape[0] == 3  # one atom: three acoustic branches
    labels = [label for _, label in dispersion.axes[1].ticks]
    assert labels[0] == "G"
    assert np.all(dispersion.variance >= 0)
    assert dispersion.variance.max() > 0
    assert np.all(np.diff(dispersion.axes[1].values) > 0)
    assert abs(dispersion.signal[:, 0]).max() < 0.5  # acoustic modes vanish at Gamma (meV)


def test_poisson_error_model_needs_errors(tmp_path, measured):
    bare = replace(measured, variance=np.zeros(measured.shape))
    assert "has none" in _refused(tmp_path, bare, ErrorModel="Poisson")["ErrorModel"]
