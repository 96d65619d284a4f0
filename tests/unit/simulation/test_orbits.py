"""Symmetry-equivalent atoms: incoherent terms once per orbit; isotopes kept apart.

Reference: the same forward models with every atom its own orbit (the per-atom sum).
Equivalent atoms share u^2 (the Debye-Waller matrices are symmetrised) and, where the mesh has
the crystal's symmetry (cubic Ge), their partial DOS to 1e-16: there the orbit sum equals the
atom sum to round-off (measured 4e-16 of the maximum). Quartz's hexagonal lattice maps the
Monkhorst-Pack mesh onto another one, so its equivalent atoms' DOS differ by 1e-3 of their
maximum; the one-phonon term is linear in them and the orbit average changes only the
multiphonon terms, by 5e-9 of the maximum (measured; 1e-7 allowed).
"""

import numpy as np
import pytest
import torch

from inslib.phonons.force_constants import load_force_constants, to_primitive
from inslib.phonons.model import PhononModel
from inslib.scattering.binning import Resolution
from inslib.simulation.forward import IndirectForward, Multiphonon, Orbits, PowderForward, Thermal

GE = "tests/data/shared/force_constants/pathSQE_Ge_ARCS/"
QUARTZ = "tests/data/shared/reference_outputs/euphonic/force_constants/quartz_force_constants.json"


def _model(name):
    fc = (load_force_constants(GE + "FORCE_CONSTANTS", GE + "POSCAR") if name == "Ge"
          else load_force_constants(QUARTZ))
    return PhononModel(to_primitive(fc))


def _both(forward, call):
    """Return the result with the crystal's orbits and with every atom its own orbit."""
    n = forward.model.n_atoms
    with torch.no_grad():
        grouped = call(forward).numpy()
        forward.orbits = Orbits(np.eye(n), np.ones(n))
        alone = call(forward).numpy()
    return grouped, alone


@pytest.mark.parametrize(("name", "n_orbits", "rtol"), [("Ge", 1, 1e-12), ("quartz", 2, 1e-7)])
def test_orbit_sums_equal_atom_sums(name, n_orbits, rtol):
    model = _model(name)
    edges = np.linspace(-20.0, 150.0, 86)
    multiphonon = Multiphonon(edges, Resolution.constant(2.0), 4)
    thermal = Thermal(300.0, 8)
    mesh = thermal.mesh(model)
    powder = PowderForward(model, np.linspace(0.0, 10.0, 11), np.zeros((10, 85), bool),
                           thermal, multiphonon, coherent=False)
    assert len(powder.orbits.size) == n_orbits
    assert powder.orbits.size.sum() == model.n_atoms
    grouped, alone = _both(powder, lambda f: f.incoherent_terms(mesh))
    np.testing.assert_allclose(grouped, alone, rtol=0, atol=rtol * alone.max())
    indirect = IndirectForward(model, thermal, multiphonon, 3.5, np.array([45.0, 135.0]))
    grouped, alone = _both(indirect, lambda f: f(mesh=mesh))
    np.testing.assert_allclose(grouped, alone, rtol=0, atol=rtol * alone.max())


def test_atoms_of_other_masses_are_not_grouped():
    """A heavier isotope on one of Ge's two equivalent sites makes its own orbit.

    spglib sees element numbers only; the isotope's DOS and u^2 differ.
    """
    import dataclasses

    crystal = _model("Ge").crystal
    assert len(Orbits.of(crystal).size) == 1
    masses = crystal.masses.copy()
    masses[0] *= 1.05
    assert Orbits.of(dataclasses.replace(crystal, masses=masses)).size.tolist() == [1, 1]


def test_debye_waller_symmetrisation_keeps_an_isotope_its_own():
    """A 1.5 x heavier isotope on one of Ge's two equivalent sites keeps its own u^2.

    Reference: the mesh's sums without symmetrisation. The operations kept map each atom onto
    itself, and rotations keep a trace: each atom's tr(W) (u^2 = 2 tr(W) / 3) must equal the
    raw sum's to round-off (the off-diagonal terms the shifted mesh leaves, 5e-5 A^2, are what
    the site symmetry removes). Averaging over every space-group operation had given both
    atoms the mean (u^2 0.00655 A^2 each, against 0.00652 and 0.00658); the heavier atom's
    zero-point motion is the smaller.
    """
    import dataclasses

    from inslib.scattering.thermal import debye_waller

    fc = to_primitive(load_force_constants(GE + "FORCE_CONSTANTS", GE + "POSCAR"))
    masses = fc.crystal.masses.copy()
    masses[0] *= 1.5
    model = PhononModel(dataclasses.replace(fc, crystal=dataclasses.replace(fc.crystal,
                                                                            masses=masses)))
    with torch.no_grad():
        symmetric, raw = (debye_waller(model, 300.0, (8, 8, 8), symmetrise=flag)[0].numpy()
                          for flag in (True, False))
    msd = np.trace(symmetric, axis1=1, axis2=2)
    np.testing.assert_allclose(msd, np.trace(raw, axis1=1, axis2=2), rtol=1e-12)
    assert msd[0] < 0.995 * msd[1]


def test_an_isotope_lowers_the_space_group_and_survives_standardisation():
    """Ge with a heavier isotope on one site: F-43m (24 operations), not Fd-3m (48).

    The symmetry behind the powder wedge, the Debye-Waller symmetrisation and the orbits is the
    labelled crystal's; spglib's standardised cells keep each atom's symbol and mass.
    """
    import dataclasses

    from inslib.structure import conventional, symmetry

    crystal = _model("Ge").crystal
    masses = crystal.masses.copy()
    masses[0] *= 1.5
    isotope = dataclasses.replace(crystal, masses=masses)
    assert (symmetry(crystal).number, len(symmetry(crystal).rotations)) == (227, 48)
    assert (symmetry(isotope).number, len(symmetry(isotope).rotations)) == (216, 24)
    cell = conventional(isotope)
    assert sorted(np.round(cell.masses, 6).tolist()) == sorted(
        np.round(np.repeat(masses, 4), 6).tolist())
    assert set(cell.symbols) == {"Ge"}
