"""Chopper-spectrometer resolution (resins PyChop fits) against MEASURED vanadium widths.

Data: tests/data/shared/resolution_calibration (sns-chops/resolution @ 667ba325): elastic-line
FWHM of vanadium vs Ei and chopper settings. How the files map to chopper packages and which
rows are dropped (failed fits) is documented in inslib/instruments/vanadium.py. Rows whose
setting resins refuses (Ei out of range, no chopper transmission) are counted, not compared.

ARCS's calibration table (issue 13 point 3) is checked where it cannot be in-sample: each
setting is predicted from the table without it, and each frequency from the other frequencies.
"""

import dataclasses

import numpy as np
import pytest

from inslib.instruments import load_instrument
from inslib.instruments.calibration import fit_width_table, table_factor
from inslib.instruments.resolution import resolution_fwhm, width_factor
from inslib.instruments.vanadium import model_ratios, vanadium_widths

pytestmark = pytest.mark.validation

MEDIAN_LIMIT = 0.15  # every instrument's bare model: median |relative error| within 15 %
# Issue 13 point 3: ARCS under 5 % median, like SEQUOIA (5.2 %) and CNCS (5.6 %), on settings
# the calibration did not see. Measured: 1.6 % (setting held out), 2.0 % (frequency held out);
# the single factor this replaces gave 9.5 %.
ARCS_HELD_OUT_LIMIT = 0.05


def relative_errors(folder, name):
    """Return (bare model/measured - 1 per compared row, rows dropped, rows refused)."""
    widths, dropped = vanadium_widths(folder, name)
    ratios, refused = model_ratios(load_instrument(name), widths)
    return 1 / np.array([ratio for _, _, ratio in ratios]) - 1, dropped, refused


@pytest.mark.parametrize("name", ["ARCS", "SEQUOIA", "CNCS"])
def test_elastic_resolution_matches_measured_vanadium(shared, name):
    errors, dropped, refused = relative_errors(shared / "resolution_calibration", name)
    median, worst = np.median(np.abs(errors)), np.max(np.abs(errors))
    print(f"\n{name} (bare model): {errors.size} settings compared ({dropped} failed fits "
          f"dropped, {refused} refused by the model): median |error| {100 * median:.1f} %, "
          f"worst {100 * worst:.1f} %, median signed {100 * np.median(errors):+.1f} %")
    assert errors.size >= 30
    assert median < MEDIAN_LIMIT


def without_width_factor(instrument):
    """Return ``instrument`` with its resolution width factor removed (the bare model)."""
    resolution = {k: v for k, v in instrument.resolution.items() if k != "width_factor"}
    return dataclasses.replace(instrument, resolution=resolution)


@pytest.fixture(scope="module")
def arcs_ratios(shared):
    """Return measured / bare-model FWHM per ARCS vanadium setting the model accepts."""
    instrument = load_instrument("ARCS")
    widths = vanadium_widths(shared / "resolution_calibration", "ARCS")[0]
    return model_ratios(instrument, widths)[0]


def test_arcs_table_is_derived_from_the_vanadium_files(arcs_ratios):
    """The shipped table is what the vanadium files give (provenance), and its value the median."""
    calibration = load_instrument("ARCS").resolution["width_factor"]
    shipped, derived = calibration["table"]["rows"], fit_width_table(arcs_ratios)
    assert [row[:2] for row in shipped] == [row[:2] for row in derived]
    np.testing.assert_allclose([row[2:] for row in shipped], [row[2:] for row in derived],
                               atol=1e-9)
    ratios = np.array([ratio for _, _, ratio in arcs_ratios])
    assert len(ratios) == 321
    assert calibration["value"] == pytest.approx(np.median(ratios), abs=5e-4)
    assert calibration["spread"] == pytest.approx(np.percentile(ratios, [25, 75]), abs=5e-4)


def _held_out_errors(rows, same):
    """|predicted / measured - 1| per row, predicted from the rows for which ``same`` is False."""
    errors = []
    for row in rows:
        others = [other for other in rows if not same(other, row)]
        errors.append(table_factor(others, row[0], row[1], row[2]) / row[3] - 1)
    return np.abs(errors)


def test_arcs_width_table_held_out():
    """Each ARCS setting, and each whole frequency, predicted from the rest of the table."""
    rows = load_instrument("ARCS").resolution["width_factor"]["table"]["rows"]
    setting = _held_out_errors(rows, lambda a, b: a is b)
    frequency = _held_out_errors(rows, lambda a, b: a[:2] == b[:2])
    for name, errors in (("setting", setting), ("frequency", frequency)):
        print(f"\nARCS width table, {name} held out ({errors.size} settings): median |error| "
              f"{100 * np.median(errors):.1f} %, 75th percentile "
              f"{100 * np.percentile(errors, 75):.1f} %, worst {100 * errors.max():.1f} %")
        assert np.median(errors) < ARCS_HELD_OUT_LIMIT


def test_arcs_single_factor_falls_short(arcs_ratios):
    """The single factor (the table's fallback) leaves 9.5 %: why the table is needed."""
    ratios = np.array([ratio for _, _, ratio in arcs_ratios])
    single = np.median(np.abs(width_factor(load_instrument("ARCS")) / ratios - 1))
    print(f"\nARCS single factor: median |error| {100 * single:.1f} %")
    assert single > ARCS_HELD_OUT_LIMIT


def test_width_factor_multiplies_the_fwhm():
    """ARCS widths are the bare model's times the setting's factor; SEQUOIA's are unchanged."""
    energy = np.array([-20.0, 0.0, 30.0, 60.0])
    arcs = load_instrument("ARCS")
    package, frequency, ei, ratio = arcs.resolution["width_factor"]["table"]["rows"][7]
    assert ei > 60.0  # every energy transfer below Ei
    settings = {"chopper_package": package, "chopper_frequency": frequency}
    factor = (resolution_fwhm(arcs, energy, ei=ei, settings=settings)
              / resolution_fwhm(without_width_factor(arcs), energy, ei=ei, settings=settings))
    np.testing.assert_allclose(factor, ratio, rtol=1e-12)  # a measured setting: its own ratio
    sequoia = load_instrument("SEQUOIA")
    assert "width_factor" not in sequoia.resolution
    assert width_factor(sequoia) == 1.0
    np.testing.assert_array_equal(resolution_fwhm(sequoia, energy, ei=80.0),
                                  resolution_fwhm(without_width_factor(sequoia), energy, ei=80.0))
