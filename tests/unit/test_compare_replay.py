"""Replay of a live run: CompareWithSimulation on 10 accumulating chunks of a Poisson run.

The run is simulated on the bins and mask of the measured ARCS Al map (Ei 80 meV): expected
intensity = the scale and background that fit the simulation to the measured map, times the
simulation; count level = the measured map's own (median signal / variance, about 720 counts
per unit of intensity over the run, 170 counts per compared bin on average). The run's counts
are split into 10 equal exposures (inslib.replay.accumulating_chunks); each accumulated chunk,
normalised to its exposure, is compared with the same simulation, as StartLiveData's
post-processing would on each update.
"""

import numpy as np
import pytest

from inslib.compare import compare
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.replay import accumulating_chunks, counts_histogram
from inslib.runtime.host import run_algorithm
from inslib.scattering.powder import PowderSampling
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

N_CHUNKS = 10


@pytest.fixture(scope="module")
def maps(shared):
    """Measured Al map and a cheap simulation on its bins (1 shell x 50 directions, mesh 8)."""
    measured = read_histogram_h5(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    fc = shared / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml"
    request = PowderRequest(str(fc), "", template=TemplateRequest(
        instrument="ARCS", ei=80.0, temperature=300.0, template=measured),
        sampling=PowderSampling(1, 50), grid=8)
    return measured, simulate_powder(request)


@pytest.fixture(scope="module")
def replay(maps):
    """Rows of CompareWithSimulation's table per chunk, and the true scale and background."""
    measured, simulated = maps
    truth = compare(simulated, measured)
    use = truth.compared & (measured.variance > 0)
    per_unit = float(np.median(measured.signal[use] / measured.variance[use]))  # counts / unit
    covered = ~(measured.mask | simulated.mask)
    intensity = np.where(covered, truth.scale * simulated.signal + truth.background, 0.0)
    chunks = accumulating_chunks(per_unit * intensity, N_CHUNKS, np.random.default_rng(2026))
    rows = []
    for k, counts in enumerate(chunks):
        chunk = counts_histogram(measured, counts, per_unit * (k + 1) / N_CHUNKS)
        table = run_algorithm("CompareWithSimulation", InputWorkspace=chunk,
                              SimulationWorkspace=simulated, OutputWorkspace=f"residual_{k}",
                              OutputTable=f"fit_{k}")["OutputTable"]
        rows.append({row["Name"]: (row["Value"], row["Error"])
                     for row in map(table.row, range(table.rowCount()))})
    return rows, truth


def _column(rows, name, part=0):
    return np.array([row[name][part] for row in rows])


def test_correlation_rises_to_the_full_run_value(replay):
    """Pearson r never drops by more than 0.002 between chunks and gains > 0.01 over the run.

    Nested chunks share their counts, so r moves smoothly: measured 0.9775 -> 0.9977, every
    step a rise (0.011 down to 0.0003); 0.002 leaves room for a different random stream.
    """
    rows, _ = replay
    r = _column(rows, "PearsonR")
    assert (np.diff(r) > -0.002).all(), r
    assert r[-1] - r[0] > 0.01, r
    assert np.abs(r[-1] - r).argmax() == 0  # the first chunk is the farthest from the run


def test_scale_converges_to_the_truth_within_its_error(replay):
    """Each chunk's scale lies within 4 sigma of the true one (p < 1e-4 per chunk by chance)."""
    rows, truth = replay
    scale, sigma = _column(rows, "Scale"), _column(rows, "Scale", 1)
    assert (np.abs(scale - truth.scale) < 4 * sigma).all(), (scale, sigma, truth.scale)
    background, b_sigma = _column(rows, "Background"), _column(rows, "Background", 1)
    assert (np.abs(background - truth.background) < 4 * b_sigma).all()


def test_scale_error_shrinks_as_one_over_root_counts(replay):
    """sigma(scale) of the first chunk / of the whole run = sqrt(10) within 30 %."""
    rows, _ = replay
    sigma = _column(rows, "Scale", 1)
    assert (np.diff(sigma) < 0).all(), sigma
    assert sigma[0] / sigma[-1] == pytest.approx(np.sqrt(N_CHUNKS), rel=0.3)
    assert (_column(rows, "NBins") == rows[0]["NBins"][0]).all()


def test_chunks_are_nested_poisson_draws():
    """Chunks never decrease, end at the run's total, and chunk k has mean (k+1)/n of it."""
    expected = np.full((400, 50), 3.0)
    chunks = accumulating_chunks(expected, 4, np.random.default_rng(0))
    assert chunks.shape == (4, 400, 50)
    assert (np.diff(chunks, axis=0) >= 0).all()
    # 20000 bins: the mean of chunk k is known to sqrt(3 (k+1)/4 / 20000) < 0.013
    for k in range(4):
        assert chunks[k].mean() == pytest.approx(3.0 * (k + 1) / 4, abs=0.05)
        assert chunks[k].var() == pytest.approx(3.0 * (k + 1) / 4, rel=0.05)
    with pytest.raises(ValueError, match="finite and >= 0"):
        accumulating_chunks(np.array([1.0, np.nan]), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_chunks must be >= 1"):
        accumulating_chunks(expected, 0, np.random.default_rng(0))
