"""CompareWithSimulation on the built-in host: outputs, logs, progress and refusals."""

import logging

import numpy as np
import pytest

from inslib.axes import energy_axis, q_axis
from inslib.compare import compare
from inslib.histogram import Histogram
from inslib.io.nexus_processed import read_processed
from inslib.runtime.cli import main
from inslib.runtime.host import InvalidArgumentsError, create_algorithm, run_algorithm

NAMES = ["Scale", "Background", "PearsonR", "RFactor", "NBins", "EMin"]


def _maps(sigma=0.02, seed=0):
    """Return (simulation, measurement): 16 x 40 bins, measured = 3 x simulated + 0.1 + noise."""
    axes = (q_axis(np.linspace(0, 4, 17)), energy_axis(np.linspace(-20, 60, 41)))
    q, e = axes[0].centres[:, None], axes[1].centres[None, :]
    model = np.exp(-((e - 10 * q) ** 2) / 30) * q
    mask = np.zeros(model.shape, bool)
    mask[-2:, :5] = True
    noise = np.random.default_rng(seed).normal(0, sigma, model.shape)
    simulation = Histogram(axes, model, np.zeros(model.shape), mask)
    measured = Histogram(axes, 3 * model + 0.1 + noise, np.full(model.shape, sigma**2), mask)
    return simulation, measured


def _rows(table) -> dict:
    return {row["Name"]: (row["Value"], row["Error"])
            for row in map(table.row, range(table.rowCount()))}


def test_outputs_match_compare_and_are_logged(caplog):
    simulation, measured = _maps()
    seen = []
    with caplog.at_level(logging.INFO, logger="inslib"):
        out = run_algorithm("CompareWithSimulation", progress=lambda f, m: seen.append(f),
                            InputWorkspace=measured, SimulationWorkspace=simulation,
                            EMin=5.0, OutputWorkspace="res", OutputTable="fit")
    expected = compare(simulation, measured, 5.0)
    rows = _rows(out["OutputTable"])
    assert list(rows) == [*NAMES, "ChiSquaredPerDoF"]
    assert rows["Scale"] == (expected.scale, expected.scale_error)
    assert rows["Background"] == (expected.background, expected.background_error)
    assert rows["PearsonR"][0] == expected.pearson_r
    assert rows["NBins"][0] == expected.n_bins
    assert rows["EMin"][0] == 5.0
    assert rows["ChiSquaredPerDoF"][0] == pytest.approx(1.0, abs=0.25)  # 430 dof: +- 0.07
    assert out["OutputTable"].getColumnNames() == ["Name", "Value", "Error"]
    assert f"scale {expected.scale:.6g}" in caplog.text
    assert "Pearson r" in caplog.text
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    residual = out["OutputWorkspace"]
    below = measured.axes[1].centres <= 5.0
    assert np.isnan(residual.signal[:, below]).all()
    assert np.isnan(residual.signal[-2:, :5]).all()
    assert np.nanstd(residual.signal) == pytest.approx(0.02, rel=0.15)  # 432 bins: +- 3.4 %


def test_scale_only_and_no_table():
    simulation, measured = _maps(sigma=0.0)
    measured.signal -= 0.1
    out = run_algorithm("CompareWithSimulation", InputWorkspace=measured,
                        SimulationWorkspace=simulation, FitBackground=False,
                        OutputWorkspace="res")
    assert out["OutputTable"] is None
    np.testing.assert_allclose(np.nan_to_num(out["OutputWorkspace"].signal), 0, atol=1e-12)
    out = run_algorithm("CompareWithSimulation", InputWorkspace=measured,
                        SimulationWorkspace=simulation, FitBackground="0",
                        OutputWorkspace="res", OutputTable="fit")
    rows = _rows(out["OutputTable"])
    assert list(rows) == NAMES  # no measured errors: no chi^2
    assert rows["Scale"][0] == pytest.approx(3.0, rel=1e-12)
    assert rows["Background"] == (0.0, 0.0)


@pytest.mark.parametrize(("change", "prop", "words"), [
    ({"EMin": 1000.0}, "EMin", "energy cut 1000 meV leaves 0 compared bins"),
    ({"SimulationWorkspace": "other_bins"}, "SimulationWorkspace", "simulate with InputWorkspace"),
    ({"InputWorkspace": "all_nan"}, "InputWorkspace", "all NaN or masked"),
    ({"SimulationWorkspace": "flat"}, "SimulationWorkspace", "constant (2)"),
])
def test_refusals_name_the_property_and_the_fix(change, prop, words):
    from inslib.runtime.host import ADS

    simulation, measured = _maps()
    ADS["other_bins"] = Histogram((q_axis(np.linspace(0, 5, 17)), measured.axes[1]),
                                  simulation.signal, simulation.variance, simulation.mask)
    ADS["all_nan"] = Histogram(measured.axes, np.full(measured.shape, np.nan),
                               measured.variance, measured.mask)
    ADS["flat"] = Histogram(measured.axes, np.full(measured.shape, 2.0), simulation.variance,
                            simulation.mask)
    properties = {"InputWorkspace": measured, "SimulationWorkspace": simulation,
                  "OutputWorkspace": "res", **change}
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("CompareWithSimulation", **properties)
    assert list(info.value.errors) == [prop]
    assert words in info.value.errors[prop]


def test_every_property_is_documented_and_categorised():
    algorithm = create_algorithm("CompareWithSimulation")
    assert algorithm.category() == "Inelastic\\Simulation"
    assert all(p.doc for p in algorithm.getProperties())


def test_command_line_saves_the_table_for_mantid(tmp_path, capsys):
    from inslib.io.files import save_workspace

    simulation, measured = _maps()
    sim = save_workspace(simulation, tmp_path / "sim.nxs")
    data = save_workspace(measured, tmp_path / "data.nxs")
    assert main(["run", "CompareWithSimulation", f"InputWorkspace={data}",
                 f"SimulationWorkspace={sim}", f"OutputWorkspace={tmp_path / 'res'}",
                 f"OutputTable={tmp_path / 'fit'}"]) == 0
    (table,) = read_processed(tmp_path / "fit.nxs")
    assert table.name == "fit"
    assert list(table.columns["Name"]) == [*NAMES, "ChiSquaredPerDoF"]
    assert table.columns["Value"][0] == compare(simulation, measured).scale
    (res,) = read_processed(tmp_path / "res.nxs")
    assert res.shape == measured.shape
    assert "OutputTable: saved" in capsys.readouterr().out
