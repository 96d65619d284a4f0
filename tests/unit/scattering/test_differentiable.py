"""The forward model is differentiable end to end and batched (issue 9, section 3).

Float64 throughout: a central finite difference with step h = 1e-6 (relative) has truncation
error O(h^2) ~ 1e-12 and round-off ~ 1e-16 / h ~ 1e-10 relative, so 1e-5 is a strict test that
still leaves room; a histogram that ignores peak shifts misses by tens of percent.
"""

import numpy as np
import pytest
import torch

from inslib.phonons.force_constants import load_force_constants, to_primitive
from inslib.phonons.model import PhononModel, eigh
from inslib.phonons.parameters import ParameterBasis
from inslib.scattering.binning import Resolution
from inslib.scattering.powder import PowderSampling
from inslib.scattering.thermal import debye_waller
from inslib.simulation.forward import (
    IndirectForward,
    Multiphonon,
    PowderForward,
    RowsForward,
    Thermal,
    dos_top,
)

AL = "tests/data/Al_phonopy/phonopy.yaml"
E_EDGES = np.linspace(-10.0, 45.0, 56)
RESOLUTION = Resolution.from_fwhm(lambda e: 2.0 - 0.02 * e, -20.0, 60.0)


@pytest.fixture(scope="module")
def al():
    fcs = to_primitive(load_force_constants(AL))
    model = PhononModel(fcs)
    basis = ParameterBasis.from_force_constants(fcs, shells=2)
    reference = torch.as_tensor(basis.project(fcs.fc)[0][0])  # (n_params,)
    thermal = Thermal(300.0, 6, dos_top(model, 6, headroom=1.3))
    return model, basis, reference, thermal


def _powder(al, **kwargs):
    model, _, _, thermal = al
    q_edges = np.linspace(0.5, 5.0, 10)
    mask = np.zeros((9, 55), bool)
    mask[:2, 35:] = True  # an uncovered corner, as a kinematic limit gives
    return PowderForward(model, q_edges, mask, thermal, Multiphonon(E_EDGES, RESOLUTION, 4),
                         sampling=PowderSampling(1, 24), **kwargs)


def _path(al):
    model, _, _, thermal = al
    q = np.stack([np.linspace(0.05, 0.5, 30), np.zeros(30), np.linspace(0.05, 0.5, 30)], 1)
    return RowsForward(model, q, np.arange(30) // 3, 10, 3.0, E_EDGES, RESOLUTION, thermal)


def _check_gradient(forward, basis, reference, reduce):
    """Autograd vs central differences of a misfit to a map at 1.1 x the reference."""
    target = reduce(forward(basis.to_force_constants(1.1 * reference[None]))).detach()

    def loss(params):
        return ((reduce(forward(basis.to_force_constants(params[None]))) - target) ** 2).sum()

    params = (0.95 * reference).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(params), params)
    h = 1e-6 * reference.abs().max()
    with torch.no_grad():
        fd = torch.stack([(loss(params + h * e) - loss(params - h * e)) / (2 * h)
                          for e in torch.eye(len(reference), dtype=reference.dtype)])
    np.testing.assert_allclose(grad.numpy(), fd.numpy(), rtol=1e-5,
                               atol=1e-5 * float(fd.abs().max()))
    return grad


def test_powder_map_gradient_matches_finite_differences(al):
    """All terms (DW, Bose, coherent, incoherent + multiphonon, resolution, mask) carry it."""
    _, basis, reference, _ = al
    grad = _check_gradient(_powder(al), basis, reference, lambda result: result.signal)
    assert torch.all(grad != 0)  # every parameter moves the map


def test_incoherent_only_map_has_a_gradient(al):
    """The incoherent and multiphonon terms alone depend on the force constants (via the DOS)."""
    _, basis, reference, _ = al
    _check_gradient(_powder(al, coherent=False), basis, reference, lambda r: r.signal)


def test_qpath_gradient_matches_finite_differences(al):
    _, basis, reference, _ = al
    _check_gradient(_path(al), basis, reference, lambda spectra: spectra)


def test_batch_equals_single_runs(al):
    _, basis, reference, _ = al
    params = torch.stack([0.8 * reference, reference, 1.2 * reference])
    fc = basis.to_force_constants(params)
    for forward, reduce in ((_powder(al), lambda r: r.signal), (_path(al), lambda s: s)):
        batch = reduce(forward(fc))
        single = torch.cat([reduce(forward(f[None])) for f in fc])
        scale = float(batch.abs().max())
        np.testing.assert_allclose(batch.numpy(), single.numpy(), rtol=0, atol=1e-10 * scale)


def test_indirect_batch_equals_single_runs(al):
    model, basis, reference, thermal = al
    forward = IndirectForward(model, thermal, Multiphonon(np.linspace(2, 45, 44), RESOLUTION, 3),
                              3.5, np.array([45.0, 135.0]))
    fc = basis.to_force_constants(torch.stack([0.9 * reference, 1.1 * reference]))
    batch = forward(fc)
    single = torch.cat([forward(f[None]) for f in fc])
    np.testing.assert_allclose(batch.numpy(), single.numpy(), atol=1e-10 * float(batch.max()))


def test_sets_above_the_dos_grid_are_refused(al):
    _, basis, reference, _ = al
    with pytest.raises(ValueError, match="e_max"):
        _powder(al)(basis.to_force_constants(4.0 * reference[None]))


def test_swapping_force_constants_drops_the_sum_rule_cache(al):
    """model.fc = new must give the new model's modes (no stale acoustic-sum-rule term)."""
    fcs = to_primitive(load_force_constants(AL))
    model = PhononModel(fcs)
    q = [[0.1, 0.2, 0.3], [0.5, 0.0, 0.5]]
    model.modes(q)  # fills the cache
    model.fc = 1.3 * model.fc
    fcs.fc = 1.3 * fcs.fc
    fresh = PhononModel(fcs).modes(q).frequencies
    torch.testing.assert_close(model.modes(q).frequencies, fresh, rtol=1e-12, atol=0)


def test_debye_waller_gradient_is_finite_at_degenerate_mesh_points(al):
    """A 4^3 mesh holds q-points on symmetry lines (degenerate transverse modes)."""
    model, basis, reference, _ = al
    params = reference.clone().requires_grad_(True)
    dw = debye_waller(model, 300.0, (4, 4, 4), fc=basis.to_force_constants(params[None]))
    (grad,) = torch.autograd.grad(dw.sum(), params)
    assert torch.isfinite(grad).all()
    h = 1e-6 * reference.abs().max()
    with torch.no_grad():
        fd = torch.stack([(debye_waller(model, 300.0, (4, 4, 4),
                                        fc=basis.to_force_constants((reference + h * e)[None]))
                           .sum() - debye_waller(model, 300.0, (4, 4, 4),
                           fc=basis.to_force_constants((reference - h * e)[None])).sum()) / (2 * h)
                          for e in torch.eye(len(reference), dtype=reference.dtype)])
    np.testing.assert_allclose(grad.numpy(), fd.numpy(), rtol=1e-5,
                               atol=1e-5 * float(fd.abs().max()))


def test_safe_eigh_matches_torch_away_from_degeneracy():
    torch.manual_seed(0)
    a = torch.randn(3, 5, 5, dtype=torch.complex128)
    a = (a + a.mH).requires_grad_(True)
    weights = torch.arange(5, dtype=torch.float64)

    def loss(fn):
        values, vectors = fn(a)
        return (values * weights).sum() + (vectors.abs() ** 4 * weights).sum()

    ours = torch.autograd.grad(loss(eigh), a)[0]
    theirs = torch.autograd.grad(loss(torch.linalg.eigh), a)[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
