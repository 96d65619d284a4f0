"""Symmetry-reduced force-constant parameters (issue 9, section 2) and the samplers.

Known parameter counts per neighbour shell are those of the textbook Born-von Karman models:

- fcc, 1st-2nd shell: 1XX, 1ZZ, 1XY; 2XX, 2YY (5), the set Su & Li (2024) sampled for Al;
  3rd shell 3XX, 3YY, 3YZ, 3XZ (4), 4th 4XX, 4ZZ, 4XY (3): e.g. Stedman & Nilsson, Phys. Rev.
  145, 492 (1966), Al.
- bcc: 1XX, 1XY (2); 2XX, 2YY (2); 3XX, 3ZZ, 3XY (3); 4XX, 4YY, 4YZ, 4XZ (4): Minkiewicz,
  Shirane & Nathans, Phys. Rev. 162, 528 (1967), alpha-Fe; Squires, Introduction to the theory
  of thermal neutron scattering, ch. 3.
- diamond: first neighbours alpha, beta (2); second neighbours mu, nu, lambda, delta (4):
  Herman, J. Phys. Chem. Solids 8, 405 (1959), Ge; Warren et al., Phys. Rev. 158, 805 (1967).
- rocksalt: first neighbours (Na-Cl) 2; second neighbours 3 for each of Na-Na and Cl-Cl (the
  fcc 1st-shell tensor on each sublattice).

Al force constants: tests/data/Al_phonopy/phonopy.yaml (ABACUS, 2x2x2 conventional supercell).
"""

import json

import numpy as np
import pytest
import torch
from ase.build import bulk

from inslib.phonons import sampling
from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.model import PhononModel
from inslib.phonons.parameters import ParameterBasis, ParameterError, nearest_images
from inslib.structure import from_ase, symmetry

AL = "tests/data/Al_phonopy/phonopy.yaml"
EXACT = 1e-10  # relative: linear algebra in float64 on O(1) numbers, far above round-off


@pytest.fixture(scope="module")
def al_fcs(request):
    return load_force_constants(request.config.rootpath / AL)


@pytest.fixture(scope="module")
def al_basis(al_fcs):
    return ParameterBasis.from_force_constants(al_fcs, shells=2)


@pytest.fixture(scope="module")
def al_reference(al_basis, al_fcs):
    return al_basis.project(al_fcs)[0][0]


@pytest.fixture(scope="module")
def al_model(al_basis, al_reference):
    return PhononModel(al_basis.force_constants(al_reference))


def per_shell(basis) -> dict:
    shells, counts = np.unique(basis.shells, return_counts=True)
    return dict(zip(shells.tolist(), counts.tolist(), strict=True))


def test_fcc_al_two_shells_is_the_su_li_set(al_basis):
    assert al_basis.names == ["1NN xx", "1NN zz", "1NN xy", "2NN xx", "2NN yy"]
    a = 4.044  # Al lattice parameter of the file (primitive vectors (0, a/2, a/2)), Angstrom
    np.testing.assert_allclose(al_basis.distances, [a / 2**0.5] * 3 + [a] * 2, rtol=1e-3)


def test_cutoff_in_angstrom_equals_shell_count(al_fcs, al_basis):
    by_distance = ParameterBasis.from_force_constants(al_fcs, cutoff=4.1)
    assert by_distance.names == al_basis.names


@pytest.mark.parametrize(("atoms", "shells", "expected"), [
    (bulk("Al", "fcc", a=4.05), 4, {1: 3, 2: 2, 3: 4, 4: 3}),
    (bulk("Fe", "bcc", a=2.87), 4, {1: 2, 2: 2, 3: 3, 4: 4}),
    (bulk("Si", "diamond", a=5.43), 2, {1: 2, 2: 4}),
    (bulk("NaCl", "rocksalt", a=5.64), 2, {1: 2, 2: 6}),
], ids=["fcc", "bcc", "diamond", "rocksalt"])
def test_textbook_born_von_karman_counts(atoms, shells, expected):
    basis = ParameterBasis.from_crystal(from_ase(atoms), shells=shells)
    assert per_shell(basis) == expected


def test_rocksalt_second_shell_names_the_pairs():
    basis = ParameterBasis.from_crystal(from_ase(bulk("NaCl", "rocksalt", a=5.64)), shells=2)
    assert [n for n in basis.names if n.startswith("2NN")] == [
        "2NN Na-Na xx", "2NN Na-Na zz", "2NN Na-Na xy",
        "2NN Cl-Cl xx", "2NN Cl-Cl zz", "2NN Cl-Cl xy"]


def test_projection_is_idempotent(al_basis, al_fcs):
    params, residual = al_basis.project(al_fcs)
    again, left = al_basis.project(al_basis.to_force_constants(params))
    np.testing.assert_allclose(again, params, rtol=EXACT, atol=EXACT * np.abs(params).max())
    assert left[0] < EXACT * np.linalg.norm(al_fcs.fc)
    assert residual[0] > 0.05 * np.linalg.norm(al_fcs.fc)  # 2 of 5 shells: a real truncation


def test_all_shells_reproduce_the_dft_force_constants(al_fcs):
    basis = ParameterBasis.from_force_constants(al_fcs, shells=5)
    _, residual = basis.project(al_fcs)
    # phonopy symmetrised the file's force constants (symfc): only round-off is left
    assert residual[0] < 1e-6 * np.linalg.norm(al_fcs.fc)


def test_force_constants_beyond_the_cutoff_are_zero():
    basis = ParameterBasis.from_crystal(from_ase(bulk("Fe", "bcc", a=2.87)), shells=1)
    fc = basis.to_force_constants(np.ones(basis.n_params))[0].numpy()
    pairs = nearest_images(basis.crystal, basis.cell_origins, basis.sc_matrix)
    far = pairs.distance[:, 0, 0] > basis.distances.max() + 1e-3
    assert far.sum() > 0
    assert np.all(fc[far] == 0)
    assert np.all(np.abs(fc[~far]).sum(axis=(1, 2)) > 0)  # the 8 neighbours and the atom


def test_acoustic_sum_rule(al_basis):
    params = np.random.default_rng(0).normal(size=(3, al_basis.n_params))
    fc = al_basis.to_force_constants(params).numpy()
    n = al_basis.crystal.n_atoms
    row_sums = fc.reshape(3, -1, 3 * n, n, 3).sum(axis=(1, 3))
    assert np.abs(row_sums).max() < EXACT * np.abs(fc).max()
    model = PhononModel(al_basis.force_constants(params[0]), asr=False)  # no correction
    at_gamma = model.modes(np.zeros((1, 3)), fc=torch.as_tensor(fc)).frequencies
    assert torch.abs(at_gamma[..., :3]).max() < 1e-4  # meV: sqrt of round-off, 6e-5 meV


def test_space_group_symmetry(al_basis):
    """Frequencies at q and at every symmetry image of q agree (asr off: no correction)."""
    params = np.random.default_rng(1).normal(size=al_basis.n_params)
    model = PhononModel(al_basis.force_constants(params), asr=False)
    rotations = symmetry(al_basis.crystal).rotations
    q = np.array([0.13, 0.29, 0.41])
    images = np.einsum("j,nji->ni", q, np.linalg.inv(rotations))  # q R^-1: reciprocal action
    freqs = model.modes(np.vstack([q, images])).frequencies[0].numpy()
    # meV; +0.05 eV/A^2 on one 1NN entry (symmetry broken) moves them by 0.04 meV
    np.testing.assert_allclose(freqs[1:], np.broadcast_to(freqs[0], freqs[1:].shape), atol=1e-8)


def test_map_gradient(al_basis):
    params = torch.randn(2, al_basis.n_params, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(al_basis.to_force_constants, (params,), fast_mode=True)


def test_batch_equals_single_sets(al_basis, al_model):
    params = np.random.default_rng(2).normal(1.0, 0.1, size=(4, al_basis.n_params))
    params *= al_basis.project(al_model.fcs)[0]
    batch = al_basis.to_force_constants(params)
    singles = torch.cat([al_basis.to_force_constants(p) for p in params])
    torch.testing.assert_close(batch, singles, rtol=EXACT, atol=0)  # BLAS order differs
    q = sampling.check_mesh(2)
    together = al_model.modes(q, fc=batch).frequencies
    alone = torch.cat([al_model.modes(q, fc=s[None]).frequencies for s in singles])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-10)


def test_dict_round_trip_through_json(al_basis, al_reference):
    copy = ParameterBasis.from_dict(json.loads(json.dumps(al_basis.to_dict())))
    assert copy.names == al_basis.names
    torch.testing.assert_close(copy.to_force_constants(al_reference),
                               al_basis.to_force_constants(al_reference), rtol=0, atol=0)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"shells": 0}, ["shells=0", "positive integer"]),
    ({"shells": 2, "cutoff": 4.0}, ["exactly one", "shells=2", "cutoff=4.0"]),
    ({"cutoff": 1.0}, ["cutoff=1.0", "2.860"]),
    ({"shells": 9}, ["shells=9", "only 5", "shells <= 5"]),
])
def test_bad_cutoffs_are_named(al_fcs, kwargs, words):
    with pytest.raises(ParameterError) as info:
        ParameterBasis.from_force_constants(al_fcs, **kwargs)
    assert all(w in str(info.value) for w in words)


def test_non_primitive_crystal_is_refused():
    with pytest.raises(ParameterError, match="not primitive"):
        ParameterBasis.from_crystal(from_ase(bulk("Al", "fcc", a=4.05, cubic=True)), shells=1)


def test_wrong_parameter_shape_is_named(al_basis):
    with pytest.raises(ParameterError, match=r"params has shape \(2, 4\)"):
        al_basis.to_force_constants(np.ones((2, 4)))


def test_box_is_reproducible_and_keeps_signs(al_reference):
    first = sampling.box(al_reference, 50, 0.5, 1.5, seed=7)
    assert np.array_equal(first, sampling.box(al_reference, 50, 0.5, 1.5, seed=7))
    assert not np.array_equal(first, sampling.box(al_reference, 50, 0.5, 1.5, seed=8))
    factors = first / al_reference  # the reference has both signs (1NN xx < 0 < 1NN zz)
    assert (al_reference < 0).any()
    assert (al_reference > 0).any()
    assert factors.min() >= 0.5
    assert factors.max() <= 1.5


@pytest.mark.parametrize(("lower", "upper", "name"), [(-0.5, 1.5, "lower=-0.5"),
                                                      (0.5, 0.0, "upper=0.0"),
                                                      (1.5, 0.5, "lower=1.5 >= upper=0.5")])
def test_box_bounds_are_checked(al_reference, lower, upper, name):
    with pytest.raises(ParameterError, match=name):
        sampling.box(al_reference, 3, lower, upper)


def test_unstable_sets_are_detected(al_basis, al_model, al_reference):
    q = sampling.check_mesh(4)
    mask = sampling.stable_mask(al_basis, np.stack([al_reference, -al_reference]), al_model, q)
    assert mask.tolist() == [True, False]  # the DFT set is stable, its negative is not


def test_rejections_are_counted_and_reproducible(al_basis, al_model, al_reference):
    sample = sampling.sample_stable(al_basis, al_reference, 150, al_model, 0.1, 0.2, seed=11)
    assert len(sample.params) == 150
    assert sample.attempts == 150 + sample.rejected
    # the same draws checked one by one give the same verdicts
    draws = sampling.box(al_reference, sample.attempts, 0.1, 0.2, seed=11)
    stable = sampling.stable_mask(al_basis, draws, al_model, sampling.check_mesh(4))
    assert sample.rejected == int(np.sum(~stable)) > 0
    np.testing.assert_array_equal(sample.params, draws[stable])


def test_su_li_box_is_mostly_stable(al_basis, al_model, al_reference):
    sample = sampling.sample_stable(al_basis, al_reference, 200, al_model, seed=3)
    assert sample.rejected < 0.25 * sample.attempts  # measured 12% with 2 shells, 4^3 mesh


def test_attempt_cap_reports_counts(al_basis, al_model, al_reference):
    with pytest.raises(ParameterError, match=r"only \d+ of 500 stable sets after 20 draws"):
        sampling.sample_stable(al_basis, al_reference, 500, al_model, seed=3, max_attempts=20)


def test_user_sets_are_projected_and_filtered(al_basis, al_fcs, al_model):
    sample, residual = sampling.project_sets(al_basis, [al_fcs, -al_fcs.fc], al_model)
    assert (sample.rejected, sample.attempts, len(sample.params)) == (1, 2, 1)
    np.testing.assert_allclose(residual[1], residual[0], rtol=EXACT)
    np.testing.assert_allclose(sample.params[0], al_basis.project(al_fcs)[0][0], rtol=EXACT)
