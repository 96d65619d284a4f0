"""inslib.compare on synthetic maps: the fit, its standard errors, chi^2 and the refusals."""

import warnings

import numpy as np
import pytest

from inslib.axes import energy_axis, q_axis
from inslib.compare import compare, comparison_errors, residual
from inslib.histogram import Histogram
from inslib.runtime.cli import main

SCALE, BACKGROUND, SIGMA = 2.5, 0.3, 0.05


def _model() -> Histogram:
    """Return a 20 x 30 map (|Q| 0-5 1/A, E -10-50 meV) with a masked corner; no errors."""
    axes = (q_axis(np.linspace(0, 5, 21)), energy_axis(np.linspace(-10, 50, 31)))
    q, e = axes[0].centres[:, None], axes[1].centres[None, :]
    signal = q**2 * np.exp(-((e - 20 - 3 * q) ** 2) / 20) + 0.1 * np.exp(-q)
    mask = np.zeros(signal.shape, bool)
    mask[:3, -5:] = True
    return Histogram(axes, np.where(mask, np.nan, signal), np.zeros(signal.shape), mask)


def _measured(model: Histogram, rng, sigma=SIGMA, with_errors=True) -> Histogram:
    noise = rng.normal(0.0, sigma, model.shape) if sigma else 0.0
    signal = SCALE * model.signal + BACKGROUND + noise
    variance = np.full(model.shape, sigma**2 if with_errors else 0.0)
    return Histogram(model.axes, signal, variance, model.mask.copy())


def test_noise_free_fit_is_exact():
    model = _model()
    result = compare(model, _measured(model, None, sigma=0.0))
    assert result.scale == pytest.approx(SCALE, rel=1e-12)
    assert result.background == pytest.approx(BACKGROUND, rel=1e-10)
    assert result.pearson_r == pytest.approx(1.0, abs=1e-12)
    # 20 x 30 bins, 15 masked, energy centres 9, 11, ... (21 above 8 meV)
    assert result.n_bins == 20 * 21 - 15
    assert result.chi2_dof is None  # no measured errors


@pytest.mark.parametrize("with_errors", [True, False])
def test_standard_errors_match_the_scatter_of_repeated_fits(with_errors):
    """400 noisy repeats: the reported sigma of scale and background equals their scatter.

    The scatter of 400 estimates is known to 3.5 % (1 / sqrt(2 x 400)); 12 % is 3.4 sigma.
    With errors the sigma is the least-squares covariance; without, it is from the residuals.
    """
    model, rng = _model(), np.random.default_rng(7)
    results = [compare(model, _measured(model, rng, with_errors=with_errors))
               for _ in range(400)]
    scales = np.array([r.scale for r in results])
    backgrounds = np.array([r.background for r in results])
    assert np.mean([r.scale_error for r in results]) == pytest.approx(scales.std(), rel=0.12)
    assert np.mean([r.background_error for r in results]) == pytest.approx(backgrounds.std(),
                                                                            rel=0.12)
    assert scales.mean() == pytest.approx(SCALE, abs=4 * scales.std() / np.sqrt(400))
    if with_errors:  # chi^2/dof averages 1 with +- sqrt(2 / dof) / sqrt(400) = 0.0035 scatter
        assert np.mean([r.chi2_dof for r in results]) == pytest.approx(1.0, abs=0.015)


def test_scale_only_fit():
    model = _model()
    measured = _measured(model, None, sigma=0.0)
    measured.signal -= BACKGROUND
    result = compare(model, measured, fit_background=False)
    assert result.scale == pytest.approx(SCALE, rel=1e-12)
    assert (result.background, result.background_error) == (0.0, 0.0)


def test_residual_is_nan_where_not_compared():
    model = _model()
    measured = _measured(model, np.random.default_rng(3))
    result = compare(model, measured, e_min=20.0)
    res = residual(model, measured, result)
    assert res.axes == measured.axes
    above = measured.axes[1].centres > 20.0
    assert res.mask[:, ~above].all()
    assert res.mask[:3, -5:].all()
    use = ~res.mask
    assert use.sum() == result.n_bins
    fitted = result.scale * model.signal + result.background
    np.testing.assert_allclose(res.signal[use], (measured.signal - fitted)[use])
    assert np.isnan(res.signal[~use]).all()


def test_energy_cut_above_the_data_is_refused_with_the_fix():
    model = _model()
    with pytest.raises(ValueError, match=r"energy cut 1000 meV leaves 0 compared bins .*"
                                         r"highest covered bin centre is 49 meV.*lower the cut"):
        compare(model, _measured(model, None, sigma=0.0), e_min=1000.0)
    # above 46 meV: the 47 and 49 meV columns, 40 bins less the 6 masked ones, are enough
    assert comparison_errors(model, _measured(model, None, sigma=0.0), 46.0) == {}
    assert compare(model, _measured(model, None, sigma=0.0), 46.0).n_bins == 34


def test_cli_compare_refuses_the_cut_without_numpy_warnings(tmp_path, capsys):
    from inslib.io.files import save_workspace

    model = _model()
    paths = [save_workspace(h, tmp_path / f"{n}.nxs")
             for n, h in (("model", model), ("data", _measured(model, np.random.default_rng(1))))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["compare", *map(str, paths), "--emin", "1000"]) == 2
    err = capsys.readouterr().err
    assert "energy cut 1000 meV leaves 0 compared bins" in err
    assert "nan" not in err


def test_different_bins_are_refused():
    model = _model()
    other = Histogram((q_axis(np.linspace(0, 6, 21)), model.axes[1]), model.signal,
                      model.variance, model.mask)
    with pytest.raises(ValueError, match=r"MomentumTransfer axis 0 to 5 against 0 to 6\): "
                                         "simulate with InputWorkspace = the measured"):
        compare(model, other)
    shorter = Histogram((model.axes[0], energy_axis(np.linspace(-10, 40, 26))),
                        model.signal[:, :25], model.variance[:, :25], model.mask[:, :25])
    assert "shape (20, 25) against (20, 30)" in comparison_errors(shorter, model, 8.0)["model"]


def test_all_nan_and_constant_maps_are_refused():
    model = _model()
    measured = _measured(model, None, sigma=0.0)
    empty = Histogram(model.axes, np.full(model.shape, np.nan), model.variance, model.mask)
    assert set(comparison_errors(model, empty, 8.0)) == {"measured"}
    assert "all NaN or masked" in comparison_errors(empty, measured, 8.0)["model"]
    flat = Histogram(model.axes, np.ones(model.shape), model.variance, model.mask)
    errors = comparison_errors(flat, measured, 8.0)
    assert set(errors) == {"model"}
    assert "constant (1)" in errors["model"]
    with pytest.raises(ValueError, match="measured map is constant"):
        compare(model, flat)


def _ei300_pair(fwhm_log=True):
    """Return (model, measured) at Ei 300 meV: the measurement adds a wide elastic line.

    The elastic line is a Gaussian of FWHM 12 meV (the model's ResolutionFWHM log falls
    linearly from 12 meV at E = 0), 40 times the peak of the phonon signal.
    """
    from inslib.histogram import Log, Metadata
    from inslib.logs import RESOLUTION_FWHM

    axes = (q_axis(np.linspace(0, 10, 21)), energy_axis(np.linspace(-75, 285, 73)))
    q, e = axes[0].centres[:, None], axes[1].centres[None, :]
    signal = q * np.exp(-((e - 60 - 10 * q) ** 2) / 800)
    fwhm = 12.0 - 0.02 * axes[1].centres
    logs = {RESOLUTION_FWHM: Log(fwhm, "meV")} if fwhm_log else {}
    model = Histogram(axes, signal, np.zeros(signal.shape), np.zeros(signal.shape, bool),
                      Metadata(instrument="ARCS", emode="Direct", ei=300.0, logs=logs))
    elastic = 40 * signal.max() * np.exp(-4 * np.log(2) * e**2 / 12.0**2)
    measured = Histogram(axes, SCALE * signal + BACKGROUND + elastic, np.zeros(signal.shape),
                         model.mask.copy(), Metadata(instrument="ARCS", emode="Direct",
                                                     ei=300.0))
    return model, measured


def test_default_cut_is_three_elastic_fwhm_of_the_resolution():
    model, measured = _ei300_pair()
    result = compare(model, measured)
    assert result.e_min == pytest.approx(36.0)
    assert result.e_min_source == ("3 x the elastic FWHM 12 meV, from the model's "
                                   "ResolutionFWHM log")
    assert result.pearson_r == pytest.approx(1.0, abs=1e-9)
    assert result.scale == pytest.approx(SCALE, rel=1e-6)
    # the old fixed 8 meV cut fits the elastic line's tail
    assert compare(model, measured, e_min=8.0).pearson_r < 0.9
    assert comparison_errors(model, measured) == {}


def test_default_cut_from_the_instrument_when_no_map_has_a_resolution_log():
    """ARCS at Ei 300 meV (default package at 360 Hz, the nearest that transmits)."""
    from inslib.instruments import load_instrument
    from inslib.instruments.resolution import resolution_fwhm

    model, measured = _ei300_pair(fwhm_log=False)
    fwhm = resolution_fwhm(load_instrument("ARCS"), [0.0], 300.0)[0]
    result = compare(model, measured)
    assert result.e_min == pytest.approx(3 * fwhm)
    assert result.e_min_source.startswith(f"3 x the elastic FWHM {fwhm:.3g} meV, from ARCS at "
                                          "Ei=300 meV (the model's metadata)")


def test_cli_compare_prints_the_default_cut(tmp_path, capsys):
    from inslib.io.files import save_workspace

    model, measured = _ei300_pair()
    paths = [save_workspace(h, tmp_path / f"{n}.nxs")
             for n, h in (("model", model), ("data", measured))]
    assert main(["compare", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert "E > 36 meV)" in out
    assert ("energy cut 36 meV: 3 x the elastic FWHM 12 meV, from the model's ResolutionFWHM "
            "log (set it with --emin)") in out
    assert main(["compare", *map(str, paths), "--emin", "8"]) == 0
    out = capsys.readouterr().out
    assert "E > 8 meV)" in out
    assert "energy cut" not in out


def test_default_cut_floor_and_fallback():
    from inslib.histogram import Log
    from inslib.logs import RESOLUTION_FWHM

    model, measured = _ei300_pair()
    model.metadata.logs[RESOLUTION_FWHM] = Log(np.full(model.shape[1], 0.1), "meV")
    result = compare(model, measured)
    assert result.e_min == 1.0
    assert result.e_min_source.endswith("ResolutionFWHM log (raised to the 1 meV floor)")
    plain = _model()
    result = compare(plain, _measured(plain, None, sigma=0.0))
    assert result.e_min == 8.0
    assert "neither map records its energy resolution" in result.e_min_source
