"""extra_broadening: the resolution-width factor kernel the inversion fits.

References: a Gaussian's second moment (v sigma^2 added to a sharp line), conservation of the
total intensity, the identity at v = 0 and a finite derivative there (the reason for the
diffusion form), checked against central differences.
"""

import numpy as np
import pytest
import torch

from inslib.scattering.binning import extra_broadening

CENTRES = np.arange(0.0, 60.0, 0.5) + 0.25  # meV


def _moments(spectrum):
    mean = (spectrum * CENTRES).sum() / spectrum.sum()
    return mean, (spectrum * (CENTRES - mean) ** 2).sum() / spectrum.sum()


@pytest.mark.parametrize("v", [0.1, 0.44, 1.0])
def test_a_line_gains_variance_v_sigma_squared(v):
    sigma = np.full(len(CENTRES), 1.2)
    line = np.zeros(len(CENTRES))
    line[60] = 1.0
    kernel = extra_broadening(CENTRES, sigma, torch.tensor(v, dtype=torch.float64)).numpy()
    mean, variance = _moments(kernel @ line)
    # exact for constant sigma up to the line staying clear of the ends (6 sigma away)
    np.testing.assert_allclose(variance, v * 1.2**2, rtol=1e-10)
    np.testing.assert_allclose(mean, CENTRES[60], rtol=1e-12)


def test_intensity_is_kept_with_energy_dependent_width():
    sigma = 0.5 + 0.03 * CENTRES
    spectrum = np.exp(-0.5 * ((CENTRES - 30.0) / 4.0) ** 2) + 0.2
    kernel = extra_broadening(CENTRES, sigma, torch.tensor(0.6, dtype=torch.float64)).numpy()
    np.testing.assert_allclose((kernel @ spectrum).sum(), spectrum.sum(), rtol=1e-12)


def test_identity_and_a_finite_derivative_at_zero():
    sigma = 0.5 + 0.03 * CENTRES
    spectrum = torch.as_tensor(np.exp(-0.5 * ((CENTRES - 30.0) / 1.0) ** 2))
    v = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    kernel = extra_broadening(CENTRES, sigma, v)
    np.testing.assert_allclose(kernel.detach().numpy(), np.eye(len(CENTRES)), atol=1e-15)
    peak = (kernel @ spectrum)[59]  # the bin at the centre: broadening lowers it
    peak.backward()
    h = 1e-6
    up = (extra_broadening(CENTRES, sigma, torch.tensor(h, dtype=torch.float64)) @ spectrum)[59]
    assert v.grad < 0
    np.testing.assert_allclose(float(v.grad), float(up - peak.detach()) / h, rtol=1e-4)
