"""SimulatePowderSQE through the built-in host and the CLI: template matching, cache, bad input."""

import os
from pathlib import Path

import numpy as np
import pytest

from inslib.io.files import load_workspace
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.runtime.cli import main
from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.simulation import setup
from inslib.simulation.errors import SimulationError

FAST = {"DirectionsPerShell": "60", "ShellsPerBin": "1", "MeshSize": "8"}


@pytest.fixture(scope="module")
def al_fc(shared):
    return str(shared / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml")


def test_on_measured_template_same_bins_mask_and_metadata(shared, al_fc, tmp_path):
    measured = read_histogram_h5(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    out = run_algorithm("SimulatePowderSQE", ForceConstantsFile=al_fc, InputWorkspace=measured,
                        Instrument="ARCS", Ei="80", Temperature="300", OutputWorkspace="s",
                        **FAST)["OutputWorkspace"]
    for ours, theirs in zip(out.axes, measured.axes, strict=True):
        np.testing.assert_array_equal(ours.edges, theirs.edges)
    np.testing.assert_array_equal(out.mask, measured.mask)
    assert np.isnan(out.signal[out.mask]).all()
    assert np.all(out.signal[~out.mask] >= 0)
    meta = out.metadata
    assert (meta.instrument, meta.ei, meta.temperature) == ("ARCS", 80.0, 300.0)
    assert "SimulatePowderSQE" in meta.provenance[-1]
    assert meta.logs["ImaginaryModes"].value == 0
    assert 0 <= meta.logs["PowderConvergence"].value < 1
    # through the Mantid file layout and back
    from inslib.io.files import save_workspace

    back = load_workspace(save_workspace(out, tmp_path / "sim.nxs"))
    np.testing.assert_allclose(back.signal[~back.mask], out.signal[~out.mask])


def test_indirect_instrument_gives_one_spectrum_per_bank(ge_files):
    out = run_algorithm("SimulatePowderSQE", Instrument="TOSCA", Temperature="20",
                        EBinning="2,0.5,60", OutputWorkspace="s", **ge_files,
                        **FAST)["OutputWorkspace"]
    assert out.shape == (2, 116)
    assert out.axes[0].unit == "Degrees"
    assert out.metadata.emode == "Indirect"
    # backward bank (larger |Q|) is stronger at every energy where there is signal
    signal = out.signal
    assert np.all(signal[1][signal[0] > 1e-3] > signal[0][signal[0] > 1e-3])


def test_setup_is_cached_for_repeated_calls(al_fc, tmp_path, monkeypatch):
    first = setup.cached_setup(al_fc, "", 300.0, 8)
    assert setup.cached_setup(al_fc, "", 300.0, 8) is first
    assert setup.cached_setup(al_fc, "", 100.0, 8) is not first
    copy = tmp_path / "phonopy.yaml"
    copy.write_bytes(Path(al_fc).read_bytes())
    (tmp_path / "FORCE_SETS").write_bytes((Path(al_fc).parent / "FORCE_SETS").read_bytes())
    reads = []
    load = setup.load_force_constants
    monkeypatch.setattr(setup, "load_force_constants",
                        lambda *args, **kwargs: reads.append(args) or load(*args, **kwargs))
    again = setup.cached_setup(str(copy), "", 300.0, 8)
    os.utime(copy, ns=(0, 10**9))  # an edited file (new mtime) is read again
    edited = setup.cached_setup(str(copy), "", 300.0, 8)
    assert len(reads) == 2
    assert edited is again  # same numbers from the same file: the set-up is shared
    os.utime(tmp_path / "FORCE_SETS", ns=(0, 2 * 10**9))  # so is new FORCE_SETS beside it
    setup.cached_setup(str(copy), "", 300.0, 8)
    assert len(reads) == 3


def test_setup_cache_takes_force_constants_made_in_memory(al_fc):
    """Force constants in memory (a fit, a force field) are cached on their content."""
    from dataclasses import replace

    from inslib.phonons.force_constants import load_force_constants

    fcs = load_force_constants(al_fc)
    first = setup.cached_setup(fcs, "", 300.0, 8)
    assert setup.cached_setup(replace(fcs), "", 300.0, 8) is first  # equal copy, same set-up
    stiffer = setup.cached_setup(replace(fcs, fc=1.1 * fcs.fc), "", 300.0, 8)
    assert stiffer is not first
    # every mode of a stable model scales with sqrt(force constants), the lowest one included
    assert first.mesh.lowest[0] > 0
    assert stiffer.mesh.lowest[0] == pytest.approx(first.mesh.lowest[0] * 1.1**0.5, rel=1e-6)


@pytest.mark.parametrize(("properties", "prop", "fragment"), [
    ({"Temperature": "-4"}, "Temperature", "-4 K is not valid: give the sample temperature"),
    ({"Coherent": "0", "Incoherent": "0"}, "Coherent", "nothing to simulate"),
    ({"DirectionsPerShell": "7"}, "DirectionsPerShell", "even"),
    ({"EBinning": "-20,1,100"}, "EBinning", "cannot lose more than Ei"),
    ({"MultiphononOrder": "0"}, "MultiphononOrder", ""),
    ({"DirectionsPerShell": "100000000"}, "DirectionsPerShell", "at most 100,000 directions"),
    ({"EBinning": "-20,1e-7,70"}, "EBinning", "at most 1,000,000 per axis"),
])
def test_bad_input_names_the_property(al_fc, properties, prop, fragment):
    base = {"ForceConstantsFile": al_fc, "Instrument": "ARCS", "Ei": "80", "Temperature": "300",
            "QBinning": "0,0.5,8", "EBinning": "-10,2,60"}
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulatePowderSQE", OutputWorkspace="s", **{**base, **properties})
    assert prop in info.value.errors
    assert fragment in info.value.errors[prop]


def test_mismatched_structure_exits_2_and_writes_nothing(al_fc, ge_files, tmp_path, capsys):
    status = main(["run", "SimulatePowderSQE", f"ForceConstantsFile={al_fc}",
                   f"StructureFile={ge_files['StructureFile']}", "Instrument=ARCS", "Ei=80",
                   "Temperature=300", f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    assert "2 atoms but the force constants are for 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unstable_model_is_refused(ge_files, tmp_path):
    """Force constants with the wrong sign: every mode imaginary -> a clear error, no output."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS, write_FORCE_CONSTANTS

    fc = parse_FORCE_CONSTANTS(ge_files["ForceConstantsFile"])
    write_FORCE_CONSTANTS(-fc, filename=str(tmp_path / "FORCE_CONSTANTS"))
    with pytest.raises(SimulationError, match=r"imaginary \(down to -[0-9.]+ meV at q ="):
        run_algorithm("SimulatePowderSQE", ForceConstantsFile=str(tmp_path / "FORCE_CONSTANTS"),
                      StructureFile=ge_files["StructureFile"], Instrument="ARCS", Ei="50",
                      Temperature="10", OutputWorkspace="s", **FAST)


def test_a_mesh_larger_than_memory_is_refused_before_it_is_allocated(monkeypatch, tmp_path):
    """The mesh pass's estimate (inslib.scattering.mesh.mesh_bytes) against MemAvailable.

    With 340 MB available (monkeypatched), 80 % of it holds Al's modes batch (268 MB) and a
    mesh of up to 42^3 (48 bytes a q-point): MeshSize=64 is refused, naming the largest that
    fits; nothing is written.
    """
    from inslib.simulation import setup

    monkeypatch.setattr(setup, "available_bytes", lambda: 340_000_000)
    with pytest.raises(SimulationError, match=r"MeshSize: a 64\^3 mesh .* use MeshSize=42 "):
        run_algorithm("SimulatePowderSQE", ForceConstantsFile="tests/data/Al_phonopy/phonopy.yaml",
                      Instrument="ARCS", Ei="50", Temperature="10",
                      OutputWorkspace=str(tmp_path / "s.nxs"), **{**FAST, "MeshSize": "64"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_polar_looking_model_without_born_charges_warns(shared):
    """Two-species crystals without BORN get a warning (here: NaCl with its BORN removed)."""
    from inslib.phonons.force_constants import load_force_constants

    base = shared / "force_constants" / "phonopy_example_NaCl"
    fcs = load_force_constants(base / "phonopy_disp.yaml")
    fcs.born = fcs.dielectric = None
    from inslib.phonons.model import PhononModel
    from inslib.scattering.mesh import mesh_results

    mesh = mesh_results(PhononModel(fcs), 300.0, 4)
    assert any("no Born charges" in w for w in setup.model_warnings(fcs, mesh))
    fcs_born = load_force_constants(base / "phonopy_disp.yaml")
    assert not any("Born" in w for w in setup.model_warnings(fcs_born, mesh))


@pytest.mark.parametrize("name", ["SimulatePowderSQE", "SimulateSingleCrystalSQE",
                                  "FoldBrillouinZone"])
def test_cli_describes_every_property(name, capsys):
    assert main(["describe", name]) == 0
    text = capsys.readouterr().out
    assert "OutputWorkspace  [out" in text
    assert text.count("default:") >= 8


def test_multiphonon_mode_reaches_the_simulation(ge_files):
    """CreationOnly reaches the simulation.

    It drops the annihilation channels of the n >= 2 terms: at 300 K the spectrum above the
    one-phonon band (42-70 meV for Ge on TOSCA) loses intensity (3 % measured; at TOSCA's
    large |Q| the creation channels dominate), the band itself barely changes.
    """
    common = {"Instrument": "TOSCA", "Temperature": "300", "EBinning": "2,1,70",
              "OutputWorkspace": "s", **ge_files, **FAST}
    complete = run_algorithm("SimulatePowderSQE", **common)["OutputWorkspace"]
    creation = run_algorithm("SimulatePowderSQE", MultiphononMode="CreationOnly",
                             **common)["OutputWorkspace"]
    energy = complete.axes[1].centres
    high, band = energy > 42, (energy > 5) & (energy < 38)
    assert creation.signal[:, high].sum() < 0.99 * complete.signal[:, high].sum()
    ratio = creation.signal[:, band].sum() / complete.signal[:, band].sum()
    assert 0.9 < ratio < 1.1
    assert "creation only" in creation.metadata.provenance[-1]


def test_bins_outside_the_kinematic_range_are_refused(al_fc, tmp_path, capsys):
    status = main(["run", "SimulatePowderSQE", f"ForceConstantsFile={al_fc}", "Instrument=ARCS",
                   "Ei=80", "Temperature=300", "QBinning=20,0.1,25", "EBinning=0,1,70",
                   f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    assert "QBinning='20,0.1,25' (20 to 25 1/Angstrom) lies outside" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
