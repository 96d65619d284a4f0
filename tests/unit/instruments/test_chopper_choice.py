"""Chopper settings the user left empty: the nearest setting that transmits at Ei is taken."""

import pytest

from inslib.instruments import load_instrument
from inslib.instruments.resolution import (
    resolution_fwhm,
    resolved_settings,
    transmitting_settings,
)


@pytest.fixture(scope="module")
def arcs():
    return load_instrument("ARCS")


def test_transmitting_defaults_are_kept(arcs):
    settings = resolved_settings(arcs, {})
    assert settings.unset == {"chopper_package", "chopper_frequency"}
    assert transmitting_settings(arcs, 80.0, settings) == settings


def test_only_the_settings_left_empty_change(arcs):
    """1000 meV: ARCS-100-1.5-AST needs 600 Hz; the other packages transmit at 300 Hz."""
    package_only = resolved_settings(arcs, {"ChopperPackage": "ARCS-100-1.5-AST"})
    assert transmitting_settings(arcs, 1000.0, package_only) == {
        "chopper_package": "ARCS-100-1.5-AST", "chopper_frequency": 600}
    frequency_only = resolved_settings(arcs, {"ChopperFrequency": 300})
    # the default package transmits nothing at 300 Hz: the first other package in the file
    assert transmitting_settings(arcs, 1000.0, frequency_only) == {
        "chopper_package": "SEQ-100-2.0-AST", "chopper_frequency": 300}


def test_no_transmitting_setting_names_ei_what_was_tried_and_the_fix(arcs):
    settings = resolved_settings(arcs, {"ChopperPackage": "ARCS-100-1.5-AST"})
    with pytest.raises(ValueError, match=r"Ei=1500 meV: no ARCS chopper setting transmits "
                                         r"neutrons \(tried ChopperFrequency in \[300, 360, "
                                         r"240, .*choose another Ei or ChopperPackage\."):
        transmitting_settings(arcs, 1500.0, settings)


def test_resolution_of_default_settings_follows_the_choice(arcs):
    """Callers that resolve the defaults again (simulations) get the template's resolution."""
    defaults = resolved_settings(arcs, {})
    chosen = transmitting_settings(arcs, 300.0, defaults)
    assert chosen != defaults  # the default 300 Hz transmits nothing at 300 meV
    assert resolution_fwhm(arcs, [0.0], 300.0, defaults) == pytest.approx(
        resolution_fwhm(arcs, [0.0], 300.0, chosen))


def test_powder_simulation_at_arcs_ei300_uses_the_templates_choice(shared):
    from inslib.runtime.host import run_algorithm

    out = run_algorithm(
        "SimulatePowderSQE", ForceConstantsFile=str(
            shared / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml"),
        Instrument="ARCS", Ei="300", Temperature="300", QBinning="0,1,12",
        EBinning="-30,10,250", MeshSize="4", DirectionsPerShell="10",
        OutputWorkspace="s")["OutputWorkspace"]
    assert out.metadata.logs["chopper_frequency"].value == 360.0
    assert any("took ChopperPackage='ARCS-100-1.5-AST', ChopperFrequency=360" in line
               for line in out.metadata.provenance)
    assert (out.signal[~out.mask] > 0).any()
