"""SimulateMDSQE refuses bad input in validateInputs: property, bad value and fix; nothing run.

Trajectories here are written directly with ASE (displaced copies of a crystal), no MD.
"""

import numpy as np
import pytest

from inslib.runtime.cli import main
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

pytest.importorskip("dynasor")  # the md extra

TEMPLATE = {"Instrument": "ARCS", "Ei": "80", "Temperature": "300", "EBinning": "-30,2,70",
            "QBinning": "1.5,0.1,6"}


def _frames(count: int, repeat=(4, 4, 4), strain: float = 0.0, seed: int = 0):
    """``count`` randomly displaced copies of fcc Al; the cell grows by ``strain`` per frame."""
    from ase.build import bulk

    base = bulk("Al", "fcc", a=4.05).repeat(repeat)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        atoms = base.copy()
        atoms.set_cell(base.cell.array * (1 + strain * index), scale_atoms=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        frames.append(atoms)
    return frames


def _write(path, frames, **kwargs) -> str:
    import ase.io

    ase.io.write(path, frames, **kwargs)
    return str(path)


@pytest.fixture
def no_md_work(monkeypatch):
    """Make the MD run and the correlation step fail: refusals must come before them."""
    def fail(*_args, **_kwargs):
        msg = "MD or correlation work started: the refusal came after computation began"
        raise AssertionError(msg)

    monkeypatch.setattr("inslib.md.simulate.correlate", fail)
    monkeypatch.setattr("inslib.md.simulate.run_md", fail)


def _refused(**properties) -> dict:
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulateMDSQE", OutputWorkspace="out", **{**TEMPLATE, **properties})
    return info.value.errors


def test_an_unreadable_trajectory(no_md_work, tmp_path):
    path = tmp_path / "broken.xyz"
    path.write_text("64\nnot an extended xyz header\nAl 0 0\n")
    errors = _refused(TrajectoryFile=str(path), TimeStep="10")
    assert "'broken.xyz' is not a trajectory ASE can read" in errors["TrajectoryFile"]
    assert "give an ASE .traj, extended XYZ" in errors["TrajectoryFile"]


def test_a_missing_time_step(no_md_work, tmp_path):
    path = _write(tmp_path / "md.traj", _frames(3))
    errors = _refused(TrajectoryFile=path)
    assert errors["TimeStep"].startswith("0 fs: give the time between the trajectory's frames")


def test_a_trajectory_without_cell(no_md_work, tmp_path):
    frames = _frames(3)
    for atoms in frames:
        atoms.set_cell(np.zeros((3, 3)))
        atoms.pbc = False
    path = _write(tmp_path / "nocell.xyz", frames, format="extxyz")
    errors = _refused(TrajectoryFile=path, TimeStep="10")
    assert "the first frame has no periodic 3D cell (cell rank 0" in errors["TrajectoryFile"]


def test_a_changing_cell_npt(no_md_work, tmp_path):
    path = _write(tmp_path / "npt.traj", _frames(4, strain=0.001))
    errors = _refused(TrajectoryFile=path, TimeStep="10")
    assert "the cell changes by 0.0081 Angstrom at frame 1 (NPT?)" in errors["TrajectoryFile"]
    assert "give a constant-volume (NVT/NVE) trajectory" in errors["TrajectoryFile"]


def test_too_few_frames_for_the_energy_bins(no_md_work, tmp_path):
    path = _write(tmp_path / "short.traj", _frames(40))
    errors = _refused(TrajectoryFile=path, TimeStep="10")
    message = errors["TrajectoryFile"]
    # ARCS at Ei = 80 meV (calibrated width): sigma 0.852 meV at 69 meV; 3 hbar / (W 10 fs)
    # <= 0.852 needs 232
    assert message.startswith("40 frames (0.4 ps at 10 fs): energy bins of 2 meV and a "
                              "resolution down to sigma 0.852 meV need a correlation window "
                              "of 232 lags, so at least 233 frames (2.32 ps)")
    assert "give a longer trajectory" in message


def test_frames_too_far_apart_for_the_energy_range(no_md_work, tmp_path):
    path = _write(tmp_path / "sparse.traj", _frames(3))
    errors = _refused(TrajectoryFile=path, TimeStep="60")
    assert errors["TimeStep"] == ("frames 60 fs apart resolve energies up to 34.46 meV "
                                  "(Nyquist), the template's energy bins reach 70 meV: write "
                                  "frames at most 29.5 fs apart")


def test_q_bins_the_supercell_cannot_represent(no_md_work, tmp_path):
    """One primitive cell: reciprocal spacing 2.7 1/A, far coarser than 0.02 1/A bins."""
    path = _write(tmp_path / "tiny.traj", _frames(3, repeat=(1, 1, 1)))
    errors = _refused(TrajectoryFile=path, TimeStep="10", QBinning="2,0.02,4",
                      EBinning="-30,20,70")
    assert "|Q| bins hold no q-point the supercell can represent (its reciprocal lattice " \
           "spacing is 2.69 1/Angstrom): use wider |Q| bins, or a larger supercell" \
           in errors["QBinning"]


@pytest.mark.parametrize(("output", "instrument", "fragment"), [
    ("PowderSQE", {"Instrument": "TOSCA", "Ei": "0"}, "PowderSQE on TOSCA: IndirectSE is for"),
    ("QPath", {"Instrument": "TOSCA", "Ei": "0"}, "QPath on TOSCA: IndirectSE is for"),
    ("IndirectSE", {}, "IndirectSE on ARCS: IndirectSE is for indirect-geometry instruments"),
])
def test_an_output_the_instrument_cannot_give(no_md_work, tmp_path, output, instrument,
                                              fragment):
    path = _write(tmp_path / "md.traj", _frames(3))
    errors = _refused(TrajectoryFile=path, TimeStep="10", Output=output, EBinning="",
                      QBinning="", **instrument)
    assert errors["Output"].startswith(fragment), errors


def _structure(tmp_path, a: float = 4.05) -> str:
    """POSCAR of primitive fcc Al: ``_frames`` repeats it 4 x 4 x 4 at a = 4.05 Angstrom."""
    import ase.io
    from ase.build import bulk

    path = tmp_path / f"Al_{a:g}.vasp"
    ase.io.write(path, bulk("Al", "fcc", a=a), format="vasp")
    return str(path)


@pytest.mark.parametrize(("values", "prop", "fragment"), [
    ({"QPath": ""}, "QPath", "empty: Output=QPath needs a path"),
    ({"PathStep": "0"}, "PathStep", "0 is not valid: give the bin width along the path"),
    ({"QBinning": "1,0.1,3"}, "QBinning", "Output=QPath bins along the path (PathStep)"),
    ({"QPath": "G-Z"}, "QPath", "unknown label(s) ['Z'] for this crystal"),
    # 4 x 4 x 4: M h = (0.4 t, 0, 0.4 t) is an integer vector only at t = 0 (Gamma)
    ({"QPath": "G-[0.1,0,0.1]"}, "QPath", "segment G-[0.1,0,0.1] ([0.0, 0.0, 0.0] to [0.1, "
                                          "0.0, 0.1]) holds no q-point the supercell [[4, 0, "
                                          "0], [0, 4, 0], [0, 0, 4]] represents"),
    ({"StructureFile": ""}, "StructureFile", "QPath with a TrajectoryFile needs the "
                                             "StructureFile"),
    # EnergyResolution: a constant FWHM for a q-path without an Instrument, and only there
    ({"Instrument": "", "Ei": "0"}, "EnergyResolution",
     "0: Output=QPath without an Instrument needs the energy FWHM in meV"),
    ({"Instrument": "", "Ei": "0", "EnergyResolution": "2", "EBinning": ""}, "EBinning",
     "empty: Output=QPath without an Instrument needs the energy bins"),
    ({"Instrument": "", "EnergyResolution": "2"}, "Ei",
     "Ei=80.0 is used with an Instrument only"),
    ({"EnergyResolution": "2"}, "EnergyResolution",
     "EnergyResolution=2 is used with Output=QPath and no Instrument only"),
    ({"EnergyResolution": "2", "Output": "PowderSQE", "QPath": "", "QBinning": "1.5,0.1,6"},
     "EnergyResolution", "EnergyResolution=2 is used with Output=QPath and no Instrument only"),
])
def test_q_path_requests(no_md_work, tmp_path, values, prop, fragment):
    path = _write(tmp_path / "md.traj", _frames(3))
    properties = {"TrajectoryFile": path, "TimeStep": "10", "Output": "QPath",
                  "QPath": "G-X", "StructureFile": _structure(tmp_path), "QBinning": ""}
    errors = _refused(**{**properties, **values})
    assert fragment in errors[prop], errors


def test_a_structure_the_trajectory_is_not_a_supercell_of(no_md_work, tmp_path):
    """Lattice constant 3.6 A: 4 x 4.05 / 3.6 = 4.5 primitive cells, 10-12 % off an integer."""
    path = _write(tmp_path / "md.traj", _frames(3))
    errors = _refused(TrajectoryFile=path, TimeStep="10", Output="QPath", QPath="G-X",
                      StructureFile=_structure(tmp_path, a=3.6), QBinning="")
    assert "is not an integer supercell of the structure's" in errors["StructureFile"]
    assert "give the StructureFile the trajectory was built from" in errors["StructureFile"]


def test_q_path_only_with_output_q_path(no_md_work, tmp_path):
    path = _write(tmp_path / "md.traj", _frames(3))
    errors = _refused(TrajectoryFile=path, TimeStep="10", QPath="G-X")
    assert errors["QPath"] == "'G-X' is used with Output=QPath only: leave it empty, or set " \
                              "Output=QPath"


def test_indirect_q_bins_the_supercell_cannot_represent(no_md_work, tmp_path):
    """TOSCA: 0.01 1/A |Q| bins along the banks, mostly between the 4 x 4 x 4 shells."""
    path = _write(tmp_path / "md.traj", _frames(3))
    errors = _refused(TrajectoryFile=path, TimeStep="2", Output="IndirectSE",
                      Instrument="TOSCA", Ei="0", EBinning="5,20,45", QBinning="1,0.01,7")
    assert "|Q| bins hold no q-point the supercell can represent" in errors["QBinning"]


def test_a_structure_emt_does_not_cover(no_md_work, tmp_path):
    import ase.io
    from ase.build import bulk

    path = tmp_path / "Si.vasp"
    ase.io.write(path, bulk("Si", "diamond", a=5.43), format="vasp")
    errors = _refused(StructureFile=str(path), SupercellMatrix="2,2,2")
    assert errors["StructureFile"].startswith("Si: not covered by ASE's EMT potential (Ag, Al")


@pytest.mark.parametrize(("values", "prop", "fragment"), [
    ({}, "TrajectoryFile", "empty, and no StructureFile to run the MD here"),
    ({"MDTimeStep": "0"}, "MDTimeStep", "0 fs is not valid: give 0 to 20 fs"),
    ({"MDSteps": "0"}, "MDSteps", "0 is not valid: give an integer >= 1"),
    ({"SupercellMatrix": "2,x"}, "SupercellMatrix", "is not a supercell matrix"),
    ({"TimeStep": "10"}, "TimeStep", "10 fs is for a TrajectoryFile: leave it 0"),
    ({"QPointsPerBin": "0"}, "QPointsPerBin", "0 is not valid: give 1 to 100,000"),
    ({"Coherent": "0", "Incoherent": "0"}, "Coherent", "nothing to simulate"),
    ({"Temperature": "-1"}, "Temperature", "-1 (unknown), and there is no InputWorkspace"),
])
def test_md_run_options(no_md_work, tmp_path, values, prop, fragment):
    import ase.io
    from ase.build import bulk

    path = tmp_path / "Al.vasp"
    ase.io.write(path, bulk("Al", "fcc", a=4.05), format="vasp")
    source = {} if prop == "TrajectoryFile" else {"StructureFile": str(path)}
    errors = _refused(**source, **values)
    assert fragment in errors[prop], errors


def test_nothing_is_written_on_the_command_line(no_md_work, tmp_path, capsys):
    path = _write(tmp_path / "npt.traj", _frames(4, strain=0.001))
    out = tmp_path / "out.nxs"
    status = main(["run", "SimulateMDSQE", f"TrajectoryFile={path}", "TimeStep=10",
                   *(f"{k}={v}" for k, v in TEMPLATE.items()), f"OutputWorkspace={out}"])
    assert status == 2
    assert "TrajectoryFile: the cell changes by" in capsys.readouterr().err
    assert not out.exists()


def test_a_potential_file_that_is_not_a_nep_model(no_md_work, tmp_path):
    """Without calorine the message says how to install it; with it, that calorine refused."""
    import importlib.util

    model = tmp_path / "nep.txt"
    model.write_text("not a NEP model\n")
    errors = _refused(StructureFile=_structure(tmp_path), SupercellMatrix="2,2,2",
                      PotentialFile=str(model))
    if importlib.util.find_spec("calorine") is None:
        assert errors["PotentialFile"] == "a NEP model needs calorine: pip install calorine"
    else:
        assert errors["PotentialFile"].startswith("'nep.txt' is not a NEP model file calorine "
                                                  "reads")


def test_a_potential_file_with_a_trajectory(no_md_work, tmp_path):
    model = tmp_path / "nep.txt"
    model.write_text("nep4 1 Al\n")
    errors = _refused(TrajectoryFile=_write(tmp_path / "md.traj", _frames(3)), TimeStep="10",
                      PotentialFile=str(model))
    assert errors["PotentialFile"].endswith("is for an MD run here: leave it empty with a "
                                            "TrajectoryFile")
