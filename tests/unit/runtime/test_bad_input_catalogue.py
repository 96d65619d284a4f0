"""Catalogue of bad inputs (audit issue, items 10-14): each names its property, value and fix.

Every case runs an algorithm on the built-in host and must be refused before any mesh work
(validateInputs), or, for a file that only its reader can judge, by the reader's first check.
The expected property and a fragment of its message are listed per case.
"""

from pathlib import Path

import numpy as np
import pytest

from inslib.axes import Axis
from inslib.histogram import MDHISTO, Histogram, Metadata
from inslib.io.plot import plot_histogram, view_2d
from inslib.runtime import cli
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

ROOT = Path(__file__).resolve().parents[3]
GE = ROOT / "tests" / "data" / "shared" / "force_constants" / "pathSQE_Ge_ARCS"
AL = ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml"
MEASURED = ROOT / "tests" / "data" / "Al-iqe.h5"
NEXUS = ROOT / "tests" / "data" / "shared" / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs"

TEMPLATE = {"Instrument": "ARCS", "Ei": "80"}
POWDER = {"ForceConstantsFile": str(AL), "Instrument": "ARCS", "Ei": "80", "Temperature": "300"}
CRYSTAL = {"ForceConstantsFile": str(GE / "FORCE_CONSTANTS"), "StructureFile": str(GE / "POSCAR"),
           "Temperature": "10"}
FOLD = {"InputWorkspace": str(MEASURED), "StructureFile": str(GE / "POSCAR")}
ALGORITHMS = {"template": ("CreateSQETemplate", TEMPLATE), "powder": ("SimulatePowderSQE", POWDER),
              "crystal": ("SimulateSingleCrystalSQE", CRYSTAL), "fold": ("FoldBrillouinZone", FOLD)}

CASES = [
    # 10. Temperature: one rule (0 to 5000 K, -1 = unknown), one message, everywhere
    ("crystal", {"Temperature": "-1"}, "Temperature",
     "-1 (unknown), and there is no InputWorkspace temperature"),
    ("crystal", {"Temperature": "-5"}, "Temperature",
     "-5 K is not valid: give the sample temperature in K, from 0 to 5000, or -1"),
    ("powder", {"Temperature": "-1"}, "Temperature",
     "-1 (unknown), and there is no InputWorkspace temperature"),
    ("template", {"Temperature": "nan"}, "Temperature",
     "nan K is not valid: give the sample temperature in K, from 0 to 5000, or -1"),
    # 11. silently accepted before
    ("template", {"EFixed": "5"}, "EFixed", "ARCS is a direct-geometry instrument: set Ei"),
    ("template", {"QBinning": "100,1,110"}, "QBinning", "every bin would be masked"),
    ("template", {"EnergyUnit": ""}, "EnergyUnit", "'' is not one of meV | cm^-1 | THz"),
    ("powder", {"MultiphononMode": ""}, "MultiphononMode",
     "'' is not one of Complete | CreationOnly"),
    ("powder", {"QResolution": "1e6"}, "QResolution",
     "1e+06 1/Angstrom is not valid: give the Gaussian Q resolution FWHM from 0 (none) to 1"),
    ("fold", {"InputFile": str(NEXUS)}, "InputFile", "given with InputWorkspace: give only one"),
    # 12. messages that named the wrong property, advised the impossible or were numpy's
    ("template", {"ChopperPackage": "XYZ"}, "ChopperPackage",
     "ChopperPackage='XYZ' is not available on ARCS: allowed values are"),
    ("crystal", {"SupercellMatrix": "2,2,2"}, "SupercellMatrix",
     "makes 8 cells of 2 atoms, but ForceConstantsFile 'FORCE_CONSTANTS' has 128"),
    ("crystal", {"SupercellMatrix": "2,x"}, "SupercellMatrix",
     "give 3 integers (the diagonal, e.g. '4,4,4') or 9 integers"),
    ("crystal", {"QPath": "G-G"}, "QPath", "segment G-G has zero length"),
    ("crystal", {"QDimension0": "a,b,c"}, "QDimension0",
     "'a,b,c' is not an HKL vector: give three numbers h,k,l"),
    ("crystal", {"QPath": "[0,0,0]-[0.5,0"}, "QPath", "has an unclosed '['"),
    ("fold", {"Zones": "a;b"}, "Zones", "'a' is not h,k,l: give reciprocal lattice vectors"),
    # 13. checked before any computation
    ("crystal", {"QPath": "G-Q"}, "QPath", "QPath='G-Q': unknown label(s) ['Q']"),
    ("crystal", {"Instrument": "ARCS"}, "Ei", "Ei=0: give the incident energy for ARCS, 20-1500"),
]


@pytest.fixture
def no_model_work(monkeypatch):
    """Make any model set-up (mesh, Debye-Waller, DOS) fail: refusals must come before it."""
    def fail(*_args, **_kwargs):
        msg = "model set-up started: the refusal came after computation began"
        raise AssertionError(msg)

    for module in ("powder", "indirect", "single_crystal"):
        monkeypatch.setattr(f"inslib.simulation.{module}.cached_setup", fail)


@pytest.mark.parametrize(("algorithm", "values", "prop", "fragment"), CASES)
def test_bad_input_is_refused_naming_the_property(no_model_work, algorithm, values, prop,
                                                   fragment):
    name, base = ALGORITHMS[algorithm]
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm(name, OutputWorkspace="out", **{**base, **values})
    assert prop in info.value.errors, info.value.errors
    assert fragment in info.value.errors[prop]


def _bare_fc(folder: Path, header: str, n_blocks: int) -> Path:
    """Write a FORCE_CONSTANTS of zero blocks: the header, then a pair line + 3 rows per block."""
    block = "   1   1\n" + "  0.0  0.0  0.0\n" * 3
    path = folder / "FORCE_CONSTANTS"
    path.write_text(f"{header}\n" + block * n_blocks)
    return path


@pytest.mark.parametrize(("header", "blocks", "fragment"), [
    ("2 128", 3, "12 non-empty lines after the header '2 128', which announces 1024"),
    ("2 6", 12, "6 supercell atoms for a 2-atom structure, not a cube n x n x n: give "
                "SupercellMatrix"),
])
def test_a_bare_force_constant_file_is_checked_before_the_run(tmp_path, header, blocks, fragment):
    """A truncated FORCE_CONSTANTS, or one of a non-cubic supercell, named before any work."""
    fc = _bare_fc(tmp_path, header, blocks)
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulateSingleCrystalSQE", OutputWorkspace="out",
                      **{**CRYSTAL, "ForceConstantsFile": str(fc)})
    assert fragment in info.value.errors["ForceConstantsFile"]


def test_a_truncated_phonopy_yaml_names_the_section(tmp_path):
    """Cut inside unit_cell: phonopy said "'NoneType' object has no attribute 'values'"."""
    lines = AL.read_text().splitlines(keepends=True)
    cut = tmp_path / "phonopy.yaml"
    cut.write_text("".join(lines[:64]))
    with pytest.raises(ValueError, match=r"ForceConstantsFile 'phonopy.yaml': section "
                                         r"'unit_cell' has an incomplete atom 2") as info:
        run_algorithm("SimulatePowderSQE", OutputWorkspace="out",
                      **{**POWDER, "ForceConstantsFile": str(cut)})
    assert "write it again with phonopy" in str(info.value)
    assert "NoneType" not in str(info.value)


def test_a_property_given_twice_on_the_command_line_is_refused(tmp_path, capsys):
    status = cli.main(["run", "CreateSQETemplate", "Instrument=ARCS", "Ei=80", "Ei=30",
                       f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    assert "Ei: given twice (Ei=80, Ei=30): give each property once" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_named_without_a_traceback(monkeypatch, tmp_path, capsys):
    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", refuse)
    status = cli.main(["run", "CreateSQETemplate", "Instrument=ARCS", "Ei=80",
                       f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    err = capsys.readouterr().err
    assert f"OutputWorkspace: cannot write {tmp_path / 'out.nxs'}: folder" in err
    assert "is not writable (Permission denied)" in err


def test_a_4d_result_is_plotted_as_a_labelled_2d_view(tmp_path):
    """--plot on an MD histogram: the first binned Q axis against energy, the rest averaged."""
    edges = [np.linspace(-1, 1, 5), np.linspace(-1, 1, 3), np.array([-0.05, 0.05]),
             np.linspace(0, 40, 11)]
    axes = [Axis(e, "r.l.u.", name, frame="HKL", projection=p) for e, name, p in
            zip(edges[:3], ("[H,0,0]", "[0,K,0]", "[0,0,L]"), np.eye(3), strict=True)]
    shape = (4, 2, 1, 10)
    hist = Histogram([*axes, Axis(edges[3], "DeltaE", "DeltaE")], np.ones(shape),
                     np.zeros(shape), np.zeros(shape, bool), Metadata(title="S(Q,E)"),
                     kind=MDHISTO)
    values, shown, note = view_2d(hist, hist.signal)
    assert values.shape == (4, 10)
    assert [axis.name for axis in shown] == ["[H,0,0]", "DeltaE"]
    assert "mean over [0,K,0] (r.l.u.) -1 to 1" in note
    assert "integrated [0,0,L] (r.l.u.) -0.05 to 0.05" in note
    assert plot_histogram(hist, tmp_path / "view.png").stat().st_size > 0
