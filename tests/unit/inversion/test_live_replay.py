"""Live replay: InvertForceConstants on 10 chunks of accumulating counts.

Each chunk starts from the previous chunk's parameter table (InitialParameterTable), as a
StartLiveData post-processing script would run it.

The chunks are Poisson thinnings (inslib.replay) of a simulated map on the measured Al map's
bins and mask at a known, softened parameter set, 170 counts per used bin in the whole run (the
real run's level: tests/unit/test_compare_replay.py). References: the truth the map was made
from and Poisson statistics (sigma ~ 1 / sqrt(counts), chi^2/dof ~ 1).
"""

import numpy as np
import pytest

from inslib.io.histogram_h5 import read_histogram_h5
from inslib.replay import accumulating_chunks, counts_histogram
from inslib.runtime.host import run_algorithm

AL_FC = "tests/data/Al_phonopy/phonopy.yaml"
FAST = {"DirectionsPerShell": 20, "MeshSize": 6, "MultiphononOrder": 3, "Starts": 1,
        "Method": "Gradient"}
BASE = {"ForceConstantsFile": AL_FC, "Instrument": "ARCS", "Ei": 80.0, "Temperature": 300.0}
U_TRUE = np.array([0.1, -0.1, 0.05, 0.0, 0.0])  # fit variables: +-10 % and 5 % on the 1NN
COUNTS_PER_BIN = 170.0
N_CHUNKS = 10


def _truth(measured):
    import torch

    from inslib.inversion.build import build_problem
    from inslib.inversion.request import InversionRequest
    from inslib.scattering.powder import PowderSampling
    from inslib.simulation.requests import PowderRequest, TemplateRequest

    simulation = PowderRequest(AL_FC, "", template=TemplateRequest(
        instrument="ARCS", ei=80.0, temperature=300.0, template=measured),
        sampling=PowderSampling(1, 20), grid=6, multiphonon_order=3)
    problem = build_problem(InversionRequest(simulation, fit_resolution=False))
    with torch.no_grad():
        model = problem.spectra(torch.as_tensor(U_TRUE[None]))[0].numpy()
    return problem.params(U_TRUE), model, problem.data.use


@pytest.fixture(scope="module")
def replay():
    measured = read_histogram_h5("tests/data/Al-iqe.h5")
    truth, model, use = _truth(measured)
    per_unit = COUNTS_PER_BIN / model[use].mean()
    chunks = accumulating_chunks(np.where(measured.mask, 0.0, model * per_unit), N_CHUNKS,
                                 np.random.default_rng(1))
    tables, previous = [], {}
    for k, counts in enumerate(chunks):
        chunk = counts_histogram(measured, counts, per_unit * (k + 1) / N_CHUNKS)
        out = run_algorithm("InvertForceConstants", InputWorkspace=chunk, OutputWorkspace="fit",
                            OutputParameterTable="params", **(BASE | FAST | previous))
        previous = {"InitialParameterTable": out["OutputParameterTable"]}
        tables.append(out["OutputParameterTable"])
    return truth, tables


def _column(tables, name):
    return np.array([table.column(name)[:5] for table in tables])


def test_sigmas_shrink_as_one_over_root_counts(replay):
    _, tables = replay
    errors = _column(tables, "Error")
    ratio = errors[0] / errors[-1]
    # Poisson: sqrt(10) = 3.16; 30 % allows for chi^2 scaling of each chunk (measured 3.1-3.4)
    np.testing.assert_allclose(ratio, np.sqrt(N_CHUNKS), rtol=0.3)


def test_estimates_converge_on_the_truth(replay):
    truth, tables = replay
    values, errors = _column(tables, "Value"), _column(tables, "Error")
    pulls = np.abs(values - truth) / errors
    assert np.all(pulls[-1] < 3.0)  # the whole run: within 3 sigma of the truth
    # later chunks move less than the early ones
    steps = np.abs(np.diff(values, axis=0)).sum(axis=1)
    assert steps[-3:].mean() < steps[:3].mean()


def test_chi_square_per_dof_is_poisson(replay):
    _, tables = replay
    chi2 = np.array([table.column("Value")[-1] for table in tables])
    # Poisson with sigma^2 = observed counts (170 per bin in the whole run): 1 +- a few %;
    # 0.9-1.1 bounds a model error, which would show as a growing chi^2/dof
    assert np.all((chi2 > 0.9) & (chi2 < 1.1))
