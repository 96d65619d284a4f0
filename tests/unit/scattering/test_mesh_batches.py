"""The mesh pass (Debye-Waller, partial DOS) solves the modes in batches bounded in memory."""

import numpy as np
import pytest
import torch

from inslib.phonons.force_constants import load_force_constants, to_primitive
from inslib.phonons.model import BYTES_PER_MATRIX_ENTRY, PhononModel
from inslib.scattering import mesh
from inslib.scattering.mesh import MESH_BATCH_BYTES, mesh_chunk, mesh_results

QUARTZ = "tests/data/shared/reference_outputs/euphonic/force_constants/quartz_force_constants.json"


@pytest.mark.parametrize(("n_atoms", "n_sets"), [(1, 1), (9, 1), (9, 16), (100, 1), (200, 1)])
def test_a_batch_of_modes_stays_within_the_budget(n_atoms, n_sets):
    chunk = mesh_chunk(n_atoms, n_sets, 4096)
    per_point = BYTES_PER_MATRIX_ENTRY * (3 * n_atoms) ** 2 * n_sets
    assert 1 <= chunk <= 4096
    assert chunk * per_point <= MESH_BATCH_BYTES or chunk == 1
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
        monkeypatch.setattr(mesh, "MESH_BATCH_BYTES", 7 * BYTES_PER_MATRIX_ENTRY * 27**2)
        small = mesh_results(model, 300.0, 8)
    np.testing.assert_allclose(small.dw.numpy(), default.dw.numpy(), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(small.partial.numpy(), default.partial.numpy(), rtol=1e-12,
                               atol=1e-12 * float(default.partial.max()))
