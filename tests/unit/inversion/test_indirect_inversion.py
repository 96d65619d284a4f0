"""InvertForceConstants on an indirect-geometry S(E) (TOSCA): synthetic Al spectra.

The spectra are the inversion's own forward model (the simulation's IndirectForward:
incoherent approximation with the total cross-section, ten orders, TOSCA's banks and
resolution) at known parameters, on 3-60 meV in 0.5 meV bins at 20 K, one spectrum (banks
summed, as reduced TOSCA data) or one per bank. Noisy spectra: Poisson counts
(:func:`~inslib.datagen.noise.poisson_noise`) with sqrt(N) errors.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from inslib.axes import Axis, energy_axis
from inslib.datagen.noise import counting_variance, poisson_noise
from inslib.histogram import Histogram, Metadata
from inslib.inversion.build import build_problem
from inslib.inversion.gradient import fit_gradient
from inslib.inversion.request import InversionRequest
from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.simulation.requests import PowderRequest, TemplateRequest

AL = str(Path(__file__).resolve().parents[2] / "data" / "Al_phonopy" / "phonopy.yaml")
EDGES = np.arange(3.0, 60.25, 0.5)  # meV
TRUTHS = np.array([[0.2, -0.1, 0.15, 0.3, -0.2], [-0.3, 0.25, -0.1, -0.2, 0.3]])
COUNTS = 2e5  # total signal counts of a noisy spectrum (~1,800 per bin)


def spectra_workspace(signal, variance) -> Histogram:
    """Return a TOSCA S(E) workspace (spectra x energy bins) at 20 K."""
    n = signal.shape[0]
    axes = (Axis(np.arange(1.0, n + 1), "spectraNumber", "Spectrum", is_edges=False),
            energy_axis(EDGES))
    return Histogram(axes, signal, variance, np.zeros(signal.shape, bool),
                     Metadata(instrument="TOSCA", emode="Indirect", temperature=20.0))


def problem_of(measured):
    """Fit problem (Gradient, EMin 5 meV, 8^3 mesh) of a measured S(E)."""
    simulation = PowderRequest(AL, template=TemplateRequest(template=measured), grid=8)
    return build_problem(InversionRequest(simulation, method="Gradient", e_min=5.0))


@pytest.fixture(scope="module", params=[1, 2], ids=["banks-summed", "per-bank"])
def setting(request):
    """Return (reference problem, clean spectra of TRUTHS) for one or two spectra."""
    torch.set_num_threads(1)
    ones = np.ones((request.param, len(EDGES) - 1))
    reference = problem_of(spectra_workspace(ones, ones))
    with torch.no_grad():
        clean = reference.spectra(torch.as_tensor(TRUTHS)).numpy()
    return reference, clean


def test_model_spectra_follow_the_parameters(setting):
    reference, clean = setting
    assert clean.shape == (2, reference.mask.shape[0], len(EDGES) - 1)
    assert np.all(clean >= 0)
    # the two truths (1NN xx +20 % and -30 %) give spectra that differ well beyond noise
    assert np.abs(clean[0] - clean[1]).max() > 0.2 * clean.max()


def test_noiseless_spectra_give_the_parameters_back(setting):
    reference, clean = setting
    n = len(TRUTHS) if reference.mask.shape[0] == 1 else 1  # per bank: one truth is enough
    for truth, spectrum in zip(TRUTHS[:n], clean[:n], strict=True):
        # scale 3 and a flat background: nuisances the fit must absorb
        problem = problem_of(spectra_workspace(3.0 * spectrum + 0.01, np.ones(spectrum.shape)))
        fit = fit_gradient(problem, 3, None, True, 0)
        # exact model, no noise: the optimum is the truth to the optimiser's tolerance
        np.testing.assert_allclose(fit.u[:5], truth, atol=1e-3)
        assert fit.scale == pytest.approx(3.0, rel=1e-4)


def test_noisy_fits_have_honest_errors(setting):
    """Over 4 Poisson spectra: chi^2/dof ~ 1 and normalised errors with mean square ~ 1."""
    reference, clean = setting
    if reference.mask.shape[0] != 1:
        pytest.skip("the errors' calibration is checked on the summed spectrum")
    generator = torch.Generator().manual_seed(5)
    z2, reduced = [], []
    for _ in range(4):
        signal = poisson_noise(torch.as_tensor(clean[:1]), COUNTS, 0.05, generator)[0].numpy()
        per_count = clean[0].sum() / COUNTS
        problem = problem_of(spectra_workspace(signal, counting_variance(signal, per_count)))
        fit = fit_gradient(problem, 1, None, True, 0)
        z2.append(((fit.u[:5] - TRUTHS[0]) * problem.unit / fit.sigma) ** 2)
        reduced.append(fit.reduced_chi2)
    # chi^2/dof of a right model: 1 +- 3 sqrt(2 / dof) with dof >= 100 per spectrum
    assert 0.55 < np.median(reduced) < 1.45
    # mean of 20 squared normalised errors: 1 +- 3 x sqrt(2/20) for honest sigmas; sigmas half
    # or twice the true spread give 4 or 0.25
    assert 0.2 < np.mean(z2) < 2.0


def _refused(workspace, **changes) -> dict:
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("InvertForceConstants", InputWorkspace=workspace, OutputWorkspace="fit",
                      ForceConstantsFile=AL, **({"Method": "Gradient", "MeshSize": 6} | changes))
    return info.value.errors


def test_bad_indirect_requests_are_refused():
    ones = np.ones((3, len(EDGES) - 1))
    assert "one per analyser bank (2)" in _refused(spectra_workspace(ones, ones))["InputWorkspace"]
    single = spectra_workspace(ones[:1], ones[:1])
    assert "Gradient" in _refused(single, Method="Amortized")["Method"]
    assert "S(E)" in _refused(single, SpectrumType="ChiPrime2")["SpectrumType"]
    assert "leave Ei at 0" in _refused(single, Ei=50.0)["Ei"]


def test_algorithm_fits_an_indirect_spectrum(setting):
    reference, clean = setting
    if reference.mask.shape[0] != 1:
        pytest.skip("one end-to-end run (banks summed) is enough")
    measured = spectra_workspace(2.0 * clean[0], np.full(clean[0].shape, 1e-4))
    result = run_algorithm("InvertForceConstants", InputWorkspace=measured,
                           OutputWorkspace="fit", OutputParameterTable="params",
                           ForceConstantsFile=AL, Method="Hybrid", MeshSize=8, EMin=5.0)
    fitted = result["OutputWorkspace"]
    assert fitted.shape == measured.shape
    used = measured.axes[1].centres > 5.0
    np.testing.assert_allclose(fitted.signal[0, used], measured.signal[0, used], rtol=1e-3,
                               atol=1e-3 * measured.signal.max())
    values = dict(zip(result["OutputParameterTable"].column("Name"),
                      result["OutputParameterTable"].column("Value"), strict=True))
    truth = reference.reference[0] + reference.unit[0] * TRUTHS[0, 0]
    assert values["1NN xx"] == pytest.approx(truth, rel=1e-3)
