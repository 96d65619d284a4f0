"""Force constants from the offline universal force field (sevenn 7net-0) on fcc Al.

The 2x2x2 conventional supercell (32 atoms, one displacement) is the DFT reference's own
(tests/data/Al_phonopy), at the DFT lattice constant, so the two differ by the force field only.
"""

from pathlib import Path

import numpy as np
import pytest

from inslib.phonons import mlff
from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.readers.phonopy import reduce_into_supercell
from inslib.structure import load_structure, symmetry

pytest.importorskip("sevenn")

DFT = Path(__file__).resolve().parents[2] / "data" / "Al_phonopy"
SETTINGS = mlff.MLFFSettings(relax="None", supercell=(2, 0, 0, 0, 2, 0, 0, 0, 2))


@pytest.fixture(scope="module")
def predicted(al_cif, tmp_path_factory):
    """(crystal, cache folder, phonopy.yaml, progress messages) of 7net-0 Al force constants."""
    folder = tmp_path_factory.mktemp("force_fields")
    crystal = load_structure(al_cif)
    seen = []
    path = mlff.predicted_file(crystal, "7net-0", SETTINGS, lambda f, m: seen.append((f, m)),
                               folder=folder)
    return crystal, folder, path, seen


def test_progress_is_reported_over_the_displacements(predicted):
    fractions, messages = zip(*predicted[3], strict=True)
    assert messages == ("7net-0: relaxed (None)", "7net-0: displacement 1 of 1")
    assert fractions == pytest.approx([0.05, 0.95])


def test_force_constants_obey_the_acoustic_sum_rule(predicted):
    fcs = load_force_constants(predicted[2])
    n = fcs.crystal.n_atoms
    total = fcs.fc.sum(axis=0).reshape(n, 3, n, 3).sum(axis=2)  # sum over cells and atoms j
    # symfc imposes the sum rule exactly; the phonopy.yaml keeps 10 decimals (eV/A^2)
    assert np.abs(total).max() < 1e-8 * np.abs(fcs.fc).max() + 1e-9


def test_force_constants_obey_the_point_group(predicted):
    fcs = load_force_constants(predicted[2])
    cell = fcs.crystal.cell
    rotations = symmetry(fcs.crystal).point_group_cartesian(cell)
    assert len(rotations) == 48  # m-3m
    index = {tuple(o): n for n, o in enumerate(fcs.cell_origins)}
    for rotation in rotations:
        moved = np.rint(fcs.cell_origins @ cell @ rotation.T @ np.linalg.inv(cell)).astype(int)
        for n, origin in enumerate(moved):
            m = index[tuple(reduce_into_supercell(origin, fcs.sc_matrix))]
            # Phi(R L) = R Phi(L) R^T, to the 1e-10 eV/A^2 precision of the file
            np.testing.assert_allclose(fcs.fc[m], rotation @ fcs.fc[n] @ rotation.T, atol=1e-8)


def _frequencies_at_x(fcs) -> np.ndarray:
    """Mode energies (meV) at X = (2 pi / a)(1, 0, 0) of a one-atom fcc model, ascending."""
    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel

    model = PhononModel(to_primitive(fcs), device="cpu")
    a = 2 * np.abs(model.crystal.cell).max()
    q_frac = model.crystal.cell @ np.array([1.0 / a, 0, 0])  # a_i . q / (2 pi)
    return model.modes(q_frac[None]).frequencies[0, 0].numpy()


def test_7net0_is_softer_than_dft_at_x_by_the_measured_ratio(predicted):
    predicted_x = _frequencies_at_x(load_force_constants(predicted[2]))
    dft_x = _frequencies_at_x(load_force_constants(DFT))
    ratio = predicted_x / dft_x
    # DFT (ABACUS) at X: TA 23.8 meV, LA 41.2 meV. FIELD_NOTES: 7net-0 is 15-35 % too soft on
    # Al (highest mode 0.73 of DFT's); measured here TA 0.85, LA 0.69. The band 0.6-0.9 holds
    # that softness and fails on a unit error (x 4.14, THz/meV) or a stiffer force field.
    assert dft_x == pytest.approx([23.8, 23.8, 41.2], abs=0.3)
    assert np.all((ratio > 0.6) & (ratio < 0.9))
    assert ratio[2] < ratio[0]  # the longitudinal mode is the softer one


def test_a_second_call_reads_the_cache(predicted, monkeypatch):
    crystal, folder, first, _ = predicted

    def refuse(*_args, **_kwargs):
        msg = "computed again"
        raise AssertionError(msg)

    monkeypatch.setattr(mlff, "compute_force_constants", refuse)
    seen = []
    again = mlff.predicted_file(crystal, "7net-0", SETTINGS, lambda f, m: seen.append(m),
                                folder=folder)
    assert again == first
    assert seen == ["7net-0: force constants from the cache"]
    other = mlff.MLFFSettings(relax="None", supercell=SETTINGS.supercell, displacement=0.02)
    assert mlff.cache_key(crystal, "7net-0", other) != mlff.cache_key(crystal, "7net-0",
                                                                       SETTINGS)
    with pytest.raises(AssertionError, match="computed again"):
        mlff.predicted_file(crystal, "7net-0", other, folder=folder)


def test_automatic_supercell_and_budget(predicted):
    crystal = predicted[0]
    assert mlff.supercell_matrix(crystal, mlff.MLFFSettings()).tolist() == np.diag(
        [3, 3, 3]).tolist()  # 3 x 4.04 A >= 10 A
    assert mlff.budget_problem(crystal, mlff.MLFFSettings()) == ""  # 108 atoms
    big = mlff.MLFFSettings(min_length=20.0)  # 5^3 x 4 = 500 atoms
    assert "500 atoms: at most 400" in mlff.budget_problem(crystal, big)


@pytest.mark.parametrize(("text", "fragment"), [
    ("7net-x", "unknown force field '7net-x'; valid: 7net-0, 7net-l3i5, 7net-mf-0"),
    ("7net-0,7net-0", "names a force field twice"),
    (" , ", "ForceField is empty"),
])
def test_bad_force_field_names_are_refused(text, fragment):
    with pytest.raises(mlff.ForceFieldError, match=fragment):
        mlff.parse_force_fields(text)
