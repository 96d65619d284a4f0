"""Command-line errors come before any work, on their own line, with their text intact."""

import time

from inslib.runtime.cli import main

AL = "tests/data/Al_phonopy/phonopy.yaml"
RUN = ["run", "SimulatePowderSQE", f"ForceConstantsFile={AL}", "Instrument=ARCS", "Ei=80",
       "Temperature=300"]


def test_missing_output_folder_is_refused_before_the_simulation(tmp_path, capsys):
    start = time.perf_counter()
    status = main([*RUN, f"OutputWorkspace={tmp_path / 'nowhere' / 'out.nxs'}"])
    assert status == 2
    assert time.perf_counter() - start < 1.0  # no mesh, no powder average (a run takes > 1 s)
    err = capsys.readouterr().err
    assert "OutputWorkspace: cannot write" in err
    assert "does not exist" in err
    assert not (tmp_path / "nowhere").exists()


def test_missing_plot_folder_is_refused_before_the_simulation(tmp_path, capsys):
    status = main([*RUN, f"OutputWorkspace={tmp_path / 'out'}", "--plot",
                   str(tmp_path / "nowhere" / "p.png")])
    assert status == 2
    assert "--plot: cannot write" in capsys.readouterr().err
    assert not (tmp_path / "out.nxs").exists()


def test_an_error_after_progress_gets_its_own_line(ge_files, tmp_path, capsys):
    """The progress bar (carriage returns, no newline) must not swallow a late error."""
    status = main(["run", "SimulateSingleCrystalSQE",
                   f"ForceConstantsFile={ge_files['ForceConstantsFile']}",
                   f"StructureFile={ge_files['StructureFile']}", "Temperature=10", "QPath=G-Q",
                   f"OutputWorkspace={tmp_path / 'sc'}"])
    assert status == 2
    err = capsys.readouterr().err
    assert "%" in err  # the bar was drawn
    assert "\nerror: QPath: unknown label(s) ['Q']" in err
