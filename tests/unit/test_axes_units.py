import numpy as np
import pytest

from inslib.axes import Axis, energy_axis, parse_binning, parse_hkl_name
from inslib.units import NEUTRON_E_PER_K2, from_mev, to_mev, wavevector


def test_unit_constants_match_field_values():
    # 1 THz = 4.135667697 meV (h/e) and E = 2.0721247 meV A^2 k^2 (FIELD_NOTES, CODATA).
    assert to_mev(1.0, "THz") == pytest.approx(4.135667697, rel=1e-9)
    assert to_mev(33.35641, "cm^-1") == pytest.approx(4.135667697, rel=1e-6)
    assert pytest.approx(2.0721247, rel=1e-6) == NEUTRON_E_PER_K2
    assert from_mev(to_mev(123.0, "cm^-1"), "cm^-1") == pytest.approx(123.0)
    assert wavevector(NEUTRON_E_PER_K2 * 4.0) == pytest.approx(2.0)


def test_unknown_energy_unit_is_named():
    with pytest.raises(ValueError, match="'eV'"):
        to_mev(1.0, "eV")


def test_binning_follows_mantid_rebin():
    np.testing.assert_allclose(parse_binning("0,0.5,2"), [0, 0.5, 1, 1.5, 2])
    # last bin of 0.3 (60 % of the step) is kept, ending exactly at 'end'
    np.testing.assert_allclose(parse_binning("0,0.5,1.3"), [0, 0.5, 1.0, 1.3])
    # last bin of 0.1 (< 25 % of the step) is merged into the previous one
    np.testing.assert_allclose(parse_binning("0,0.5,1.1"), [0, 0.5, 1.1])


@pytest.mark.parametrize(("text", "fragment"), [
    ("0,0,10", "step 0 must be > 0"),
    ("0,-1,10", "step -1 must be > 0"),
    ("10,1,0", "end 0 must be greater than start 10"),
    ("0,1", "start,step,end"),
    ("a,b,c", "start,step,end"),
])
def test_bad_binning_messages(text, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_binning(text, "EBinning")
    assert "EBinning" in str(info.value)


def test_energy_axis_converts_edges_to_mev():
    axis = energy_axis([0.0, 80.655], "cm^-1")
    np.testing.assert_allclose(axis.edges, [0.0, 10.0], rtol=1e-4)
    assert axis.unit == "DeltaE"
    assert axis.label == "Energy transfer (meV)"


def test_axis_rejects_decreasing_values():
    with pytest.raises(ValueError, match="increase"):
        Axis(np.array([0.0, 2.0, 1.0]), "DeltaE")


@pytest.mark.parametrize(("name", "vector"), [
    ("[H,0,0]", (1, 0, 0)), ("[-0.5K,K,0]", (-0.5, 1, 0)), ("[0,0,L]", (0, 0, 1)),
    ("DeltaE", None), ("[H,1,0]", None),
])
def test_hkl_names_parse_to_projections(name, vector):
    assert parse_hkl_name(name) == vector
