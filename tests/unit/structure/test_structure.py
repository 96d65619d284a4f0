"""Structure input: validated crystals, symmetry, q-paths and clear refusals."""

import numpy as np
import pytest

from inslib.phonons.force_constants import ForceConstantsError, check_matches, load_force_constants
from inslib.structure import (
    StructureError,
    conventional,
    load_structure,
    primitive,
    seekpath_path,
    symmetry,
)

GE_CIF = """data_Ge
_symmetry_space_group_name_H-M 'F d -3 m'
_symmetry_Int_Tables_number 227
_cell_length_a 5.6575
_cell_length_b 5.6575
_cell_length_c 5.6575
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Ge1 Ge 0 0 0 {occ}
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cif_symmetry_cells_and_path(tmp_path):
    crystal = load_structure(_write(tmp_path, "ge.cif", GE_CIF.format(occ="1.0")))
    assert crystal.n_atoms == 8
    sym = symmetry(crystal)
    assert (sym.number, sym.symbol) == (227, "Fd-3m")
    assert len(sym.point_group_cartesian(crystal.cell)) == 48
    prim = primitive(crystal)
    assert prim.n_atoms == 2
    assert np.isclose(prim.volume, crystal.volume / 4)
    assert conventional(prim).n_atoms == 8
    path = seekpath_path(prim)
    assert path.segments[0] == ("G", "X")
    np.testing.assert_allclose(path.points["G"], 0.0)
    # X of fcc is half a reciprocal vector of the conventional cube: |X| = 2 pi / a
    x = path.points["X"] @ prim.reciprocal
    assert np.isclose(np.linalg.norm(x), 2 * np.pi / 5.6575)


def test_scattering_data_from_periodictable(tmp_path):
    crystal = load_structure(_write(tmp_path, "ge.cif", GE_CIF.format(occ="1.0")))
    # Sears (1992) values: Ge b_coh = 8.185 fm, sigma_inc = 0.18 barn; mass 72.63 amu
    assert np.allclose(crystal.scattering["b_coh"], 8.185)
    assert np.allclose(crystal.scattering["sigma_inc"], 0.18)
    assert np.allclose(crystal.masses, 72.63, atol=0.01)


def test_partial_occupancy_refused_with_advice(tmp_path):
    with pytest.raises(StructureError, match=r"fractional site occupancies.*ordered supercell"):
        load_structure(_write(tmp_path, "ge.cif", GE_CIF.format(occ="0.5")))


def test_overlapping_atoms_refused(tmp_path):
    poscar = "Si\n1.0\n5 0 0\n0 5 0\n0 0 5\nSi\n2\nDirect\n0 0 0\n0.01 0 0\n"
    with pytest.raises(StructureError, match=r"0\.050 A apart"):
        load_structure(_write(tmp_path, "POSCAR", poscar))


def test_unknown_element_and_empty_file(tmp_path):
    poscar = "X\n1.0\n5 0 0\n0 5 0\n0 0 5\nXx\n1\nDirect\n0 0 0\n"
    with pytest.raises(StructureError):
        load_structure(_write(tmp_path, "POSCAR", poscar))
    with pytest.raises(StructureError, match="is empty"):
        load_structure(_write(tmp_path, "empty.cif", ""))
    with pytest.raises(StructureError, match="does not exist"):
        load_structure(tmp_path / "missing.cif")


def test_structure_must_match_force_constants(shared, tmp_path):
    base = shared / "force_constants" / "pathSQE_Ge_ARCS"
    fcs = load_force_constants(base / "FORCE_CONSTANTS", structure=base / "POSCAR")
    assert fcs.crystal.n_atoms == 2
    conventional_ge = load_structure(_write(tmp_path, "ge.cif", GE_CIF.format(occ="1.0")))
    with pytest.raises(StructureError, match="8 atoms but the force constants are for 2"):
        check_matches(fcs, conventional_ge)
    si = load_structure(base / "POSCAR")
    si.symbols = ["Si", "Si"]
    with pytest.raises(StructureError, match="species"):
        check_matches(fcs, si)
    with pytest.raises(ForceConstantsError, match="give StructureFile"):
        load_force_constants(base / "FORCE_CONSTANTS")
