"""InvertForceConstants (Method=Gradient) on the measured Al map (ARCS, Ei = 80 meV, 300 K).

The reference is the Al DFT file (phonopy_example_Al_ABACUS) simulated with the same settings
(SimulatePowderSQE: every force constant of the file, not only the two fitted shells), with its
own best scale and flat background by the same weighted least squares on the same bins: those
the fit uses, E > EMin = 8 meV and E < EMax = 0.95 Ei (the last covered bins, E = 77.6-78.4
meV, are a reduction artefact 100 x their neighbours; benchmarks/inversion_nmse_floor.py).
Measured (1 torch thread, the algorithm's defaults, Method=Gradient):

=================  =========  ======  ======
map                chi^2/dof  NMSE    r
=================  =========  ======  ======
reference          16.42      0.093   0.962
inverted (fit)     13.33      0.100   0.974
=================  =========  ======  ======

The fit's NMSE is a little above the reference's: the fit minimises the errors-weighted chi^2,
not the unweighted misfit of standardised maps that NMSE measures; NMSE is held to the issue's
target only.
"""

import numpy as np
import pytest
import torch

from inslib.inversion.metrics import nmse, pearson_r
from inslib.inversion.objective import chi_square, used_tensors
from inslib.inversion.request import InversionRequest
from inslib.inversion.run import invert
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

pytestmark = [pytest.mark.validation, pytest.mark.slow]

NMSE_MAX = 0.15  # issue target (measured 0.100)
R_MIN = 0.955  # issue target (measured 0.974)


@pytest.fixture(scope="module")
def simulation(shared):
    """Return the simulation request on the measured map: DFT force constants, defaults."""
    measured = read_histogram_h5(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    fc = shared / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml"
    return PowderRequest(str(fc), template=TemplateRequest(
        instrument="ARCS", ei=80.0, temperature=300.0, template=measured))


@pytest.fixture(scope="module")
def inverted(simulation):
    torch.set_num_threads(1)
    return invert(InversionRequest(simulation, method="Gradient"))


@pytest.fixture(scope="module")
def reference(simulation, inverted):
    """Return chi^2/dof, NMSE and r of the DFT reference on the fit's bins."""
    problem = inverted.fit.problem
    data, weights, index = used_tensors(problem)
    raw = np.nan_to_num(simulate_powder(simulation).signal)
    chi2, nuisance = chi_square(torch.as_tensor(raw.ravel()[index])[None], data, weights)
    model = float(nuisance.scale[0]) * raw + float(nuisance.background[0])
    use = problem.data.use
    return {"reduced_chi2": float(chi2[0]) / (problem.data.n_used - 2),
            "nmse": nmse(model, problem.data.signal, use),
            "r": pearson_r(model, problem.data.signal, use)}


def test_inverted_force_constants_meet_the_issue_targets(inverted):
    figures = inverted.figures
    assert figures.n_bins > 6000  # measured 6337
    assert figures.nmse <= NMSE_MAX
    assert figures.pearson_r >= R_MIN


def test_the_fit_is_at_least_as_good_as_the_reference(inverted, reference):
    assert inverted.fit.reduced_chi2 <= reference["reduced_chi2"]  # 13.33 vs 16.42
    assert inverted.figures.pearson_r >= reference["r"]  # 0.974 vs 0.962
