"""u^2 from the Debye-Waller matrices and the Debye region matched to it (incoherent terms)."""

import numpy as np
import pytest
import torch

from inslib.scattering.dos import debye_cut
from inslib.scattering.incoherent import (
    isotropic_msd,
    match_debye_region,
    mean_square_displacement,
)

WIDTH = 0.05  # meV
CENTRES = (np.arange(2000) + 0.5) * WIDTH  # meV, up to 100 meV
MASSES = np.array([12.011, 50.0])  # amu


def debye_dos(top: float) -> torch.Tensor:
    """Debye partial DOS 9 E^2 / top^3 (3 states per atom), shape (1, 2, n_e), per meV."""
    dos = np.where(top > CENTRES, 9 * CENTRES**2 / top**3, 0.0)
    return torch.as_tensor(np.stack([dos, dos]))[None]


def test_isotropic_msd_is_two_thirds_of_the_trace():
    diagonals = torch.tensor([[[0.001, 0.002, 0.006], [0.003, 0.003, 0.003]]], dtype=torch.float64)
    w = torch.diag_embed(diagonals)  # Angstrom^2
    np.testing.assert_allclose(isotropic_msd(w).numpy(), [[0.006, 0.006]], rtol=1e-12)


@pytest.mark.parametrize("scale", [0.9, 1.0, 1.3])
def test_matched_dos_carries_the_target_msd(scale):
    partial = debye_dos(60.0)
    own = mean_square_displacement(partial, CENTRES, MASSES, 300.0)
    cut = np.array([12.0])
    matched = match_debye_region(partial, CENTRES, MASSES, 300.0, own * scale, cut)
    np.testing.assert_allclose(mean_square_displacement(matched, CENTRES, MASSES, 300.0),
                               own * scale, rtol=1e-10)
    above = cut[0] <= CENTRES
    np.testing.assert_array_equal(matched[..., above], partial[..., above])


def test_no_debye_region_leaves_the_dos_alone():
    partial = debye_dos(60.0)
    matched = match_debye_region(partial, CENTRES, MASSES, 300.0, torch.ones(1, 2), np.zeros(1))
    np.testing.assert_array_equal(matched, partial)


def test_factor_never_negative():
    partial = debye_dos(60.0)
    matched = match_debye_region(partial, CENTRES, MASSES, 300.0, torch.full((1, 2), 1e-9),
                                 np.array([12.0]))
    assert float(matched.min()) == 0.0


def test_debye_cut_is_the_top_mode_over_the_mesh_size():
    freqs = torch.tensor([[[0.0, 10.0, 32.0]], [[1.0, 2.0, 48.0]]])
    np.testing.assert_allclose(debye_cut(freqs, 16), [2.0, 3.0])
    np.testing.assert_array_equal(debye_cut(torch.zeros(1, 1, 3), 16), [0.0])
