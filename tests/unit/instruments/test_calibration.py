"""Interpolation of a width-calibration table (inslib/instruments/calibration.py)."""

import numpy as np
import pytest

from inslib.instruments.calibration import fit_width_table, table_factor

ROWS = [["P", 100, 10.0, 1.0], ["P", 100, 1000.0, 4.0],
        ["P", 300, 10.0, 2.0], ["P", 300, 1000.0, 2.0]]


def test_nodes_are_returned_exactly():
    for package, frequency, ei, ratio in ROWS:
        assert table_factor(ROWS, package, frequency, ei) == pytest.approx(ratio, rel=1e-12)


def test_linear_in_log_ei_and_clamped_at_the_ends():
    assert table_factor(ROWS, "P", 100, 100.0) == pytest.approx(2.0)  # geometric midpoint
    assert table_factor(ROWS, "P", 100, 1.0) == pytest.approx(1.0)
    assert table_factor(ROWS, "P", 100, 1e5) == pytest.approx(4.0)


def test_linear_in_frequency_between_lines_nearest_outside():
    # at 200 Hz, Ei = 10 meV: halfway between log 1 and log 2
    assert table_factor(ROWS, "P", 200, 10.0) == pytest.approx(np.sqrt(2.0))
    assert table_factor(ROWS, "P", 60, 10.0) == pytest.approx(1.0)
    assert table_factor(ROWS, "P", 600, 1000.0) == pytest.approx(2.0)


def test_other_package_has_no_factor():
    assert table_factor(ROWS, "Q", 100, 10.0) is None


def test_repeated_settings_merge_geometrically():
    ratios = [({"chopper_package": "P", "chopper_frequency": 60}, 100.0, 1.0),
              ({"chopper_package": "P", "chopper_frequency": 60}, 101.0, 4.0),
              ({"chopper_package": "P", "chopper_frequency": 60}, 150.0, 3.0),
              ({"chopper_package": "P", "chopper_frequency": 120}, 100.0, 5.0)]
    assert fit_width_table(ratios) == [["P", 60, 100.5, 2.0], ["P", 60, 150.0, 3.0],
                                       ["P", 120, 100.0, 5.0]]
