"""Pure kernels of the MD route: quantum corrections, powder averaging, mirroring, resampling."""

import numpy as np
import pytest

from inslib.md.peaks import strongest_mode
from inslib.md.quantum import correction_factor, stokes_raman_factor
from inslib.md.spectrum import bin_average, mirror, resample
from inslib.md.trajectory import PLANCK_MEV_FS, nyquist_energy, window_size
from inslib.scattering.thermal import K_B

ENERGY = np.linspace(-60.0, 60.0, 241)  # meV


@pytest.mark.parametrize("kind", ["StokesRaman", "DetailedBalance"])
@pytest.mark.parametrize("temperature", [5.0, 50.0, 600.0])
def test_corrections_impose_detailed_balance(kind, temperature):
    """Q(E) / Q(-E) = exp(E / kT), Q(0) = 1: a symmetric S_cl becomes detailed-balanced."""
    factor = correction_factor(energy=ENERGY, temperature=temperature, kind=kind)
    ratio = factor / factor[::-1]
    np.testing.assert_allclose(ratio, np.exp(ENERGY / (K_B * temperature)), rtol=1e-10)
    assert factor[120] == pytest.approx(1.0)


def test_stokes_raman_limits():
    """Q(E) = beta E / (1 - exp(-beta E)): beta E far on the loss side, 1 through E = 0."""
    temperature = 10.0
    high = stokes_raman_factor(energy=np.array([100.0]), temperature=temperature)
    assert high[0] == pytest.approx(100.0 / (K_B * temperature), rel=1e-10)
    near = stokes_raman_factor(energy=np.array([-1e-9, 0.0, 1e-9]), temperature=temperature)
    np.testing.assert_allclose(near, 1.0, atol=1e-8)
    assert np.all(correction_factor(energy=ENERGY, temperature=10.0, kind="None") == 1.0)


def test_bin_average_marks_empty_bins():
    values = np.arange(12.0).reshape(4, 3)
    out = bin_average(values=values, bins=np.array([0, 0, 2, 2]), n_bins=3)
    np.testing.assert_allclose(out[0], [1.5, 2.5, 3.5])
    assert np.isnan(out[1]).all()


def test_mirror_and_resample_conserve_the_weight():
    """Mirroring keeps S(-E) = S(E); broadening onto bins conserves the integral."""
    energy = np.arange(0.0, 50.0, 0.25)
    spectrum = np.exp(-((energy - 20.0) ** 2) / 4.0)[None, :]
    full_e, full = mirror(energy=energy, spectrum=spectrum)
    np.testing.assert_allclose(full[0], full[0, ::-1])
    edges = np.arange(-70.0, 70.01, 1.0)
    binned = resample(energy=full_e, spectrum=full, e_edges=edges,
                      sigma=np.full(full_e.shape, 1.5))
    # sum over 1 meV bins = integral; the grid's rectangle rule is exact to 1e-6 for this smooth
    # Gaussian, the tails beyond +-70 meV are exp(-625)
    assert binned.sum() == pytest.approx(full.sum() * 0.25, rel=1e-6)


def test_window_gives_the_asked_energy_spacing():
    dt = 10.0  # fs
    window = window_size(energy_step=1.5, frame_time=dt)
    assert PLANCK_MEV_FS / ((2 * window + 1) * dt) <= 1.5
    assert PLANCK_MEV_FS / ((2 * window - 1) * dt) > 1.5  # the smallest such window
    assert nyquist_energy(frame_time=dt) == pytest.approx(206.78, abs=0.01)


def test_strongest_mode_finds_a_lorentzian_between_grid_points():
    """A damped mode at 20.3 meV, HWHM 0.8 meV: centre to 0.05 meV, FWHM to 5 % on 0.25 meV."""
    energy = np.arange(0.0, 40.0, 0.25)
    mode = 1.0 / ((energy - 20.3) ** 2 + 0.8**2) / energy.clip(1e-3) ** 2  # S_cl ~ 1 / E^2
    centre, width = strongest_mode(energy=energy, spectra=mode[None, :])
    assert centre[0] == pytest.approx(20.3, abs=0.05)
    assert width[0] == pytest.approx(1.6, rel=0.05)


def test_window_keeps_the_taper_inside_the_resolution():
    """Taper sigma hbar / tau <= sigma, tau = W dt / 3: the instrument sets the resolution."""
    from inslib.md.trajectory import HBAR_MEV_FS, TAPER_FRACTION

    window = window_size(energy_step=1.5, frame_time=10.0, sigma=0.8)
    assert TAPER_FRACTION * HBAR_MEV_FS / (window * 10.0) <= 0.8
    assert TAPER_FRACTION * HBAR_MEV_FS / ((window - 1) * 10.0) > 0.8
