"""A temperature series fitted jointly: shared force constants, each map's own nuisances.

Two simulated Al powder maps (coarse ARCS Ei = 50 meV template, as test_series.py) from one
softened parameter set at 100 and 300 K, with Poisson counts of similar statistics (400
counts per bin on average, each map its own scale). The joint fit must recover the set within
3 sigma and, with twice the data on the same parameters, give smaller sigmas than either
single-map fit.
"""

from dataclasses import replace

import numpy as np
import pytest

from inslib.instruments.templates import create_sqe_template
from inslib.inversion.build import build_problem
from inslib.inversion.request import InversionRequest
from inslib.inversion.run import invert
from inslib.inversion.series import invert_joint, joint_table, validate_series
from inslib.scattering.powder import PowderSampling
from inslib.simulation.errors import SimulationError
from inslib.simulation.requests import PowderRequest, TemplateRequest

AL_FC = "tests/data/Al_phonopy/phonopy.yaml"
U_TRUE = np.array([-0.1, 0.1, -0.05, 0.0, 0.0])
COUNTS = 400.0  # mean counts per covered bin of each map


def _request(temperature, measured=None, **changes):
    template = TemplateRequest(instrument="ARCS", ei=50.0, temperature=temperature,
                               q_binning="0.5,0.25,8", e_binning="-7,1.5,47",
                               template=measured)
    simulation = PowderRequest(AL_FC, "", template=template, sampling=PowderSampling(1, 20),
                               grid=6, multiphonon_order=3)
    return InversionRequest(simulation, method="Gradient", starts=1, **changes)


def _counted(temperature, seed):
    """Request on a Poisson map of the true set, and the true parameters (eV/Angstrom^2)."""
    import torch

    empty = create_sqe_template(_request(temperature).simulation.template)
    problem = build_problem(_request(temperature, replace(empty, signal=np.ones(empty.shape))))
    with torch.no_grad():
        model = problem.spectra(torch.as_tensor(U_TRUE[None]))[0].numpy()
    per_count = model[~empty.mask].mean() / COUNTS  # signal of one count
    expected = np.maximum(model / per_count, 0.0)
    counts = np.random.default_rng(seed).poisson(expected)
    # errors from the expected counts (floored at one): the weights carry no Neyman bias
    measured = replace(empty, signal=np.where(empty.mask, np.nan, counts * per_count),
                       variance=np.maximum(expected, 1.0) * per_count**2)
    return _request(temperature, measured), problem.params(U_TRUE)


@pytest.fixture(scope="module")
def fits():
    (cold, truth), (hot, _) = _counted(100.0, 1), _counted(300.0, 2)
    return invert_joint([hot, cold]), [invert(cold), invert(hot)], truth


def test_the_joint_fit_recovers_the_truth_within_three_sigma(fits):
    joint, _, truth = fits
    fit = joint.fit
    free = fit.sigma > 0
    assert free.all()
    assert np.all(np.abs(fit.params - truth) < 3 * fit.sigma)
    # the joint chi^2/dof of Poisson maps with their true errors
    assert 0.8 < fit.reduced_chi2 < 1.2
    assert [r.temperature for r in joint.results] == [100.0, 300.0]


def test_the_joint_sigmas_are_smaller_than_either_single_maps(fits):
    joint, singles, _ = fits
    smaller = np.minimum(*(single.fit.sigma for single in singles))
    # dominant parameters: the 1NN terms (largest |reference|); equal statistics would give
    # 1/sqrt(2) = 0.71 of each; the 100 K map carries less multiphonon and Debye-Waller
    # weight, so its sigmas differ from the 300 K map's: 0.9 x the smaller leaves room
    dominant = np.abs(joint.results[0].fit.problem.reference) > 0.1 * np.abs(
        joint.results[0].fit.problem.reference).max()
    assert np.all(joint.fit.sigma[dominant] < 0.9 * smaller[dominant])
    # independent maps add their information: 1/sigma^2 = sum of the singles' (measured
    # agreement 0.1 %; the optima, and so the curvatures, differ slightly between the fits)
    combined = sum(single.fit.sigma ** -2.0 for single in singles) ** -0.5
    np.testing.assert_allclose(joint.fit.sigma, combined, rtol=0.05)


def test_each_map_keeps_its_own_nuisances_and_the_shared_set(fits):
    joint, _, _ = fits
    first, second = joint.fit.fits
    np.testing.assert_array_equal(first.params, second.params)  # one shared set
    assert first.scale != second.scale  # each map its own normalisation
    for result in joint.results:
        np.testing.assert_array_equal(result.force_constants.fc,
                                      joint.results[0].force_constants.fc)


def test_the_joint_table_lists_shared_parameters_once(fits):
    joint, _, _ = fits
    columns, rows = joint_table(joint)
    assert columns == ["Name", "Temperature", "Distance", "Value", "Error", "Reference"]
    names = joint.fit.fits[0].problem.names
    assert [row[0] for row in rows[:len(names)]] == names
    assert all(np.isnan(row[1]) for row in rows[:len(names)])
    assert [row[4] for row in rows[:len(names)]] == pytest.approx(joint.fit.sigma)
    per_map = [(row[0], row[1]) for row in rows[len(names):-1]]
    for temperature in (100.0, 300.0):
        for name in ("Scale", "Background", "ChiSquaredPerDoF"):
            assert (name, temperature) in per_map
    assert rows[-1][0] == "ChiSquaredPerDoF"
    assert rows[-1][3] == pytest.approx(joint.fit.reduced_chi2)


def test_a_single_map_is_refused_for_a_joint_fit():
    request, _ = _counted(300.0, 3)
    message = validate_series([request], fit="Joint")["SeriesFit"]
    assert "Joint" in message
    assert "SeriesWorkspaces" in message  # the fix
    with pytest.raises(SimulationError, match="SeriesFit"):
        invert_joint([request])


@pytest.mark.parametrize(("change", "prop"), [({"shells": 1}, "Shells"),
                                              ({"parameter_range": 0.3}, "ParameterRange")])
def test_maps_with_different_settings_are_refused(change, prop):
    cold, _ = _counted(100.0, 4)
    hot, _ = _counted(300.0, 5)
    message = validate_series([cold, replace(hot, **change, _errors=None)])[prop]
    assert "map 2" in message
    assert prop in message


def test_maps_with_different_force_constants_are_refused(tmp_path):
    from inslib.simulation.setup import read_force_constants

    cold, _ = _counted(100.0, 6)
    hot, _ = _counted(300.0, 7)
    stiffer = read_force_constants(AL_FC, "", "")
    stiffer = replace(stiffer, fc=1.2 * stiffer.fc)
    path = tmp_path / "stiffer.yaml"
    stiffer.save_phonopy_yaml(str(path))
    other = replace(hot.simulation, force_constants=str(path))
    message = validate_series([cold, replace(hot, simulation=other, _errors=None)])[
        "ForceConstantsFile"]
    assert "map 2" in message
    assert "stiffer.yaml" in message


ALGORITHM = {"ForceConstantsFile": AL_FC, "Instrument": "ARCS", "Ei": 50.0, "Method": "Gradient",
             "Starts": 1, "DirectionsPerShell": 20, "MeshSize": 6, "MultiphononOrder": 3}


@pytest.fixture
def ads():
    """Yield the host's workspaces by name; remove what the test added."""
    from inslib.runtime.host import ADS

    before = set(ADS)
    yield ADS
    for name in set(ADS) - before:
        del ADS[name]


def _refused_by_algorithm(**properties) -> dict:
    from inslib.runtime.host import InvalidArgumentsError, run_algorithm

    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("InvertForceConstants", OutputWorkspace="fit", **(ALGORITHM | properties))
    return info.value.errors


def test_the_algorithm_refuses_a_joint_fit_of_one_map():
    cold, _ = _counted(100.0, 8)
    errors = _refused_by_algorithm(InputWorkspace=cold.measured, Temperature=100.0,
                                   SeriesFit="Joint")
    assert "SeriesWorkspaces" in errors["SeriesFit"]


def test_the_algorithm_refuses_temperatures_that_do_not_match_the_maps(ads):
    (cold, _), (hot, _) = _counted(100.0, 9), _counted(300.0, 10)
    ads["joint_hot"] = hot.measured
    errors = _refused_by_algorithm(InputWorkspace=cold.measured, Temperature=100.0,
                                   SeriesWorkspaces="joint_hot", SeriesTemperatures="300,200",
                                   SeriesFit="Joint")
    assert "2 temperatures for 1 SeriesWorkspaces" in errors["SeriesTemperatures"]
    errors = _refused_by_algorithm(InputWorkspace=cold.measured, Temperature=100.0,
                                   SeriesWorkspaces="joint_hot,no_such_map", SeriesFit="Joint")
    assert "no_such_map" in errors["SeriesWorkspaces"]


def test_the_algorithm_fits_a_series_jointly(ads):
    from inslib.runtime.host import run_algorithm

    (cold, truth), (hot, _) = _counted(100.0, 1), _counted(300.0, 2)
    ads["joint_hot"] = hot.measured
    out = run_algorithm("InvertForceConstants", InputWorkspace=cold.measured, Temperature=100.0,
                        SeriesWorkspaces="joint_hot", SeriesTemperatures="300",
                        SeriesFit="Joint", OutputWorkspace="joint_fit",
                        OutputParameterTable="joint_parameters",
                        OutputSeriesTable="joint_series", **ALGORITHM)
    series, parameters = out["OutputSeriesTable"], out["OutputParameterTable"]
    n = len(truth)
    values, errors = series.column("Value")[:n], series.column("Error")[:n]
    np.testing.assert_allclose(parameters.column("Value")[:n], values)  # the shared set
    assert np.all(np.abs(np.array(values) - truth) < 3 * np.array(errors))
    temperatures = series.column("Temperature")
    assert {t for t in temperatures if np.isfinite(t)} == {100.0, 300.0}
    # OutputWorkspace: InputWorkspace's (100 K) fitted map
    assert out["OutputWorkspace"].signal.shape == cold.measured.signal.shape


def test_the_algorithm_fits_a_series_in_sequence_by_default(ads):
    from inslib.runtime.host import run_algorithm

    (cold, _), (hot, _) = _counted(100.0, 1), _counted(300.0, 2)
    ads["joint_hot"] = hot.measured
    out = run_algorithm("InvertForceConstants", InputWorkspace=cold.measured, Temperature=100.0,
                        SeriesWorkspaces="joint_hot", OutputWorkspace="sequential_fit",
                        OutputSeriesTable="sequential_series", **ALGORITHM)
    series = out["OutputSeriesTable"]
    assert series.column("Temperature") == [100.0, 300.0]  # each map's own row
    first, second = series.column("1NN xx")
    assert first != second  # two fits, each of its own map
