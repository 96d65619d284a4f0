"""InvertForceConstants on a single-crystal q-path map, through the algorithm.

SimulateSingleCrystalSQE makes the map of Ge (pathSQE force constants, 2 shells) from a known,
perturbed parameter set written as a phonopy.yaml; InvertForceConstants, given the reference
force constants, must find that set again. The q-path output is in the model's own cell (no
fold symmetry), so the forward model reproduces its bins exactly: the only error is the random
sampling of the path bins (4 points per bin, measured: up to 3.7 % of |reference|,
tests/unit/inversion/test_path_inversion.py).
"""

import numpy as np
import pytest

from inslib.inversion.metrics import r_squared
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

PATH = {"QPath": "G-X-W-K-G-L", "EnergyResolution": 2.0, "Temperature": 100.0,
        "MeshSize": 6, "SamplesPerBin": 4}


@pytest.fixture(scope="module")
def truth_and_map(ge_files, tmp_path_factory):
    from inslib.phonons.force_constants import to_primitive
    from inslib.simulation.setup import read_force_constants, reference_basis

    files = ge_files["ForceConstantsFile"], ge_files["StructureFile"]
    basis = reference_basis(files[0], 2, files[1])
    fcs = read_force_constants(*files)
    truth = basis.project(fcs)[0][0] * np.random.default_rng(3).uniform(0.85, 1.15,
                                                                          basis.n_params)
    path = tmp_path_factory.mktemp("ge") / "truth.yaml"
    basis.force_constants(truth, like=to_primitive(fcs)).save_phonopy_yaml(path)
    out = run_algorithm("SimulateSingleCrystalSQE", ForceConstantsFile=str(path),
                        Dimension3Binning="0,1,40", PathStep=0.1, OutputWorkspace="map",
                        **PATH)
    measured = out["OutputWorkspace"]
    return truth, measured


def test_the_algorithm_inverts_a_qpath_map(ge_files, truth_and_map):
    truth, measured = truth_and_map
    errors = np.maximum(0.02 * np.nanmax(measured.signal), 1e-12)
    weighted = measured.__class__(measured.axes, measured.signal,
                                  np.full(measured.shape, errors**2), measured.mask,
                                  measured.metadata, y_unit_label=measured.y_unit_label)
    out = run_algorithm("InvertForceConstants", InputWorkspace=weighted,
                        OutputWorkspace="fit", OutputParameterTable="params", EMin=3.0,
                        Method="Gradient", Starts=2, **ge_files, **PATH)
    table = out["OutputParameterTable"]
    n = len(truth)
    values = np.array(table.column("Value")[:n])
    r2 = r_squared(values, truth)
    # random q-points of the path bins differ between map and model: measured R^2 0.99998 and
    # errors up to 0.014 eV/A^2 (0.5 % of the largest parameter, 6 % of the smallest)
    assert r2 > 0.999
    assert np.max(np.abs(values - truth)) < 0.03
    assert out["OutputWorkspace"].axes[0].unit == "Path"


def test_supercell_matrix_reaches_the_inversion(ge_files, truth_and_map):
    from inslib.inversion.request import parameter_names

    files = ge_files["ForceConstantsFile"], ge_files["StructureFile"]
    # the pathSQE FORCE_CONSTANTS is 4x4x4: the right DIM gives the same parameters
    assert (parameter_names(files[0], 2, files[1], "4,4,4")
            == parameter_names(files[0], 2, files[1]))
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("InvertForceConstants", InputWorkspace=truth_and_map[1],
                      OutputWorkspace="fit", Method="Gradient", SupercellMatrix="3,3,3",
                      **ge_files, **PATH)
    assert "27 cells" in info.value.errors["SupercellMatrix"]
