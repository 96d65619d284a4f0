"""Property-based checks of the broadening kernels (hypothesis): weight, position, agreement."""

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inslib.scattering.binning import ExactDeposit, Resolution, SplineDeposit, bin_kernel

OPTS = {"dtype": torch.float64, "device": "cpu"}
widths = st.floats(min_value=0.2, max_value=3.0)  # FWHM, meV
positions = st.lists(st.floats(min_value=5.0, max_value=45.0), min_size=1, max_size=20)


def _edges(step: float) -> np.ndarray:
    return np.arange(-10.0, 60.0 + step / 2, step)


@settings(max_examples=40, deadline=None)
@given(points=positions, fwhm=widths, step=st.floats(min_value=0.1, max_value=2.0))
def test_kernel_keeps_weight_and_mean(points, fwhm, step):
    """Deltas well inside the range keep their weight and their mean position.

    Weight: the Gaussian is cut at 4.5 sigma (mass beyond 6.8e-6; 1e-5 allowed). Mean from the
    bin centres: exact up to the aliasing term ~ exp(-2 pi^2 sigma^2 / step^2), below 1e-6 of
    a bin when bins are at most half the FWHM (assumed); 1e-3 of a bin allowed.
    """
    assume(step <= fwhm / 2)
    edges = _edges(step)
    points = np.asarray(points)
    kernel = bin_kernel(points, fwhm / 2.3548, edges) * np.diff(edges)[:, None]  # masses
    np.testing.assert_allclose(kernel.sum(axis=0), 1.0, atol=1e-5)
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = centres @ kernel / kernel.sum(axis=0)
    np.testing.assert_allclose(mean, points, atol=1e-3 * step + 1e-9)


@settings(max_examples=30, deadline=None)
@given(points=positions, fwhm=widths, step=st.floats(min_value=0.25, max_value=2.0))
def test_spline_and_exact_deposits_agree(points, fwhm, step):
    """Both depositors give the same bin averages to 1 % of the peak for any width >= 0.2 meV.

    The spline's fine step is <= sigma, so its fourth-moment error stays below 1 %.
    """
    edges = _edges(step)
    resolution = Resolution.constant(fwhm)
    energy = torch.as_tensor(points, dtype=torch.float64)
    rows = torch.zeros(len(points), dtype=torch.long)
    weight = torch.ones(len(points), dtype=torch.float64)
    out = []
    for deposit in (SplineDeposit.build(resolution, edges, OPTS),
                    ExactDeposit(resolution, edges, OPTS)):
        acc = torch.zeros((1, deposit.n_columns), **OPTS)
        out.append(deposit.finish(deposit.add(acc, rows, energy, weight)).numpy())
    np.testing.assert_allclose(out[0], out[1], atol=1e-2 * float(out[1].max()))
