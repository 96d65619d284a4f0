"""PredictSQE on the built-in host: Folder and ForceField routes, outputs, ensembles, refusals."""

from pathlib import Path

import numpy as np
import pytest

from inslib.io.histogram_h5 import read_histogram_h5
from inslib.ml.predict import rebin_density
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

DATA = Path(__file__).resolve().parents[2] / "data"
AL_FOLDER = DATA / "Al_phonopy"
FAST = {"MeshSize": 8, "DirectionsPerShell": 50, "Temperature": 300}
ARCS = {"Instrument": "ARCS", "Ei": 80, "QBinning": "0,0.25,8", "EBinning": "-10,1,70"}
ONE_CELL = {"SupercellMatrix": "2,2,2", "Relax": "None"}

PARTIAL_CIF = """data_AlMg
_cell_length_a 4.05
_cell_length_b 4.05
_cell_length_c 4.05
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Al1 Al 0 0 0 0.9
Mg1 Mg 0 0 0 0.1
"""


def _both_equal(a, b) -> None:
    assert [x.values.tolist() for x in a.axes] == [x.values.tolist() for x in b.axes]
    np.testing.assert_array_equal(a.signal, b.signal)
    np.testing.assert_array_equal(a.mask, b.mask)


@pytest.mark.parametrize(("output", "setting"), [
    ("PowderSQE", ARCS), ("IndirectSE", {"Instrument": "TOSCA", "EBinning": "2,2,100"})])
def test_folder_route_equals_simulate_powder_sqe(output, setting):
    predicted = run_algorithm("PredictSQE", Method="Folder", PhononFolder=str(AL_FOLDER),
                              Output=output, OutputWorkspace="p", **setting, **FAST)
    simulated = run_algorithm("SimulatePowderSQE",
                              ForceConstantsFile=str(AL_FOLDER / "phonopy.yaml"),
                              OutputWorkspace="s", **setting, **FAST)
    _both_equal(predicted["OutputWorkspace"], simulated["OutputWorkspace"])
    assert predicted["OutputWorkspace"].metadata.logs["PredictMethod"].value == "Folder"
    assert not predicted["OutputWorkspace"].variance.any()  # one model: no spread


def test_a_prediction_on_a_measured_workspace_has_its_bins_and_mask():
    measured = read_histogram_h5(DATA / "Al-iqe.h5")
    out = run_algorithm("PredictSQE", Method="Folder", PhononFolder=str(AL_FOLDER),
                        InputWorkspace=measured, Instrument="ARCS", Ei=80, OutputWorkspace="p",
                        **FAST)["OutputWorkspace"]
    assert [a.edges.tolist() for a in out.axes] == [a.edges.tolist() for a in measured.axes]
    np.testing.assert_array_equal(out.mask, measured.mask)
    assert np.isfinite(out.signal[~out.mask]).all()
    message = _refusal(Method="Folder", PhononFolder=str(AL_FOLDER), InputWorkspace=measured,
                       Output="DOS")
    assert "InputWorkspace" in message
    assert "not of DOS" in message


def test_folder_dos_integrates_to_three_states_per_atom():
    out = run_algorithm("PredictSQE", Method="Folder", PhononFolder=str(AL_FOLDER),
                        Output="PartialDOS", MeshSize=8, OutputWorkspace="d")["OutputWorkspace"]
    assert [label for _, label in out.axes[0].ticks] == ["Al"]
    # the regularised mesh DOS holds every state; the top bin edge is 1.05 x the highest mode
    assert (out.signal * np.diff(out.axes[1].edges)).sum() == pytest.approx(3.0, rel=2e-3)


def test_dos_rebinning_keeps_states_and_a_flat_density():
    centres = (np.arange(100) + 0.5) * 0.05  # fine bins 0-5 meV
    flat = np.ones((2, 100))
    # bins of 0.119 meV hold 2 or 3 fine centres each: an assignment by centre would alternate
    np.testing.assert_allclose(rebin_density(flat, centres, 0.05, np.linspace(0, 5, 43)), 1.0,
                               rtol=1e-12)
    wide = np.linspace(0, 6, 7)
    assert (rebin_density(flat, centres, 0.05, wide) * np.diff(wide)).sum(axis=1) == \
        pytest.approx([5.0, 5.0])


def test_folder_partial_dos_of_a_phonondb_folder_with_born_charges():
    nacl = DATA / "shared" / "force_constants" / "phonopy_example_NaCl"  # FORCE_SETS, BORN
    out = run_algorithm("PredictSQE", Method="Folder", PhononFolder=str(nacl),
                        Output="PartialDOS", MeshSize=8, OutputWorkspace="d")["OutputWorkspace"]
    assert [label for _, label in out.axes[0].ticks] == ["Na", "Cl"]
    states = (out.signal * np.diff(out.axes[1].edges)).sum(axis=1)
    # per atom of the 2-atom cell: each element holds 3 of its 6 branches' states / 2 atoms
    np.testing.assert_allclose(states, [1.5, 1.5], rtol=2e-3)
    assert "Warnings" not in out.metadata.logs  # BORN beside FORCE_SETS was read


def _refusal(**properties) -> str:
    with pytest.raises(InvalidArgumentsError) as err:
        run_algorithm("PredictSQE", OutputWorkspace="p", **properties)
    return str(err.value)


def test_partial_occupancy_is_refused_and_nothing_written(tmp_path, cache):
    cif = tmp_path / "AlMg.cif"
    cif.write_text(PARTIAL_CIF)
    saved = tmp_path / "fc.yaml"
    message = _refusal(StructureFile=str(cif), OutputForceConstantsFile=str(saved), **ARCS)
    assert "StructureFile" in message
    assert "Al1 (0.9), Mg1 (0.1)" in message
    assert "ordered supercell" in message
    assert not saved.exists()
    assert not cache.exists()


@pytest.mark.parametrize(("properties", "prop", "fragment"), [
    ({"ForceField": "mace-mp"}, "ForceField", "unknown force field 'mace-mp'; valid: 7net-0"),
    ({"Method": "Direct", "Output": "QPath"}, "Output",
     "Method=Direct predicts DOS, PartialDOS, IndirectSE, PowderSQE"),
    ({"Output": "IndirectSE"}, "Output", "needs an indirect-geometry instrument"),
    ({"SupercellMatrix": "9,9,9"}, "SupercellMatrix", "2916 atoms: at most 400"),
    ({"QPath": "G-Q", "Output": "QPath"}, "QPath", "unknown label(s) ['Q']"),
    ({"OutputForceConstantsFile": "fc.txt"}, "OutputForceConstantsFile", "give a .yaml"),
])
def test_bad_force_field_input_is_refused(al_cif, cache, tmp_path, properties, prop, fragment):
    values = {"StructureFile": str(al_cif), **ARCS, **FAST} | properties
    if "OutputForceConstantsFile" in values:
        values["OutputForceConstantsFile"] = str(tmp_path / values["OutputForceConstantsFile"])
    message = _refusal(**values)
    assert prop in message  # the host writes "Prop: message" unless it starts with the name
    assert fragment in message
    assert not list(tmp_path.iterdir())  # no cache folder, no force-constants file


def test_an_element_the_force_field_lacks_is_refused(tmp_path, cache):
    pytest.importorskip("sevenn")
    import ase.io
    from ase.build import bulk

    polonium = tmp_path / "Po.cif"
    ase.io.write(polonium, bulk("Po", "sc", a=3.35))  # alpha-Po; not in 7net-0's 89 elements
    message = _refusal(StructureFile=str(polonium), **ARCS, **FAST)
    assert "ForceField: '7net-0' was not trained on Po (in StructureFile)" in message
    assert not cache.exists()


def test_a_missing_empty_structure_or_folder_is_named(tmp_path):
    assert "StructureFile: empty: Methods ForceField and Direct need" in _refusal(**ARCS, **FAST)
    empty = tmp_path / "empty.cif"
    empty.touch()
    assert "is empty" in _refusal(StructureFile=str(empty), **ARCS, **FAST)
    message = _refusal(Method="Folder", PhononFolder=str(AL_FOLDER / "phonopy.yaml"), **ARCS,
                       **FAST)
    assert "PhononFolder: " in message
    assert "is not a folder" in message


@pytest.fixture(scope="module")
def ensemble_cache(tmp_path_factory):
    """Share one force-field cache (INSLIB_CACHE) among this module's ForceField tests."""
    pytest.importorskip("sevenn")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INSLIB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_force_field_output_file_feeds_simulate_powder_sqe(al_cif, ensemble_cache, tmp_path):
    saved = tmp_path / "al.yaml"
    predicted = run_algorithm("PredictSQE", StructureFile=str(al_cif), OutputWorkspace="p",
                              OutputForceConstantsFile=str(saved), **ONE_CELL, **ARCS, **FAST)
    simulated = run_algorithm("SimulatePowderSQE", ForceConstantsFile=str(saved),
                              OutputWorkspace="s", **ARCS, **FAST)
    _both_equal(predicted["OutputWorkspace"], simulated["OutputWorkspace"])
    logs = predicted["OutputWorkspace"].metadata.logs
    assert (logs["PredictMethod"].value, logs["ForceFields"].value) == ("ForceField", "7net-0")


def test_ensemble_errors_are_the_spread_of_its_members(al_cif, ensemble_cache):
    def dos(force_fields):
        return run_algorithm("PredictSQE", StructureFile=str(al_cif), ForceField=force_fields,
                             Output="DOS", EBinning="0,1,40", MeshSize=8, OutputWorkspace="d",
                             **ONE_CELL)["OutputWorkspace"]

    members = np.stack([dos(name).signal for name in ("7net-0", "7net-l3i5")])
    ensemble = dos("7net-0,7net-l3i5")
    np.testing.assert_allclose(ensemble.signal, members.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ensemble.variance, members.var(axis=0, ddof=1), rtol=1e-12)
    assert (ensemble.variance >= 0).all()
    differ = np.abs(members[0] - members[1]) > 1e-6
    assert differ.sum() > 10  # l3i5 is stiffer on Al (max ratio 0.80 vs 0.73)
    assert (ensemble.variance[differ] > 0).all()
    assert ensemble.metadata.logs["ForceFields"].value == "7net-0,7net-l3i5"


def test_force_field_q_path_has_the_fcc_labels(al_cif, ensemble_cache):
    out = run_algorithm("PredictSQE", StructureFile=str(al_cif), Output="QPath", QPath="G-X-W",
                        Temperature=10, MeshSize=8, OutputWorkspace="q",
                        **ONE_CELL)["OutputWorkspace"]
    assert [label for _, label in out.axes[0].ticks] == ["G", "X", "W"]
    assert out.axes[1].edges[0] == 0.0
    assert np.nanmax(out.signal) > 0


def test_folder_q_path_takes_the_chopper_setting():
    """PredictSQE's q-path is SimulateSingleCrystalSQE's at the same ChopperFrequency.

    It once dropped the template's chopper setting (the instrument default whatever given).
    """
    common = {"Instrument": "ARCS", "Ei": 100, "ChopperFrequency": 600, "QPath": "G-X",
              "Temperature": 10, "MeshSize": 8}
    predicted = run_algorithm("PredictSQE", Method="Folder", PhononFolder=str(AL_FOLDER),
                              Output="QPath", EBinning="0,0.5,45", OutputWorkspace="p",
                              **common)["OutputWorkspace"]
    simulated = run_algorithm("SimulateSingleCrystalSQE", Dimension3Binning="0,0.5,45",
                              ForceConstantsFile=str(AL_FOLDER / "phonopy.yaml"),
                              OutputWorkspace="s", **common)["OutputWorkspace"]
    np.testing.assert_allclose(np.nan_to_num(predicted.signal.reshape(simulated.signal.shape)),
                               np.nan_to_num(simulated.signal), rtol=1e-10, atol=1e-12)
    default = run_algorithm("SimulateSingleCrystalSQE", Dimension3Binning="0,0.5,45",
                            ForceConstantsFile=str(AL_FOLDER / "phonopy.yaml"),
                            OutputWorkspace="s", **{**common, "ChopperFrequency": 0})
    assert not np.allclose(np.nan_to_num(default["OutputWorkspace"].signal),
                           np.nan_to_num(simulated.signal))
