"""Physics invariants of the forward model and an independent check against phonopy itself."""

import numpy as np
import pytest
import torch

from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.images import image_table
from inslib.phonons.model import PhononModel
from inslib.scattering.coherent import coherent_structure_factor
from inslib.scattering.thermal import debye_waller
from inslib.structure import symmetry


@pytest.fixture(scope="module")
def ge(ge_files):
    return load_force_constants(ge_files["ForceConstantsFile"],
                                structure=ge_files["StructureFile"])


@pytest.fixture(scope="module")
def nacl(shared):
    base = shared / "force_constants" / "phonopy_example_NaCl"
    return load_force_constants(base / "phonopy_disp.yaml")


def test_image_weights_cover_every_pair_once(ge):
    fcs = ge
    table = image_table(fcs.crystal.cell, fcs.crystal.positions, fcs.cell_origins, fcs.sc_matrix)
    total = np.zeros((len(fcs.cell_origins), fcs.crystal.n_atoms, fcs.crystal.n_atoms))
    np.add.at(total, (table.cell, table.atom_i, table.atom_j), table.weight)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize("name", ["ge", "nacl"])
def test_acoustic_sum_rule(name, request):
    """With the sum rule imposed, the three acoustic modes at Gamma are zero (1e-3 meV)."""
    fcs = request.getfixturevalue(name)
    freqs = PhononModel(fcs, asr=True).modes(np.zeros((1, 3))).frequencies[0, 0].numpy()
    assert np.max(np.abs(freqs[:3])) < 1e-3
    assert freqs[3] > 1.0


def test_dynamical_matrix_hermitian_and_periodic(nacl):
    model = PhononModel(nacl)
    q = np.array([[0.13, 0.27, -0.41]])
    d1 = model.dynamical_matrix(q)[0, 0]
    d2 = model.dynamical_matrix(q + np.array([[1.0, -2.0, 3.0]]))[0, 0]
    torch.testing.assert_close(d1, d1.conj().T)
    torch.testing.assert_close(d1, d2, rtol=1e-10, atol=1e-10)


def test_nacl_with_born_charges_matches_phonopy(shared, nacl):
    """Independent engine: phonopy's own NAC (Gonze) frequencies, 0.01 meV, away from Gamma."""
    import phonopy

    base = shared / "force_constants" / "phonopy_example_NaCl"
    phonon = phonopy.load(str(base / "phonopy_disp.yaml"),
                          force_sets_filename=str(base / "FORCE_SETS"),
                          born_filename=str(base / "BORN"), primitive_matrix="auto", log_level=0)
    q = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.5, 0.0, 0.5], [0.05, 0.0, 0.0]])
    phonon.run_qpoints(q)
    theirs = phonon.qpoints.frequencies * 4.135667696  # THz -> meV
    ours = PhononModel(nacl, asr=False).modes(q).frequencies[0].numpy()
    assert nacl.has_born
    assert np.max(np.abs(ours - theirs)) < 0.01


def test_batched_force_constant_sets(ge):
    """Scaling all force constants by s scales every frequency by sqrt(s); one batched call."""
    model = PhononModel(ge)
    q = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.0]])
    fc = torch.stack([model.fc, 1.21 * model.fc])
    freqs = model.modes(q, fc).frequencies
    torch.testing.assert_close(freqs[1], 1.1 * freqs[0], rtol=1e-10, atol=1e-8)


def test_gradient_with_respect_to_force_constants(ge):
    """Autograd gradient of a mode energy equals a central finite difference (relative 1e-6)."""
    model = PhononModel(ge)
    q = np.array([[0.2, 0.1, 0.05]])
    fc = model.fc.clone()[None].requires_grad_(True)
    energy = model.modes(q, fc).frequencies[0, 0, 4]
    energy.backward()
    direction = torch.randn(fc.shape, generator=torch.Generator().manual_seed(1), dtype=fc.dtype)
    direction = direction + direction.transpose(-1, -2)
    direction = direction / torch.linalg.norm(direction)
    step = 1e-5  # eV/A^2 along a unit direction; central-difference error ~ step^2 (~1e-9 here)
    with torch.no_grad():
        plus = model.modes(q, fc + step * direction).frequencies[0, 0, 4]
        minus = model.modes(q, fc - step * direction).frequencies[0, 0, 4]
    numeric = (plus - minus) / (2 * step)
    analytic = torch.sum(fc.grad * direction)
    assert abs(float(numeric - analytic)) < 1e-6 * abs(float(numeric)) + 1e-9


def test_structure_factor_invariant_under_point_group(ge):
    """S(RQ, E) = S(Q, E) for every operation of m-3m (DW symmetrised, 300 K): 1e-8 relative."""
    model = PhononModel(ge)
    crystal = ge.crystal
    dw = debye_waller(model, 300.0, grid=(4, 4, 4))
    rng = np.random.default_rng(3)
    q = rng.uniform(-2, 2, size=(3, 3))
    rotations = symmetry(crystal).rotations  # fractional coordinates (direct space)
    # Q in reciprocal fractional coordinates transforms with the inverse transpose
    inverse_t = np.linalg.inv(rotations).transpose(0, 2, 1)
    rotated = np.einsum("nij,qj->nqi", inverse_t, q).reshape(-1, 3)
    modes = model.modes(rotated)
    shape = (len(rotations), 3, -1)
    sf = coherent_structure_factor(model, modes, dw)[0].numpy().reshape(shape)
    freqs = modes.frequencies[0].numpy().reshape(shape)
    assert len(rotations) == 48
    np.testing.assert_allclose(freqs, np.broadcast_to(freqs[:1], freqs.shape), atol=1e-8)
    same = np.abs(freqs[0][:, :, None] - freqs[0][:, None, :]) < 1e-4
    summed = np.einsum("qmn,rqn->rqm", same, sf)
    expected = np.broadcast_to(summed[:1], summed.shape)
    np.testing.assert_allclose(summed, expected, rtol=1e-8, atol=1e-12)


def test_primitive_reduction_keeps_the_physics(shared):
    """The 8-atom NaCl cell of euphonic reduced to 2 atoms: same modes and S(Q) at one Q.

    Without the acoustic sum rule: its reciprocal-space correction acts on the Gamma point of
    the cell used, and Gamma of the 8-atom cell is four q-points of the primitive one (the
    two differ by 2e-4 meV here); the simulations always work in the primitive cell.
    """
    from inslib.phonons.force_constants import to_primitive

    base = shared / "reference_outputs" / "euphonic" / "force_constants"
    path = base / "NaCl_force_constants.json"
    conventional = load_force_constants(path)
    reduced = to_primitive(conventional)
    assert (conventional.crystal.n_atoms, reduced.crystal.n_atoms) == (8, 2)
    assert np.isclose(reduced.crystal.volume, conventional.crystal.volume / 4)
    big, small = PhononModel(conventional, asr=False), PhononModel(reduced, asr=False)
    q_conv = np.array([[0.3, 0.1, 0.2], [1.2, 0.4, -0.3], [2.1, 1.0, 0.5]])
    q_prim = q_conv @ conventional.crystal.reciprocal @ np.linalg.inv(reduced.crystal.reciprocal)
    modes_big, modes_small = big.modes(q_conv), small.modes(q_prim)
    f_big = modes_big.frequencies[0].numpy()
    f_small = modes_small.frequencies[0].numpy()
    for row_big, row_small in zip(f_big, f_small, strict=True):
        assert np.min(np.abs(row_big[:, None] - row_small[None]), axis=0).max() < 1e-6
    s_big = coherent_structure_factor(big, modes_big)[0].numpy().sum(axis=1)
    s_small = coherent_structure_factor(small, modes_small)[0].numpy().sum(axis=1)
    np.testing.assert_allclose(s_small, s_big, rtol=1e-8)
    assert to_primitive(reduced) is reduced
