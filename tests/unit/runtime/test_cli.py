"""Command-line errors come before any work, on their own line, with their text intact."""


from inslib.runtime import cli
from inslib.runtime.cli import main

AL = "tests/data/Al_phonopy/phonopy.yaml"
RUN = ["run", "SimulatePowderSQE", f"ForceConstantsFile={AL}", "Instrument=ARCS", "Ei=80",
       "Temperature=300"]


def test_missing_output_folder_is_refused_before_the_simulation(monkeypatch, tmp_path, capsys):
    def no_work(*_args, **_kwargs):
        msg = "the model set-up started before the output folder was checked"
        raise AssertionError(msg)

    monkeypatch.setattr("inslib.simulation.powder.cached_setup", no_work)
    status = main([*RUN, f"OutputWorkspace={tmp_path / 'nowhere' / 'out.nxs'}"])
    assert status == 2
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


def test_an_error_after_progress_gets_its_own_line(monkeypatch, tmp_path, capsys):
    """The progress bar (carriage returns, no newline) must not swallow a late error."""
    def late_failure(name, progress, **properties):
        progress(0.5, "half way")
        msg = "ForceConstantsFile: 3 of 300 modes are imaginary"
        raise ValueError(msg)

    monkeypatch.setattr(cli, "run_algorithm", late_failure)
    status = main([*RUN, f"OutputWorkspace={tmp_path / 'out'}"])
    assert status == 2
    err = capsys.readouterr().err
    assert "%" in err  # the bar was drawn
    assert "\nerror: ForceConstantsFile: 3 of 300 modes" in err


def test_a_property_given_twice_is_refused(tmp_path, capsys):
    assert main([*RUN, "Ei=30", f"OutputWorkspace={tmp_path / 'out'}"]) == 2
    assert "Ei: given twice (Ei=80, Ei=30)" in capsys.readouterr().err


def test_an_unwritable_folder_is_refused_before_the_simulation(monkeypatch, tmp_path, capsys):
    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", refuse)
    assert main([*RUN, f"OutputWorkspace={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert "OutputWorkspace: cannot write" in err
    assert "not writable (Permission denied)" in err
    assert "Traceback" not in err


def test_describe_shows_groups_empty_choices_and_file_extensions(capsys):
    assert main(["describe", "SimulatePowderSQE"]) == 0
    out = capsys.readouterr().out
    assert "--- Model ---" in out
    assert "--- Instrument setting ---" in out
    assert "allowed: (empty) | ARCS" in out
    assert "allowed: files .yaml, .yml, .castep_bin, .json, .hdf5, FORCE_CONSTANTS" in out


def test_plot_draws_histograms_and_names_the_tables_it_leaves_out(tmp_path, capsys):
    """CompareWithSimulation has a residual map and a table: only the map is plotted."""
    import numpy as np

    from inslib.axes import energy_axis, q_axis
    from inslib.histogram import Histogram
    from inslib.io.files import save_workspace

    axes = (q_axis(np.linspace(0, 4, 9)), energy_axis(np.linspace(-20, 60, 21)))
    model = np.exp(-((axes[1].centres[None, :] - 10 * axes[0].centres[:, None]) ** 2) / 30)
    noise = np.random.default_rng(0).normal(0, 0.02, model.shape)
    simulation = Histogram(axes, model, np.zeros(model.shape), np.zeros(model.shape, bool))
    measured = Histogram(axes, 3 * model + 0.1 + noise, np.full(model.shape, 0.02**2),
                         np.zeros(model.shape, bool))
    sim = save_workspace(simulation, tmp_path / "sim.nxs")
    data = save_workspace(measured, tmp_path / "data.nxs")
    status = main(["run", "CompareWithSimulation", f"InputWorkspace={data}",
                   f"SimulationWorkspace={sim}", f"OutputWorkspace={tmp_path / 'res'}",
                   f"OutputTable={tmp_path / 'fit'}", "--plot", str(tmp_path / "res.png")])
    out = capsys.readouterr().out
    assert status == 0
    assert "OutputTable: saved" in out
    assert "OutputTable: not plotted (a TableWorkspace, not a histogram)" in out
    assert f"OutputWorkspace: plotted {tmp_path / 'res.png'}" in out
    assert (tmp_path / "res.png").stat().st_size > 0
    assert not (tmp_path / "res_OutputTable.png").exists()
