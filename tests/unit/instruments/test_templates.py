"""CreateSQETemplate through the built-in host and the CLI, good and bad input."""

import logging

import numpy as np
import pytest

from inslib.instruments import load_instrument
from inslib.instruments.kinematics import coverage
from inslib.io.files import load_workspace
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.runtime.cli import main
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

ARCS80 = {"Instrument": "ARCS", "Ei": "80", "QBinning": "0,0.1,12", "EBinning": "-20,1,75"}


def test_arcs_template_grid_mask_and_resolution():
    out = run_algorithm("CreateSQETemplate", OutputWorkspace="t", **ARCS80)["OutputWorkspace"]
    q, e = out.axes
    assert out.shape == (120, 95)
    assert (q.unit, e.unit) == ("MomentumTransfer", "DeltaE")
    expected = coverage(q.edges, e.edges, 80.0, "direct", load_instrument("ARCS").banks_deg)
    np.testing.assert_array_equal(out.mask, ~expected)
    assert np.isnan(out.signal[out.mask]).all()
    assert (out.signal[~out.mask] == 0).all()
    fwhm = out.metadata.logs["ResolutionFWHM"].value
    assert fwhm.shape == (95,)
    # direct geometry: the resolution narrows as the energy transfer approaches Ei
    assert np.all(np.diff(fwhm[np.isfinite(fwhm)]) < 0)
    assert out.metadata.ei == 80.0
    assert out.metadata.emode == "Direct"


@pytest.mark.parametrize(("frequency", "below", "above"), [
    (300, (70.1, 1.1992), (80.2, 1.2072)), (600, (79.8, 1.0704), (89.9, 1.0307))])
def test_template_logs_the_calibrated_width_factor(frequency, below, above):
    """The ARCS template logs its setting's calibrated width factor.

    ARCS-100-1.5-AST at Ei = 80 meV: linear in log Ei between the measured vanadium settings
    either side (instruments/ARCS.yaml table rows, copied here).
    """
    out = run_algorithm("CreateSQETemplate", OutputWorkspace="t", ChopperFrequency=frequency,
                        **ARCS80)["OutputWorkspace"]
    (e0, r0), (e1, r1) = below, above
    t = np.log(80.0 / e0) / np.log(e1 / e0)
    expected = np.exp((1 - t) * np.log(r0) + t * np.log(r1))
    assert out.metadata.logs["ResolutionWidthFactor"].value == pytest.approx(expected, rel=1e-9)


def test_tosca_template_covers_two_lines():
    out = run_algorithm("CreateSQETemplate", Instrument="TOSCA", QBinning="0,0.25,20",
                        EBinning="5,5,400", OutputWorkspace="t")["OutputWorkspace"]
    assert out.metadata.efixed == pytest.approx(3.32)
    assert out.metadata.emode == "Indirect"
    covered_per_energy = (~out.mask).sum(axis=0)
    assert (covered_per_energy >= 1).all()
    assert (covered_per_energy <= 6).all()


def test_template_from_measured_al_keeps_bins_mask_and_metadata(shared):
    measured = read_histogram_h5(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    out = run_algorithm("CreateSQETemplate", InputWorkspace=measured, Instrument="ARCS",
                        Ei="80", Temperature="300", OutputWorkspace="t")["OutputWorkspace"]
    for ours, theirs in zip(out.axes, measured.axes, strict=True):
        np.testing.assert_array_equal(ours.edges, theirs.edges)
    np.testing.assert_array_equal(out.mask, measured.mask)
    assert out.metadata.temperature == 300.0


def test_energy_in_wavenumbers_is_converted():
    out = run_algorithm("CreateSQETemplate", Instrument="TOSCA", EBinning="100,100,4000",
                        EnergyUnit="cm^-1", QBinning="0,0.5,30",
                        OutputWorkspace="t")["OutputWorkspace"]
    assert out.axes[1].edges[0] == pytest.approx(12.398, rel=1e-3)


@pytest.mark.parametrize(("properties", "prop", "fragment"), [
    ({"Instrument": "FOO"}, "Instrument", "FOO"),
    ({"Ei": "2000"}, "Ei", "outside ARCS's incident-energy range 20-1500 meV"),
    ({"EBinning": "-20,1,100"}, "EBinning", "cannot lose more than Ei"),
    ({"EBinning": "10,1,0"}, "EBinning", "must be greater than start"),
    ({"EBinning": "0,0,10"}, "EBinning", "step 0 must be > 0"),
    ({"QBinning": "5,0.1,1"}, "QBinning", "must be greater than start"),
    ({"ChopperFrequency": "250"}, "ChopperFrequency", "not available on ARCS"),
    ({"Ei": "-5"}, "Ei", "outside"),
    ({"Temperature": "-4"}, "Temperature", "-4 K is not valid"),
    ({"Temperature": "nan"}, "Temperature", "nan K is not valid"),
    ({"Temperature": "1e9"}, "Temperature", "1e+09 K is not valid: give the sample temperature "
                                            "in K, from 0 to 5000"),
    # memory guards (issue 10 point 2): refused before anything is allocated
    ({"EBinning": "-20,1e-7,70"}, "EBinning", "at most 1,000,000 per axis"),
    ({"QBinning": "0,1e-9,12"}, "QBinning", "at most 1,000,000 per axis"),
    ({"QBinning": "0,0.0005,12", "EBinning": "-20,0.01,70"}, "QBinning",
     "at most 20,000,000 bins in a map"),
])
def test_bad_input_names_the_property(properties, prop, fragment):
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("CreateSQETemplate", OutputWorkspace="t", **{**ARCS80, **properties})
    assert prop in info.value.errors
    assert fragment in info.value.errors[prop]


def test_wrong_units_workspace_is_refused(shared):
    mari = shared / "mantid_files" / "mslice_MAR21335_Ei60meV.nxs"
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("CreateSQETemplate", InputWorkspace=str(mari), Instrument="MARI",
                      OutputWorkspace="t")
    assert "MomentumTransfer" in info.value.errors["InputWorkspace"]


def test_cli_run_writes_file_and_plot(tmp_path, capsys):
    target = tmp_path / "arcs"
    status = main(["run", "CreateSQETemplate", *(f"{k}={v}" for k, v in ARCS80.items()),
                   f"OutputWorkspace={target}", "--plot", str(tmp_path / "arcs.png")])
    assert status == 0
    assert "saved" in capsys.readouterr().out
    assert load_workspace(tmp_path / "arcs.nxs").shape == (120, 95)
    assert (tmp_path / "arcs.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("bad", [
    ["Ei=5000"], ["EBinning=0,0,10"], ["InputWorkspace=missing.nxs"], ["Instrument=FOO"],
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, bad):
    properties = {**ARCS80, **dict(b.split("=", 1) for b in bad)}
    status = main(["run", "CreateSQETemplate", *(f"{k}={v}" for k, v in properties.items()),
                   f"OutputWorkspace={tmp_path / 'out.nxs'}", "--plot", str(tmp_path / "p.png")])
    assert status == 2
    assert "error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_corrupt_input_file(tmp_path, capsys):
    corrupt = tmp_path / "bad.nxs"
    corrupt.write_text("not hdf5")
    status = main(["run", "CreateSQETemplate", f"InputWorkspace={corrupt}", "Instrument=ARCS",
                   "Ei=80", f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    assert "not a readable HDF5" in capsys.readouterr().err
    assert not (tmp_path / "out.nxs").exists()


def test_cli_list_and_describe(capsys):
    assert main(["list"]) == 0
    assert "CreateSQETemplate" in capsys.readouterr().out
    assert main(["describe", "CreateSQETemplate"]) == 0
    text = capsys.readouterr().out
    for fragment in ("Ei  [in, float]", "allowed: meV | cm^-1 | THz", "OutputWorkspace  [out"):
        assert fragment in text


def test_arcs_ei300_without_chopper_takes_a_transmitting_setting_and_records_it(caplog):
    """The default ARCS-100-1.5-AST at 300 Hz transmits nothing at 300 meV: 360 Hz does."""
    with caplog.at_level(logging.WARNING, logger="inslib"):
        out = run_algorithm("CreateSQETemplate", Instrument="ARCS", Ei="300",
                            OutputWorkspace="t")["OutputWorkspace"]
    logs = out.metadata.logs
    assert logs["chopper_package"].value == "ARCS-100-1.5-AST"
    assert logs["chopper_frequency"].value == 360.0
    fwhm = np.asarray(logs["ResolutionFWHM"].value)
    assert np.isfinite(fwhm[out.axes[1].centres < 300.0]).all()  # 360 Hz transmits
    note = ("ChopperFrequency=300 (the defaults where not given) transmits no neutrons at "
            "Ei=300 meV; took ChopperPackage='ARCS-100-1.5-AST', ChopperFrequency=360")
    assert note in out.metadata.provenance[-1]
    assert note in caplog.text


def test_a_given_chopper_setting_that_transmits_nothing_is_refused():
    with pytest.raises(ValueError, match=r"transmits no neutrons at Ei=300 meV with "
                                         r"ChopperPackage='ARCS-100-1.5-AST', "
                                         r"ChopperFrequency=300: choose another"):
        run_algorithm("CreateSQETemplate", Instrument="ARCS", Ei="300",
                      ChopperPackage="ARCS-100-1.5-AST", ChopperFrequency="300",
                      OutputWorkspace="t")
