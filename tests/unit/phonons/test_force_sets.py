"""ForceConstantsFile = a phonopy FORCE_SETS file or a phonopy calculation folder.

Data: phonopy's own examples (phonopy/phonopy @ 3a3e0f09 example/, BSD-3), copied under
tests/data/shared/force_constants/: Al (ABACUS: FORCE_SETS, phonopy_disp.yaml, phonopy.yaml),
NaCl (VASP: FORCE_SETS, phonopy_disp.yaml, POSCAR-unitcell, BORN) and Si (VASP: FORCE_SETS,
POSCAR-unitcell). Each test copies the files it needs into a temporary folder.
"""

import shutil

import numpy as np
import pytest

from inslib.phonons.force_constants import (
    ForceConstantsError,
    file_crystal,
    force_constants_file,
    force_constants_kind,
    load_force_constants,
    to_primitive,
)
from inslib.phonons.model import PhononModel
from inslib.simulation.requests import file_errors

DATA = "tests/data/shared/force_constants/"
AL, NACL, SI = (DATA + f"phonopy_example_{name}/" for name in ("Al_ABACUS", "NaCl", "Si"))
# fractional q of phonopy's primitive cell, away from Gamma (no non-analytic term)
Q = np.array([[0.5, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.1, 0.3], [0.5, 0.25, 0.75]])


def folder(tmp_path, source: str, *names: str):
    """Copy ``names`` from ``source`` into ``tmp_path``; return ``tmp_path``."""
    for name in names:
        shutil.copy(source + name, tmp_path / name)
    return tmp_path


def frequencies(fcs, q_cartesian) -> np.ndarray:
    """Mode energies (meV) at Cartesian q (1/Angstrom without 2 pi)."""
    return PhononModel(fcs).modes(q_cartesian @ fcs.crystal.cell.T).frequencies[0].numpy()


def test_force_sets_with_phonopy_disp_yaml_matches_phonopy_yaml(tmp_path):
    """FORCE_SETS + phonopy_disp.yaml give the frequencies of the run's phonopy.yaml."""
    reference = load_force_constants(AL + "phonopy.yaml")
    path = folder(tmp_path, AL, "FORCE_SETS", "phonopy_disp.yaml") / "FORCE_SETS"
    assert force_constants_kind(path) == "force_sets"
    fcs = load_force_constants(path)
    q = Q @ np.linalg.inv(reference.crystal.cell).T
    expected = frequencies(reference, q)
    assert expected.max() > 30  # meV: Al's longitudinal branch at the zone boundary
    np.testing.assert_allclose(frequencies(fcs, q), expected, rtol=0, atol=1e-6)
    assert file_crystal(path).n_atoms == 4  # the unit cell of phonopy_disp.yaml


def test_force_sets_with_unit_cell_and_born_matches_phonopy_disp_yaml(tmp_path):
    """FORCE_SETS + POSCAR-unitcell + BORN + SupercellMatrix: phonopy's frequencies.

    The reference is phonopy_disp.yaml of the same run (phonopy's primitive cell); the
    FORCE_SETS route works on the 8-atom unit cell, folded to its primitive cell and compared
    at the same Cartesian q. Measured difference 0.001 meV (symmetrisation differs).
    """
    reference = load_force_constants(NACL + "phonopy_disp.yaml")
    path = folder(tmp_path, NACL, "FORCE_SETS", "POSCAR-unitcell", "BORN") / "FORCE_SETS"
    fcs = load_force_constants(path, supercell="2,2,2")
    assert fcs.crystal.n_atoms == 8
    assert fcs.has_born
    assert fcs.sc_matrix.tolist() == np.diag([2, 2, 2]).tolist()
    q = Q @ np.linalg.inv(reference.crystal.cell).T
    np.testing.assert_allclose(frequencies(to_primitive(fcs), q), frequencies(reference, q),
                               rtol=0, atol=0.01)
    assert file_errors(str(path), "", "2,2,2") == {}


def test_folder_picks_files_in_documented_order(tmp_path):
    """phonopy_params.yaml > phonopy.yaml > phonopy_disp.yaml > FORCE_SETS > FORCE_CONSTANTS."""
    folder(tmp_path, AL, "FORCE_SETS", "phonopy_disp.yaml", "phonopy.yaml")
    assert force_constants_file(tmp_path).name == "phonopy.yaml"
    (tmp_path / "phonopy.yaml").unlink()
    assert force_constants_file(tmp_path).name == "phonopy_disp.yaml"
    (tmp_path / "phonopy_disp.yaml").unlink()
    assert force_constants_file(tmp_path).name == "FORCE_SETS"
    (tmp_path / "FORCE_SETS").unlink()
    with pytest.raises(ForceConstantsError, match=r"looked for phonopy_params\.yaml"):
        force_constants_file(tmp_path)
    assert "ForceConstantsFile" in file_errors(str(tmp_path), "", "")


def test_folder_with_force_sets_and_unit_cell_is_read(tmp_path):
    """A VASP run folder (FORCE_SETS, POSCAR-unitcell): supercell from the atom counts."""
    folder(tmp_path, SI, "FORCE_SETS", "POSCAR-unitcell")
    assert file_errors(str(tmp_path), "", "") == {}
    fcs = load_force_constants(tmp_path)
    assert fcs.crystal.n_atoms == 8
    assert fcs.sc_matrix.tolist() == np.diag([2, 2, 2]).tolist()
    assert file_crystal(tmp_path).n_atoms == 8
    freqs = frequencies(fcs, np.array([[0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(freqs[0, :3], 0, atol=1e-3)  # acoustic modes at Gamma, meV


def test_missing_companions_are_named(tmp_path):
    path = folder(tmp_path, NACL, "FORCE_SETS") / "FORCE_SETS"
    pattern = r"ForceConstantsFile 'FORCE_SETS'.*phonopy_disp\.yaml, POSCAR-unitcell, POSCAR"
    with pytest.raises(ForceConstantsError, match=pattern):
        load_force_constants(path)
    message = file_errors(str(path), "", "")["ForceConstantsFile"]
    assert "StructureFile" in message
    assert "SupercellMatrix" in message


def test_supercell_that_does_not_fit_is_named(tmp_path):
    path = folder(tmp_path, NACL, "FORCE_SETS", "POSCAR-unitcell") / "FORCE_SETS"
    errors = file_errors(str(path), "", "3,3,3")
    assert set(errors) == {"SupercellMatrix"}
    assert "64 supercell atoms" in errors["SupercellMatrix"]
    folder(tmp_path, NACL, "phonopy_disp.yaml")
    errors = file_errors(str(path), "", "2,2,2")
    assert "phonopy_disp.yaml beside" in errors["SupercellMatrix"]


def test_phonopy_disp_yaml_with_code_tags_is_not_read(tmp_path):
    """The YAML beside FORCE_SETS goes through the safe-YAML check before phonopy reads it."""
    path = folder(tmp_path, AL, "FORCE_SETS") / "FORCE_SETS"
    (tmp_path / "phonopy_disp.yaml").write_text(
        "unit_cell: !!python/object/apply:os.system ['echo unsafe']\n")
    with pytest.raises(ForceConstantsError, match="is not plain YAML"):
        load_force_constants(path)
    assert "not plain YAML" in file_errors(str(path), "", "")["ForceConstantsFile"]
