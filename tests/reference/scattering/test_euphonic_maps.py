"""euphonic 2.1.1's stored S(Q,E) maps: Bose-factor maps and kinematic-constraint masks."""

import json

import numpy as np
import pytest
import torch

from inslib.axes import points_to_edges
from inslib.instruments.kinematics import coverage
from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.model import PhononModel
from inslib.scattering.binning import Resolution
from inslib.simulation.forward import RowsForward, Thermal
from inslib.units import to_mev

pytestmark = pytest.mark.reference


def _ref(shared, *parts):
    path = shared.joinpath("reference_outputs", "euphonic", *parts)
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", ["CaHgO2_300K_bose_sqw", "CaHgO2_300K_bose_negative_e_sqw"])
def test_bose_factor_maps(shared, name):
    """Per-q S(E) histograms with the Bose factor (both signs of E).

    Cumulative sums along E agree within 2 % of each q-point's total (a mode 0.008 meV away
    may cross a bin edge; intensities agree to 1.3 %).
    """
    ref = _ref(shared, "spectrum2d", f"{name}.json")
    sf = _ref(shared, "structure_factor", "CaHgO2_300K_fc_structure_factor.json")
    unit = ref["y_data_unit"]
    scale = {"terahertz": to_mev(1.0, "THz"), "millielectron_volt": 1.0}[unit]
    edges = np.array(ref["y_data"]) * scale
    theirs = np.array(ref["z_data"]) / scale  # per meV
    path = shared / "reference_outputs" / "euphonic" / "phonopy_files" / "CaHgO2"
    model = PhononModel(load_force_constants(path / "mp-7041-20180417.yaml"), asr=False)
    dw = torch.tensor(_ref(shared, "debye_waller", "CaHgO2_666_300K_debye_waller.json")
                      ["debye_waller"], dtype=torch.float64)[None]
    q = np.array(sf["qpts"])
    ours = RowsForward(model, q, np.arange(len(q)), len(q), 1.0, edges, Resolution.constant(0.0),
                       Thermal(300.0))(dw=dw)[0].numpy()
    widths = np.diff(edges)
    for row_ours, row_theirs in zip(ours[1:], theirs[1:], strict=True):  # row 0: Gamma
        total = np.sum(row_theirs * widths)
        drift = np.cumsum((row_ours - row_theirs) * widths)
        assert np.max(np.abs(drift)) < 0.02 * total


CONSTRAINTS = [
    ("NaCl_constrained_ei_30_meV_angle_-20_30", "direct", 30.0, [[0.0, 30.0]]),
    ("NaCl_constrained_ef_32_cm_angle_45_135", "indirect", to_mev(32.0, "cm^-1"), [[45.0, 135.0]]),
    ("NaCl_constrained_ei_100_cm_angle_20_275", "direct", to_mev(100.0, "cm^-1"),
     [[20.0, 180.0]]),
    ("NaCl_constrained_ei_300_cm", "direct", to_mev(300.0, "cm^-1"), [[0.0, 180.0]]),
]


@pytest.mark.parametrize(("name", "geometry", "fixed", "banks"), CONSTRAINTS)
def test_kinematic_masks(shared, name, geometry, fixed, banks):
    """Every bin euphonic keeps is covered by our exact region (bins around its |Q| points).

    The few more we keep (our rule keeps any bin the region overlaps, euphonic tests points)
    all lie on the edge of our region. Angles -20..30 and 20..275 deg fold onto 0..30 and
    20..180 deg.
    """
    ref = _ref(shared, "spectrum2d", f"{name}.json")
    q = np.array(ref["x_data"])
    e_edges = to_mev(np.array(ref["y_data"]), "cm^-1")
    theirs = np.isfinite(np.array(ref["z_data"], dtype=float))
    ours = coverage(points_to_edges(q), e_edges, fixed, geometry, np.array(banks))
    assert not np.any(theirs & ~ours)
    extra = np.argwhere(ours & ~theirs)
    padded = np.pad(ours, 1, constant_values=False)
    for i, j in extra:
        assert not padded[i:i + 3, j:j + 3].all()  # a neighbour is outside our region
    assert len(extra) <= 0.08 * theirs.sum()
