"""Gradient inversion (InvertForceConstants, Method=Gradient) on synthetic Al maps.

A coarse setting keeps the file fast: Al (5 parameters, 2 shells), ARCS Ei = 50 meV, 30 |Q| x
28 E bins, 1 x 20 directions per |Q| bin, 6^3 mesh, 300 K. The maps are the inversion's own
forward model at known parameters (fit variables u = (p - reference) / |reference|), so a fit
can give them back exactly. Noisy maps: counts ~ Poisson(c x model + b) by the project's
:func:`~inslib.datagen.noise.poisson_noise` (b = a fraction of the mean signal counts per bin),
signal in the model's unit, variance = max(counts, 1) / c^2 (sqrt(N) errors floored at one
count). benchmarks/bench_inversion.py measures the issue's figures in Su & Li's full setting.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from inslib.datagen.noise import counting_variance, poisson_noise
from inslib.histogram import Histogram
from inslib.instruments.templates import create_sqe_template
from inslib.inversion.build import build_problem
from inslib.inversion.gradient import fit_gradient
from inslib.inversion.metrics import r_squared
from inslib.inversion.objective import chi_square, used_tensors
from inslib.inversion.request import InversionRequest
from inslib.inversion.weights import count_unit, model_errors, reweighted_fit
from inslib.scattering.powder import PowderSampling
from inslib.simulation.requests import PowderRequest, TemplateRequest

AL = str(Path(__file__).resolve().parents[2] / "data" / "Al_phonopy" / "phonopy.yaml")
NOISE = (0.1, 1e5)  # background fraction, total signal counts (~250 counts per fitted bin)
COUNTS_LOW = 1e4  # ~25 counts per fitted bin: where sqrt(observed counts) errors bias the fit
# Noiseless fits end at chi^2 ~ 1e-12 (unit errors) where a start finds the truth: measured R^2
# = 1.0000 for every parameter; a set left in another minimum (chi^2 ~ 40, where one of the
# nine starts here ends) costs more than 0.01.
R2_NOISELESS = 0.99  # issue figure
# Noisy, truths in +-25 %: measured pooled R^2 0.978 on the four parameters (0.991 at seed 12);
# the 0.95 is kept.
R2_NOISY = 0.95
# 40 normalised errors (8 fits x 5 parameters): nominal 68 % inside 1 sigma, binomial sd 7 %;
# the bounds are ~3 sd, so errors half or twice the true spread fail. Measured 0.75 (seed 12:
# 0.675).
COVERAGE = (0.47, 0.89)
# chi^2/dof of a right model with Poisson errors: 1 +- sqrt(2 / ~380 dof) = 1 +- 0.07; measured
# 0.97-1.15 (seed 12: 0.78-1.08).
REDUCED_CHI2 = (0.75, 1.3)
# A truth inside the box (fit variables u) on whose noiseless map one L-BFGS-B start from the
# reference stops on a corner of the box after two evaluations (chi^2 32 at unit errors). It is
# dynamically unstable (18 imaginary modes on the 8^3 mesh, down to -4.1 meV; measured), as is
# the one set of benchmarks/bench_inversion.py's default 20 that a fit does not recover.
CORNER_CASE = (0.223, 0.057, -0.249, 0.205, 0.242)


@pytest.fixture(scope="module")
def coarse():
    """Return the coarse Al setting (see the module docstring)."""
    torch.set_num_threads(1)
    return Coarse(300.0)


class Coarse:
    """Synthetic measurements on the coarse template at one temperature, and their problems."""

    def __init__(self, temperature: float):
        self.template_request = TemplateRequest(instrument="ARCS", ei=50.0, q_binning="0,0.3,9",
                                                e_binning="-7,2,49", temperature=temperature)
        self.template = create_sqe_template(self.template_request)
        ones = np.ones(self.template.signal.shape)
        self.reference = self.problem_of(ones, ones)

    def problem_of(self, signal, variance):
        """Fit problem of a measured map (signal, variance on the template's bins)."""
        mask = self.template.mask
        measured = Histogram(self.template.axes, np.where(mask, np.nan, signal), variance,
                             mask.copy(), self.template.metadata)
        simulation = PowderRequest(AL, template=replace(self.template_request, template=measured),
                                   sampling=PowderSampling(1, 20), grid=6)
        return build_problem(InversionRequest(simulation, method="Gradient",
                                              fit_resolution=False))

    def clean(self, u) -> np.ndarray:
        """Model maps of fit variables u (n, 5), shape (n, n_q, n_e)."""
        with torch.no_grad():
            return self.reference.spectra(torch.as_tensor(np.asarray(u, float))).numpy()

    def noisy(self, clean: np.ndarray, generator, counts: float = NOISE[1]):
        """Fit problem of a Poisson-noisy copy (NOISE, or ``counts``) of one clean map."""
        background = NOISE[0]
        mask = self.template.mask
        per_count = clean[~mask].sum() / counts
        signal = poisson_noise(torch.as_tensor(clean[None]), counts, background, generator,
                               torch.as_tensor(mask))[0].numpy()
        return self.problem_of(signal, counting_variance(signal, per_count))


def most_influential(problem, n: int) -> np.ndarray:
    """Return the ``n`` parameters with the smallest marginal Cramer-Rao sigma at u = 0."""
    _, _, index = used_tensors(problem)
    k, step = problem.n_params, 1e-3
    steps = np.concatenate([np.eye(k), -np.eye(k), np.zeros((1, k))]) * step
    with torch.no_grad():
        maps = problem.spectra(torch.as_tensor(steps)).reshape(len(steps), -1)[:, index].numpy()
    jacobian = np.column_stack([((maps[:k] - maps[k:2 * k]) / (2 * step)).T, maps[-1],
                                np.ones(maps.shape[1])])
    sigma = np.sqrt(np.diag(np.linalg.pinv(jacobian.T @ jacobian))[:k])
    return np.argsort(sigma)[:n]


def test_chi_square_gradient_is_its_derivative(coarse):
    problem = coarse.noisy(coarse.clean(np.zeros((1, 5)))[0], torch.Generator().manual_seed(3))
    data, weights, index = used_tensors(problem)

    def misfit(u):
        return chi_square(problem.spectra(u).reshape(len(u), -1)[:, index], data, weights)[0]

    u0 = np.array([0.1, -0.2, 0.05, 0.3, -0.3])
    variables = torch.tensor(u0[None], requires_grad=True)
    misfit(variables).sum().backward()
    h = 1e-5
    steps = torch.as_tensor(u0[None] + np.concatenate([np.eye(5), -np.eye(5)]) * h)
    with torch.no_grad():
        values = misfit(steps).numpy()
    central = (values[:5] - values[5:]) / (2 * h)
    np.testing.assert_allclose(variables.grad[0].numpy(), central, rtol=1e-4)


def test_noiseless_maps_give_back_their_parameters(coarse):
    truth = np.random.default_rng(7).uniform(-0.5, 0.5, (4, 5))  # Su & Li's 0.5-1.5 box
    fitted = np.array([fit_gradient(coarse.problem_of(clean, np.ones_like(clean)), starts=3).u
                       for clean in coarse.clean(truth)])
    assert r_squared(fitted, truth).min() >= R2_NOISELESS  # each parameter


def test_noisy_fits_recover_and_their_errors_cover_the_truth(coarse):
    # Truths near the reference, one start: the Laplace errors describe the minimum a start
    # finds; the search for the global minimum is the noiseless test's. (Seed 13 draws
    # CORNER_CASE, on which the single start stops on a corner.)
    truth = np.random.default_rng(11).uniform(-0.25, 0.25, (8, 5))
    generator = torch.Generator().manual_seed(5)
    fits = [fit_gradient(coarse.noisy(clean, generator), starts=1)
            for clean in coarse.clean(truth)]
    fitted = np.array([f.u for f in fits])
    sigma = np.array([np.sqrt(np.diag(f.covariance_u)) for f in fits])
    top = most_influential(coarse.reference, 4)
    assert r_squared(fitted[:, top].ravel(), truth[:, top].ravel()) >= R2_NOISY  # pooled
    inside = np.mean(np.abs(fitted - truth) <= sigma)
    assert COVERAGE[0] <= inside <= COVERAGE[1]
    assert all(REDUCED_CHI2[0] <= f.reduced_chi2 <= REDUCED_CHI2[1] for f in fits)
    assert not any(f.at_bound.any() for f in fits)


def test_a_start_from_the_reference_does_not_stop_on_a_corner(coarse):
    """Check that scaled variables take the start past the box's corner.

    Unscaled, L-BFGS-B's first trial point (u - grad chi^2, |grad| ~ 1e2 against a box 1
    wide) was a corner of the box, where this start stopped after 2 evaluations with every
    variable on a bound; scaled by the Gauss-Newton curvature it goes on. (It still ends in
    another minimum, chi^2 0.67 against 0 at the truth: the coarse map's misfit is
    multimodal, and 6 random starts do not find the truth either; measured.)
    """
    clean = coarse.clean([CORNER_CASE])[0]
    fit = fit_gradient(coarse.problem_of(clean, np.ones_like(clean)), starts=1)
    assert fit.evaluations > 10
    assert not fit.at_bound.all()
    assert fit.chi2 < 32  # the corner's chi^2 (measured: 0.67 at the end)


def test_sigma_is_in_parameter_units(coarse):
    fit = fit_gradient(coarse.noisy(coarse.clean(np.zeros((1, 5)))[0],
                                    torch.Generator().manual_seed(9)), starts=1)
    unit = fit.problem.unit
    np.testing.assert_allclose(fit.sigma, np.sqrt(np.diag(fit.covariance_u)) * unit)
    np.testing.assert_allclose(fit.params, fit.problem.reference + unit * fit.u)
    assert np.all(np.abs(fit.params - fit.problem.reference) < 4 * fit.sigma)


def test_a_second_map_reuses_the_set_up_and_a_new_temperature_does_not(coarse):
    clean = coarse.clean(np.zeros((1, 5)))[0]
    again = coarse.problem_of(2 * clean, np.ones_like(clean))
    assert again.forward is coarse.reference.forward
    np.testing.assert_array_equal(again.data.signal[again.data.use],
                                  2 * clean[again.data.use])
    assert Coarse(600.0).reference.forward is not coarse.reference.forward


def test_fits_follow_softening_force_constants():
    """Dominant parameter of reference x (1 - 0.05 k), k = 0-3, from noisy maps at 100 K."""
    cold = Coarse(100.0)
    problem = cold.reference
    dominant = most_influential(problem, 1)[0]
    truth = problem.reference * (1 - 0.05 * np.arange(4)[:, None])
    generator = torch.Generator().manual_seed(1)
    fitted = [fit_gradient(cold.noisy(clean, generator), starts=1).params[dominant]
              for clean in cold.clean((truth - problem.reference) / problem.unit)]
    order = np.sign(truth[1, dominant] - truth[0, dominant])
    assert np.all(order * np.diff(fitted) > 0)


def test_count_unit_reads_the_normalisation_back():
    c = np.array([0.5, 2.0, 3.0])  # measured units per count
    counts = np.array([16.0, 0.0, 4.0])
    errors = c * np.sqrt(np.maximum(counts, 1.0))  # sqrt(N), one count where none
    np.testing.assert_allclose(count_unit(c * counts, errors), c)
    # the model's Poisson errors: sqrt(c mean), one count's worth at least
    np.testing.assert_allclose(model_errors(c, c * np.array([9.0, 0.2, 4.0])),
                               c * np.array([3.0, 1.0, 2.0]))


def test_poisson_weights_remove_the_low_count_bias(coarse):
    """At ~25 counts per bin sqrt(observed) errors bias the fit low; model errors do not.

    Six maps at COUNTS_LOW, each fitted with the observed-count errors and refitted with
    ErrorModel=Poisson's. Weights 1/observed favour downward fluctuations (Neyman's chi^2), so
    the fitted map's total falls ~1 count per bin (~4 %) short of the measured counts;
    with the model's variance (Pearson's chi^2, scale profiled) the totals agree. Measured
    (seeds 21, 22, 24): 0.924-0.955 with Data, 1.0000 with Poisson. The refit's sigmas are
    honest: mean squared normalised error of the 30 estimates 1 +- 3 x sqrt(2/30) = 1 +- 0.77
    (measured 1.30 at seed 21; a comparison of the two means is not kept: with 30 estimates
    it goes either way, 0.47-1.91 over seeds).
    """
    truth = np.random.default_rng(17).uniform(-0.2, 0.2, (6, 5))
    generator = torch.Generator().manual_seed(21)
    totals, z2 = {"data": [], "poisson": []}, []
    for true, clean in zip(truth, coarse.clean(truth), strict=True):
        problem = coarse.noisy(clean, generator, counts=COUNTS_LOW)
        fit = fit_gradient(problem, starts=1)
        again = reweighted_fit(problem, fit, True, lambda p, u: fit_gradient(p, 1, u))
        use, signal = problem.data.use, problem.data.signal
        for name, f in (("data", fit), ("poisson", again)):
            totals[name].append(f.model[use].sum() / signal[use].sum())
        z2.append((again.u[:5] - true) ** 2 / np.diag(again.covariance_u)[:5])
    assert np.all(np.array(totals["data"]) < 0.97)  # ~1 count in 25 short: 0.96
    np.testing.assert_allclose(totals["poisson"], 1.0, atol=0.005)
    assert 0.23 < np.mean(z2) < 1.77


def test_a_corner_of_the_box_is_not_a_converged_minimum():
    from inslib.inversion.gradient import on_corner

    bounds = np.array([[-0.5, 0.5], [-0.5, 0.5], [0.0, 0.0]])  # the third variable is fixed
    assert on_corner(np.array([-0.5, 0.5, 0.0]), bounds)
    assert not on_corner(np.array([-0.5, 0.2, 0.0]), bounds)
    assert not on_corner(np.zeros(3), np.zeros((3, 2)))  # nothing free: no corner


def test_an_unstable_optimum_is_reported(coarse):
    """A fitted set with imaginary modes on the 4x4x4 check mesh carries a warning.

    u = (0.43, 0.47, -0.49, 0.36, 0.48) is the one unstable draw of bench_inversion's default
    24 (lowest mode -18 meV on the 8^3 mesh); the reference (u = 0) is stable.
    """
    from types import SimpleNamespace

    from inslib.inversion.run import _stability_warnings

    problem = coarse.reference
    fits = [SimpleNamespace(problem=problem, params=problem.params(np.array(u, float)))
            for u in ([0.0] * 5, [0.43, 0.47, -0.49, 0.36, 0.48])]
    assert _stability_warnings(fits[0]) == []
    (warning,) = _stability_warnings(fits[1])
    assert warning.startswith("the fitted force constants are dynamically unstable (lowest mode -")
