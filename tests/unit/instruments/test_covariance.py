"""Direct-geometry Q-E resolution covariance (issue 13, point 1).

The reference is :func:`event_errors`, a brute-force event Monte Carlo written here: it draws
the instrument's random variables with the same widths (moderator and chopper times, aperture,
sample and pixel positions, detector depth), propagates the exact non-linear kinematics (true
v_i from the times, true k_i direction from the aperture and sample points, true v_f at the
scattering's energy transfer, true k_f direction to the true detection point, detection time),
then reconstructs (Q, E) with the nominal times, distances and pixel centre, as a reduction
does. Where the Fermi chopper's opening time depends on where the neutron crosses the beam
(PyChop's f1, g1, f2, g2 for aperture and sample), the event takes that time shift from
resins' formula, split into an emission and a chopper time.
"""

import dataclasses

import numpy as np
import pytest

from inslib.instruments import load_instrument
from inslib.instruments.covariance import (
    conditional_energy,
    direct_geometry,
    jacobian,
    qe_covariance,
    scattering_vectors,
)
from inslib.instruments.resolution import (
    FWHM_PER_SIGMA,
    resolution_fwhm,
    resolved_settings,
    width_factor,
)
from inslib.units import NEUTRON_E_PER_K2, NEUTRON_V_PER_SQRT_MEV, wavevector

UP = np.array([0.0, 0.0, 1.0])
K_PER_V = 1.0 / (NEUTRON_V_PER_SQRT_MEV * np.sqrt(NEUTRON_E_PER_K2))  # 1/Angstrom per m/s
SETTINGS = [("MERLIN", 45.0), ("ARCS", 100.0)]  # the cut; ARCS has a width factor


def _geometry(name, ei):
    instrument = load_instrument(name)
    settings = resolved_settings(instrument)
    return instrument, settings, direct_geometry(instrument, ei, settings)


def _unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _frame(direction):
    across = _unit(np.cross(UP, direction))
    return across, np.cross(direction, across)


def _chopper_shifts(g, y_aperture, y_sample):
    """(emission, chopper) time shifts (s) of the Fermi slit crossed at these positions (m)."""
    v_i = NEUTRON_V_PER_SQRT_MEV * np.sqrt(g.ei)
    span = g.omega * (g.xa + g.x1)
    g1 = 1 - g.omega * g.tan_theta / v_i * (g.xa + g.x1)
    g2 = 1 - g.omega * g.tan_theta / v_i * (g.x0 - g.xa)
    alpha = (g1 * y_aperture - g2 * np.cos(g.gamma) * y_sample) / span
    beta = (-(1 + g.x1 / g.x0 * g1) * y_aperture
            + (1 + g.x1 / g.x0 * g2) * np.cos(g.gamma) * y_sample) / span
    chopper = beta + g.x1 / g.x0 * alpha  # alpha = t_m - t_c, beta = (1 + x1/x0) t_c - x1/x0 t_m
    return alpha + chopper, chopper


def event_errors(g, k_i0, k_f0, energy, rng):
    """(Q, E) true minus reconstructed of one event per row, exact kinematics.

    ``k_i0``, ``k_f0`` (n, 3), 1/Angstrom: the nominal wavevectors (pixel centre, chopper
    phase); ``energy`` (n,), meV: the true energy transfer. Returns (n, 4): 1/Angstrom, meV.
    Flight-path lengths are nominal (plus the detection depth), as in PyChop.
    """
    n = len(k_i0)
    n_i0, n_f0 = _unit(k_i0), _unit(k_f0)
    (across_i, up_i), (across_f, up_f) = _frame(n_i0), _frame(n_f0)

    def uniform(width):
        return rng.uniform(-width / 2, width / 2, n)[:, None]

    y_a, z_a = uniform(g.aperture_width), uniform(g.aperture_width)
    y_s, z_s = uniform(np.sqrt(12 * g.var_sample)), uniform(g.sample_height)
    t_m, t_c = _chopper_shifts(g, y_a[:, 0], y_s[:, 0])
    t_m = g.time_scale * (t_m + rng.normal(0, np.sqrt(g.var_moderator), n))
    t_c = g.time_scale * (t_c + rng.normal(0, np.sqrt(g.var_chopper), n))
    depth = g.time_scale * rng.normal(0, np.sqrt(g.depth_variance(energy)), n)
    v_i0 = NEUTRON_V_PER_SQRT_MEV * np.sqrt(g.ei)
    at_chopper = g.x0 / v_i0 + t_c
    v_i = g.x0 / (at_chopper - t_m)
    v_f = np.sqrt(v_i**2 - energy * NEUTRON_V_PER_SQRT_MEV**2)
    sample = y_s * across_i + z_s * up_i
    aperture = -(g.xa + g.x1) * n_i0 + y_a * across_i + z_a * up_i
    pixel = ((g.x2 + depth)[:, None] * n_f0 + uniform(g.pixel_width) * across_f
             + uniform(g.pixel_height) * up_f)
    q_true = K_PER_V * (v_i[:, None] * _unit(sample - aperture)
                        - v_f[:, None] * _unit(pixel - sample))
    detected = at_chopper + g.x1 / v_i + (g.x2 + depth) / v_f
    v_rec = g.x2 / (detected - (g.x0 + g.x1) / v_i0)
    q_rec = k_i0 - K_PER_V * v_rec[:, None] * n_f0
    e_rec = g.ei - (v_rec / NEUTRON_V_PER_SQRT_MEV) ** 2
    return np.column_stack([q_true - q_rec, energy - e_rec])


def _vectors(q, energy, ei):
    k_i, k_f, reachable = scattering_vectors(q=np.atleast_2d(q), energy=np.atleast_1d(energy),
                                             ei=ei, vertical=UP)
    assert reachable.all()
    return k_i[0], k_f[0]


@pytest.mark.parametrize(("name", "ei"), SETTINGS)
def test_energy_variance_is_the_powder_models(name, ei):
    """Sigma_EE = (resolution_fwhm / 2.3548)^2 at E = 0 and across the range, any Q.

    The powder model evaluates resins' order-4 polynomial fitted to PyChop's 40 exact
    variances (fit error 2e-4 relative at these settings): 1e-3 is five times that.
    """
    instrument, settings, g = _geometry(name, ei)
    energy = np.array([0.0, 0.1, 0.3, 0.45, 0.6]) * ei
    for q in ([3.0, 1.0, 0.2], [-1.5, 3.0, -0.4]):
        k_i, k_f = _vectors(np.tile(q, (len(energy), 1)), energy, ei)
        cov = qe_covariance(geometry=g, k_i=k_i, k_f=k_f, vertical=UP)
        powder = resolution_fwhm(instrument, energy, ei, settings) / FWHM_PER_SIGMA
        np.testing.assert_allclose(np.sqrt(cov[:, 3, 3]), powder, rtol=1e-3)


def test_width_factor_scales_the_time_terms():
    """ARCS's width factor f multiplies every time term (alpha, beta), not the angles.

    So the Jacobian is J(f) = J(0) + f (J(1) - J(0)), and Sigma_EE (times only) scales by f^2.
    """
    arcs, settings, g = _geometry("ARCS", 100.0)
    f = width_factor(arcs, 100.0, settings)  # the calibrated factor of this setting
    assert f == pytest.approx(g.time_scale)
    assert f > 1.1
    k_i, k_f = _vectors([[2.0, 0.5, 0.1], [1.0, -2.5, 0.3]], np.array([0.0, 40.0]), 100.0)

    def jac(scale):
        return jacobian(geometry=dataclasses.replace(g, time_scale=scale), k_i=k_i, k_f=k_f,
                        vertical=UP)

    np.testing.assert_allclose(jac(f), jac(0.0) + f * (jac(1.0) - jac(0.0)), rtol=1e-12,
                               atol=1e-15)
    assert np.abs(jac(0.0)[..., :3]).max() > 1.0  # angles stay (per m: k / x)
    np.testing.assert_allclose(jac(0.0)[..., 3], 0.0)  # the energy has time terms only
    cov = qe_covariance(geometry=g, k_i=k_i, k_f=k_f, vertical=UP)
    unscaled = qe_covariance(geometry=dataclasses.replace(g, time_scale=1.0), k_i=k_i,
                             k_f=k_f, vertical=UP)
    np.testing.assert_allclose(cov[:, 3, 3], f**2 * unscaled[:, 3, 3], rtol=1e-12)


def test_scattering_vectors_close_the_triangle():
    """k_i horizontal with |k_i| = k(Ei), |k_f| = k(Ei - E), k_i - k_f = Q; two mirrors."""
    q = np.array([[2.0, 0.5, 0.3], [-1.2, -3.5, 0.0], [9.0, 0.0, 0.0]])
    energy = np.array([10.0, -5.0, 10.0])
    k_i, k_f, reachable = scattering_vectors(q=q, energy=energy, ei=45.0, vertical=UP)
    assert reachable.tolist() == [True, True, False]  # |Q| = 9 > k_i + k_f
    ok = reachable
    np.testing.assert_allclose(np.linalg.norm(k_i[:, ok], axis=-1), wavevector(45.0))
    np.testing.assert_allclose(np.linalg.norm(k_f[:, ok], axis=-1),
                               np.broadcast_to(wavevector(45.0 - energy[ok]), (2, 2)))
    np.testing.assert_allclose(k_i[:, ok] - k_f[:, ok], np.broadcast_to(q[ok], (2, 2, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(k_i[..., 2][:, ok], 0.0, atol=1e-12)
    assert np.all(np.linalg.norm(k_i[0, ok] - k_i[1, ok], axis=-1) > 0.1)
    assert np.isnan(k_i[:, ~ok]).all()


@pytest.mark.parametrize(("name", "ei"), SETTINGS)
@pytest.mark.parametrize("energy", [0.0, 20.0])
def test_covariance_matches_event_monte_carlo(name, ei, energy):
    """The event Monte Carlo's (Q, E) error covariance equals the analytic one.

    Compared whitened by the analytic Cholesky factor L: L^-1 Sigma_MC L^-T = 1. With
    N = 4e5 events a whitened variance has standard error sqrt(2 / N) = 0.22 % (covariances
    0.16 %): 5 sigma is 1.1 %. Linearisation: the relative speed errors reach 1.2 % (ARCS at
    100 meV); their second-order terms and the direction normalisation shift the whitened
    moments by up to 0.7 % (seen with 2e6 events). Tolerance 0.02 on every entry; a missing
    or wrongly signed term (e.g. the chopper's x1/x0) moves entries by 0.1 or more.
    """
    _, _, g = _geometry(name, ei)
    k_i, k_f = _vectors([2.0, 0.5, 0.1], energy, ei)
    cov = qe_covariance(geometry=g, k_i=k_i, k_f=k_f, vertical=UP)[0]
    n = 400_000
    errors = event_errors(g, np.repeat(k_i, n, 0), np.repeat(k_f, n, 0), np.full(n, energy),
                          np.random.default_rng(7))
    inverse = np.linalg.inv(np.linalg.cholesky(cov))
    whitened = inverse @ np.cov(errors.T) @ inverse.T
    np.testing.assert_allclose(whitened, np.eye(4), atol=0.02)


def test_conditional_energy_is_the_regression_on_q():
    """E - mean(dQ) is uncorrelated with dQ and has variance sigma^2 (joint Gaussian draws).

    2e5 draws: correlations 0 +- 0.0022 (5 sigma 0.011), variance to 5 sqrt(2 / N) = 1.6 %.
    """
    _, _, g = _geometry("MERLIN", 45.0)
    k_i, k_f = _vectors([2.0, 0.5, 0.1], 20.0, 45.0)
    cov = qe_covariance(geometry=g, k_i=k_i, k_f=k_f, vertical=UP)
    draws = np.random.default_rng(3).multivariate_normal(np.zeros(4), cov[0], 200_000)
    n = len(draws)
    mean, sigma = conditional_energy(covariance=np.broadcast_to(cov, (n, 4, 4)),
                                     dq=draws[:, :3])
    residual = draws[:, 3] - mean
    correlation = np.corrcoef(np.column_stack([draws[:, :3], residual]).T)[3, :3]
    np.testing.assert_allclose(correlation, 0.0, atol=0.011)
    assert np.var(residual) == pytest.approx(sigma[0] ** 2, rel=0.016)
    assert sigma[0] ** 2 < 0.9 * cov[0, 3, 3]  # Q and E are correlated: the test can fail


def test_setting_geometry_takes_the_setting_the_energy_resolution_uses():
    """Check the covariance's setting where the default chopper transmits nothing.

    ARCS's default (100-1.5-AST, 300 Hz) passes nothing at Ei = 300 meV: the covariance takes
    the nearest transmitting setting, as the energy FWHM does (it once raised resins'
    NoTransmissionError from validation); same 1e-3 as the powder-model test above.
    """
    from inslib.instruments.covariance import setting_geometry

    ei = 300.0
    g = setting_geometry("ARCS", ei)
    energy = np.array([0.0, 0.3]) * ei
    k_i, k_f = _vectors(np.tile([3.0, 1.0, 0.2], (len(energy), 1)), energy, ei)
    cov = qe_covariance(geometry=g, k_i=k_i, k_f=k_f, vertical=UP)
    powder = resolution_fwhm(load_instrument("ARCS"), energy, ei) / FWHM_PER_SIGMA
    np.testing.assert_allclose(np.sqrt(cov[:, 3, 3]), powder, rtol=1e-3)


def test_covariance_takes_the_chopper_setting_given():
    """A ChopperFrequency the user gives is the covariance's as it is the energy FWHM's.

    It once took the default setting whatever was given (600 Hz here is 30 % narrower than
    the default 300 Hz at Ei = 100 meV); same 1e-3 as the powder-model test above.
    """
    from inslib.instruments.covariance import setting_geometry

    ei, given = 100.0, {"ChopperFrequency": 600}
    arcs = load_instrument("ARCS")
    energy = np.array([0.0, 40.0])
    k_i, k_f = _vectors(np.tile([3.0, 1.0, 0.2], (len(energy), 1)), energy, ei)
    cov = qe_covariance(geometry=setting_geometry("ARCS", ei, given), k_i=k_i, k_f=k_f,
                        vertical=UP)
    powder = resolution_fwhm(arcs, energy, ei, resolved_settings(arcs, given)) / FWHM_PER_SIGMA
    np.testing.assert_allclose(np.sqrt(cov[:, 3, 3]), powder, rtol=1e-3)
    default = resolution_fwhm(arcs, energy, ei) / FWHM_PER_SIGMA
    assert np.all(powder < 0.8 * default)
