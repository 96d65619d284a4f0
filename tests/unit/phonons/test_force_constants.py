"""ForceConstants: checked on construction, plain-dict round trip, phonopy.yaml round trip."""

from dataclasses import replace

import numpy as np
import pytest

from inslib.phonons.force_constants import (
    ForceConstants,
    ForceConstantsError,
    load_force_constants,
    to_primitive,
)

AL = "tests/data/Al_phonopy/phonopy.yaml"


@pytest.fixture(scope="module")
def al():
    return to_primitive(load_force_constants(AL))


def test_dict_round_trip_is_exact(al):
    data = al.to_dict()
    back = ForceConstants.from_dict({k: v.tolist() if isinstance(v, np.ndarray) else v
                                     for k, v in data.items()})
    for key, value in back.to_dict().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, data[key])
        else:
            assert value == data[key]
    assert back.digest() == al.digest()


@pytest.mark.parametrize(("change", "fragment"), [
    ({"fc": np.zeros((32, 6, 6))}, "ForceConstants.fc: got (32, 6, 6); expected shape"),
    ({"cell_origins": np.zeros((1, 3))}, "ForceConstants.cell_origins"),
    ({"sc_matrix": np.zeros((3, 3))}, "det != 0"),
])
def test_malformed_fields_are_named(al, change, fragment):
    with pytest.raises(ForceConstantsError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        replace(al, **change)


def test_non_finite_and_massless_are_refused(al):
    fc = al.fc.copy()
    fc[0, 0, 0] = np.nan
    with pytest.raises(ForceConstantsError, match="1 non-finite values"):
        replace(al, fc=fc)
    data = al.to_dict() | {"masses": -al.crystal.masses}
    with pytest.raises(ForceConstantsError, match="positive atomic masses in amu"):
        ForceConstants.from_dict(data)


def test_phonopy_yaml_round_trip(al, tmp_path):
    """Written as phonopy.yaml, read back by phonopy itself and by our reader: same numbers."""
    import phonopy

    path = al.save_phonopy_yaml(tmp_path / "phonopy.yaml")
    phonon = phonopy.load(str(path), produce_fc=False, log_level=0)
    n_super = len(phonon.supercell)
    assert phonon.force_constants.shape[-2:] == (3, 3)
    assert phonon.force_constants.shape[1] == n_super
    back = load_force_constants(path)
    assert back.crystal.n_atoms == al.crystal.n_atoms
    np.testing.assert_allclose(back.crystal.cell, al.crystal.cell, atol=1e-10)
    order = {tuple(o): n for n, o in enumerate(back.cell_origins)}
    from inslib.phonons.readers.phonopy import reduce_into_supercell

    mapped = [order[tuple(reduce_into_supercell(o, back.sc_matrix))] for o in al.cell_origins]
    np.testing.assert_allclose(back.fc[mapped], al.fc, atol=1e-8 * np.abs(al.fc).max())


def test_phonopy_yaml_round_trip_with_a_sheared_supercell(tmp_path):
    """A supercell matrix that is not symmetric survives the round trip (phonopy's M is ours^T).

    The record's monoclinic FeKO2 (C2/c) has sc_matrix [[-2,0,-2],[0,-2,-2],[0,0,4]]; written
    with the matrix untransposed, phonopy built another supercell and 11 of its 16 cells got
    the wrong force constants (1692 imaginary modes on an 8^3 mesh).
    """
    from inslib.ml.records import load_record
    from inslib.phonons.model import PhononModel

    record = load_record("data/predict/7net-0/records/0cbcfb99cff11cd7.npz.xz")
    fcs = record.force_constants
    assert not np.array_equal(fcs.sc_matrix, fcs.sc_matrix.T)
    back = load_force_constants(fcs.save_phonopy_yaml(tmp_path / "phonopy.yaml"))
    np.testing.assert_array_equal(back.sc_matrix, fcs.sc_matrix)
    q = np.random.default_rng(0).random((20, 3))
    np.testing.assert_allclose(PhononModel(back).modes(q).frequencies,
                               PhononModel(fcs).modes(q).frequencies, atol=1e-6)
