"""Closed-form 3 x 3 eigensolver against LAPACK, including the degenerate cases."""

import numpy as np
import pytest
import torch

from inslib.phonons.eigen3 import symmetric3_eigh


def _random_symmetric(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 3, 3, dtype=torch.float64, generator=generator)
    return a + a.mT


def _with_spectrum(values, seed=1):
    generator = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(len(values), 3, 3, dtype=torch.float64,
                                           generator=generator))[0]
    return rotation @ torch.diag_embed(torch.as_tensor(values, dtype=torch.float64)) @ rotation.mT


CASES = {
    "random": _random_symmetric(2000),
    # doubly and triply degenerate, zero (D at Gamma), near-degenerate to 1e-12 and 1e-7
    "degenerate": _with_spectrum([[1, 1, 2], [1, 2, 2], [3, 3, 3], [0, 0, 0], [1, 1 + 1e-12, 2],
                                  [5, 5 + 1e-7, 5 + 2e-7], [-1, 0, 1]]),
    "diagonal": torch.diag_embed(torch.tensor([[3.0, 1.0, 2.0], [0.0, 0.0, 7.0]],
                                              dtype=torch.float64)),
}


def test_float32_scalar_matrices_with_rounding_noise():
    """A multiple of I turned by random rotations, in float32: finite, all roots equal."""
    a = _with_spectrum([[2.0, 2.0, 2.0]] * 200).to(torch.float32)
    values, vectors = symmetric3_eigh(a)
    assert bool(torch.isfinite(values).all())
    assert bool(torch.isfinite(vectors).all())
    np.testing.assert_allclose(values.numpy(), 2.0, rtol=1e-5)
    eye = torch.eye(3)
    assert float((vectors.mT @ vectors - eye).abs().max()) < 1e-5


def test_float32_random_matrices():
    a = _random_symmetric(500, seed=3).to(torch.float32)
    values, vectors = symmetric3_eigh(a)
    ref = torch.linalg.eigvalsh(a.double())
    np.testing.assert_allclose(values.double().numpy(), ref.numpy(), atol=1e-4)
    residual = a @ vectors - vectors * values[..., None, :]
    assert float(residual.abs().max()) < 1e-4 * float(a.abs().max())


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_lapack(name):
    """Eigenvalues to 1e-12 of the matrix scale; A e = lambda e and orthonormality to 1e-12.

    Eigenvectors of (near-)degenerate eigenvalues are not unique, so they are checked through
    the residual and through a matrix function sum_k f(l_k) e_k e_k^T, which is unique.
    """
    a = CASES[name]
    values, vectors = symmetric3_eigh(a)
    ref_values, ref_vectors = torch.linalg.eigh(a)
    scale = float(a.abs().max())
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), atol=1e-12 * scale)
    residual = a @ vectors - vectors * values[..., None, :]
    assert float(residual.abs().max()) < 1e-12 * scale
    eye = torch.eye(3, dtype=a.dtype)
    assert float((vectors.mT @ vectors - eye).abs().max()) < 1e-12
    cubed = vectors @ torch.diag_embed(values**3) @ vectors.mT
    ref = ref_vectors @ torch.diag_embed(ref_values**3) @ ref_vectors.mT
    assert float((cubed - ref).abs().max()) < 1e-10 * scale**3


def test_values_ascending_and_shape_kept():
    a = _random_symmetric(24).reshape(2, 12, 3, 3)
    values, vectors = symmetric3_eigh(a)
    assert values.shape == (2, 12, 3)
    assert vectors.shape == (2, 12, 3, 3)
    assert bool((values[..., 1:] >= values[..., :-1]).all())


def test_threaded_eigh_keeps_gradients():
    """The batch split over threads (>= PARALLEL_EIGH_MIN matrices, >= 2 threads) differentiates.

    torch's grad mode is thread-local: the pool's threads once saw the input requiring grad and
    refused eigh's out= arguments (the gradient of a 6x6 batch of 2048 failed on 2 threads).
    """
    from inslib.phonons.model import PARALLEL_EIGH_MIN, eigh

    rng = np.random.default_rng(4)
    a = torch.as_tensor(rng.normal(size=(PARALLEL_EIGH_MIN, 6, 6)), dtype=torch.float64)
    matrices = (a + a.transpose(-1, -2)).requires_grad_(True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        values, _ = eigh(matrices)
        values.sum().backward()
    finally:
        torch.set_num_threads(before)
    # d(sum of eigenvalues)/dM = d(trace M)/dM = identity for each matrix
    expected = torch.eye(6, dtype=torch.float64).expand_as(matrices)
    torch.testing.assert_close(matrices.grad, expected, atol=1e-10, rtol=0)
