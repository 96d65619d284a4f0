"""Modes are solved in batches bounded in memory (mesh pass, powder average, q-point rows)."""

import numpy as np
import pytest
import torch

from inslib.phonons import model as phonon_model
from inslib.phonons.force_constants import load_force_constants, to_primitive
from inslib.phonons.model import BYTES_PER_MATRIX_ENTRY, MODES_BATCH_BYTES, PhononModel, modes_batch
from inslib.scattering.mesh import mesh_results

QUARTZ = "tests/data/shared/reference_outputs/euphonic/force_constants/quartz_force_constants.json"


@pytest.mark.parametrize(("n_atoms", "n_sets"), [(1, 1), (9, 1), (9, 16), (100, 1), (200, 1)])
def test_a_batch_of_modes_stays_within_the_budget(n_atoms, n_sets):
    chunk = modes_batch(n_atoms, n_sets, 4096)
    per_point = BYTES_PER_MATRIX_ENTRY * (3 * n_atoms) ** 2 * n_sets
    assert 1 <= chunk <= 4096
    assert chunk * per_point <= MODES_BATCH_BYTES or chunk == 1
    if n_atoms == 1:
        assert chunk == 4096  # a one-atom cell is never cut
    if n_atoms == 200:
        assert chunk == 5  # 46 MB a point: 4096 at once would be 189 GB by the estimate


def test_smaller_batches_give_the_same_mesh_results(monkeypatch):
    """Quartz (9 atoms): batches of 7 q-points against the default (2,900): same sums.

    Only the order of the Debye-Waller and DOS sums changes: agreement to 1e-12 relative.
    """
    model = PhononModel(to_primitive(load_force_constants(QUARTZ)))
    with torch.no_grad():
        default = mesh_results(model, 300.0, 8)
        monkeypatch.setattr(phonon_model, "MODES_BATCH_BYTES", 7 * BYTES_PER_MATRIX_ENTRY * 27**2)
        small = mesh_results(model, 300.0, 8)
    np.testing.assert_allclose(small.dw.numpy(), default.dw.numpy(), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(small.partial.numpy(), default.partial.numpy(), rtol=1e-12,
                               atol=1e-12 * float(default.partial.max()))


def test_smaller_batches_give_the_same_rows_and_powder_map(monkeypatch):
    """Quartz q-point rows (RowsForward) and powder map: batches of 7 q-points, same spectra."""
    from inslib.scattering.binning import Resolution
    from inslib.scattering.powder import PowderSampling, coherent_powder
    from inslib.simulation.forward import RowsForward, Thermal

    model = PhononModel(to_primitive(load_force_constants(QUARTZ)))
    q = np.random.default_rng(0).uniform(-1.5, 1.5, (60, 3))
    edges = np.linspace(0.0, 160.0, 81)
    forward = RowsForward(model, q, np.arange(60) // 6, 10, 6.0, edges,
                          Resolution.constant(2.0), Thermal(300.0, 4))

    def spectra():
        with torch.no_grad():
            rows = forward()[0].numpy()
            powder = coherent_powder(model, np.linspace(0.5, 3.0, 6), edges,
                                     Resolution.constant(2.0), 300.0,
                                     dw=forward.thermal.mesh(model).dw,
                                     sampling=PowderSampling(1, 40)).numpy()
        return rows, powder

    default = spectra()
    monkeypatch.setattr(phonon_model, "MODES_BATCH_BYTES", 7 * BYTES_PER_MATRIX_ENTRY * 27**2)
    for small, reference in zip(spectra(), default, strict=True):
        np.testing.assert_allclose(small, reference, rtol=1e-10, atol=1e-12 * reference.max())
