"""A temperature series inverted in sequence, and chi'' maps, on synthetic Al maps.

Synthetic maps of Al on a coarse ARCS Ei = 50 meV template at 100 and 300 K from one softened
parameter set (noise-free, errors = 1 % of the mean signal): each fit must recover the set
(the maps differ only by the Bose and Debye-Waller factors, which the model carries), and the
table lists the temperatures in order.
"""

from dataclasses import replace

import numpy as np
import pytest

from inslib.instruments.templates import create_sqe_template
from inslib.inversion.build import build_problem
from inslib.inversion.request import InversionRequest
from inslib.inversion.series import invert_series, series_table
from inslib.scattering.powder import PowderSampling
from inslib.simulation.requests import PowderRequest, TemplateRequest

AL_FC = "tests/data/Al_phonopy/phonopy.yaml"
U_TRUE = np.array([-0.1, 0.1, -0.05, 0.0, 0.0])


def _request(temperature, measured=None, chi=False):
    template = TemplateRequest(instrument="ARCS", ei=50.0, temperature=temperature,
                               q_binning="0.5,0.25,8", e_binning="-7,1.5,47",
                               template=measured)
    simulation = PowderRequest(AL_FC, "", template=template, sampling=PowderSampling(1, 20),
                               grid=6, multiphonon_order=3)
    return InversionRequest(simulation, method="Gradient", starts=1, chi=chi)


def _synthetic(temperature, chi=False):
    import torch

    empty = create_sqe_template(_request(temperature).simulation.template)
    problem = build_problem(_request(temperature, replace(empty, signal=np.ones(empty.shape)),
                                     chi))
    with torch.no_grad():
        signal = problem.spectra(torch.as_tensor(U_TRUE[None]))[0].numpy()
    error = 0.01 * signal[~empty.mask].mean()
    measured = replace(empty, signal=np.where(empty.mask, np.nan, signal),
                       variance=np.full(signal.shape, error**2))
    return _request(temperature, measured, chi), problem.params(U_TRUE)


@pytest.fixture(scope="module")
def series():
    (hot, truth), (cold, _) = _synthetic(300.0), _synthetic(100.0)
    return invert_series([hot, cold]), truth


def test_each_temperature_recovers_the_truth(series):
    results, truth = series
    for result in results:
        # noise-free maps: the optimum is the truth up to the optimiser's tolerance
        np.testing.assert_allclose(result.fit.params, truth, atol=2e-3)


def test_table_over_temperature(series):
    results, _ = series
    columns, rows = series_table(results)
    assert columns[:3] == ["Temperature", "1NN xx", "1NN xx_Error"]
    assert columns[-1] == "ChiSquaredPerDoF"
    assert [row[0] for row in rows] == [100.0, 300.0]  # ordered by temperature
    assert all(len(row) == len(columns) for row in rows)


def test_a_chi_map_is_fitted_as_chi():
    from inslib.inversion.run import invert

    request, truth = _synthetic(100.0, chi=True)
    as_chi = invert(request)
    np.testing.assert_allclose(as_chi.fit.params, truth, atol=2e-3)
    # the same map taken for S(Q,E): at 100 K, 1 - exp(-E/kT) runs 0.6-1 over 8-47 meV, a
    # misfit the force constants cannot absorb (errors 1 % of the mean: measured chi^2 1.8e5
    # against 1e-11 when fitted as chi'')
    as_sqe = invert(replace(request, chi=False, _errors=None))
    assert as_sqe.fit.reduced_chi2 > 10
    assert as_chi.fit.reduced_chi2 < 1e-6


def test_an_elastic_tail_is_fitted_as_a_nuisance():
    from inslib.inversion.run import invert

    request, truth = _synthetic(300.0)
    measured = request.measured
    tailed = replace(request, e_min=3.0, elastic_tail=True, _errors=None)
    shape = build_problem(tailed).tail  # 1 / (1 + (2E / FWHM)^2), the instrument's FWHM
    amplitude = 20.0 * np.nanmean(measured.signal)  # the tail is ~5x the phonons at 3-4 meV
    with_tail = replace(measured, signal=measured.signal + amplitude * shape)
    simulation = replace(request.simulation, template=replace(request.simulation.template,
                                                              template=with_tail))
    fitted = invert(replace(tailed, simulation=simulation))
    # noise-free: the truth and the tail's amplitude come back (optimiser tolerance)
    np.testing.assert_allclose(fitted.fit.params, truth, atol=2e-3)
    np.testing.assert_allclose(fitted.fit.tail, amplitude, rtol=1e-3)
    assert ("ElasticTail", fitted.fit.tail) in [(row[0], row[2]) for row in fitted.table]
    ignored = invert(replace(tailed, simulation=simulation, elastic_tail=False))
    assert ignored.fit.reduced_chi2 > 10  # errors are 1 % of the mean signal


def test_a_broader_resolution_is_fitted_as_a_width_factor():
    import torch

    from inslib.inversion.run import invert

    request, truth = _synthetic(300.0)
    wide = replace(request, fit_resolution=True, _errors=None)
    problem = build_problem(wide)
    with torch.no_grad():  # the true map with widths x sqrt(1.3)
        signal = problem.spectra(torch.as_tensor([[*U_TRUE, 0.3]]))[0].numpy()
    measured = replace(request.measured, signal=np.where(problem.mask, np.nan, signal))
    simulation = replace(request.simulation, template=replace(request.simulation.template,
                                                              template=measured))
    fitted = invert(replace(wide, simulation=simulation))
    factor, _ = fitted.fit.resolution_factor
    # noise-free map from the same model: optimiser tolerance only (2e-3 on u, as above)
    assert factor == pytest.approx(np.sqrt(1.3), abs=2e-3)
    np.testing.assert_allclose(fitted.fit.params, truth, atol=2e-3)
