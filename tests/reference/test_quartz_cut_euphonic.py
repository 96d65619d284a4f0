"""The issue-13 quartz cut, ours against euphonic 2.1.1 at the same Q points (fewer of them).

benchmarks/quartz_cut_euphonic.py (the functions run here) computes Q = (-1 + x, -4, 0),
x and the K, L offsets within +-0.05 r.l.u., 300 K, 3-40 meV in 0.5 meV bins, with both engines
on the same CASTEP force constants, the same 8^3 Debye-Waller mesh and the same Gaussian energy
resolution; euphonic bins on 0.01 meV and is broadened by its own routines (or, as a check of
those, by exact Gaussians). Measured on 2048 points: windows within 3e-4 (fixed 1 meV FWHM),
1.8e-3 (MERLIN FWHM(E), euphonic's kernel interpolation) and 3.4e-4 (MERLIN, exact Gaussians),
the 16 : 27 meV ratio within 2e-4; on the 256 points here the same to within a factor 1.3.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.reference

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "quartz_cut_euphonic.py"
POINTS = 256  # the benchmark's first 256 points: ~15 s on one core
# Fixed FWHM: euphonic convolves its 0.01 meV histogram with one Gaussian, we average every
# mode's Gaussian over the bins exactly. Measured 3e-4, a uniform scale (the ratio agrees to
# 3e-5) that the scattering lengths explain: ours (periodictable) Si 4.15071, O 5.8037 fm,
# euphonic's Sears (1992) 4.1491, 5.803 fm, b^2 +8e-4 and +2.4e-4; DW differs by 1e-7 and the
# fine bins move a mode by at most 0.005 meV. So 1e-3, which still catches (measured on these
# points): ours at 290 K (windows 0.5-1.2 %), DW on a 6^3 instead of the 8^3 mesh (0.54 %), a
# 10 % wider FWHM (0.9-4.5 %).
FIXED_TOL = 1e-3
# MERLIN FWHM(E): euphonic's variable-width broadening interpolates its kernels (target
# error 1e-3 here; at its default 1e-2 the 3-6 meV window, mostly tails of acoustic modes below
# 3 meV, is 2 % high). Measured 1.8e-3 on that window, 6e-4 on the peaks: 5e-3.
MERLIN_TOL = 5e-3
# Euphonic's histogram with exact per-bin Gaussians of the MERLIN FWHM(E) instead: 3.4e-4
# measured (the scattering-length scale of FIXED_TOL), so 1e-3.
EXACT_TOL = 1e-3
DW_TOL = 1e-5  # same mesh, same sums: 1.1e-7 of the largest element measured


@pytest.fixture(scope="module")
def bench():
    """Load the benchmark module from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("quartz_cut_euphonic", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cut(bench):
    """Sample points, euphonic's unbroadened fine-bin spectrum and its DW (computed once)."""
    q_frac = bench.sample_points(POINTS)
    reference, dw = bench.theirs(q_frac)
    return q_frac, reference, dw


def _relative(bench, spectrum, reference) -> dict:
    ours, theirs = bench.windows(spectrum), bench.windows(reference)
    return {name: ours[name] / theirs[name] - 1 for name in ours}


def test_setup_matches_euphonic(bench, cut):
    """Same spectra shape and units (mbarn/meV), same Debye-Waller matrices on the 8^3 mesh."""
    q_frac, reference, dw_ref = cut
    spectrum, dw = bench.ours(q_frac, bench.FIXED_FWHM)
    assert str(reference.y_data.units) == "millibarn / millielectron_volt"
    assert spectrum.shape == (len(bench.E_EDGES) - 1,)
    assert np.max(np.abs(dw - dw_ref)) < DW_TOL * np.max(np.abs(dw_ref))


@pytest.mark.parametrize(("fwhm", "broadening", "tol"),
                         [("fixed", "broadened", FIXED_TOL), ("MERLIN", "broadened", MERLIN_TOL),
                          ("MERLIN", "exact_broadened", EXACT_TOL)])
def test_window_intensities_and_ratio(bench, cut, fwhm, broadening, tol):
    """3-6 meV, 16 meV and 27 meV peaks, 3-40 meV total and 16 : 27 ratio agree within tol.

    ``broadening``: euphonic's own (``broadened``) or exact Gaussians on its fine histogram.
    """
    q_frac, reference, _ = cut
    width = bench.FIXED_FWHM if fwhm == "fixed" else bench.merlin_fwhm()
    spectrum, _ = bench.ours(q_frac, width)
    relative = _relative(bench, spectrum, getattr(bench, broadening)(reference, width))
    assert set(relative) == {*bench.WINDOWS, "16:27 ratio"}
    worst = max(relative, key=lambda name: abs(relative[name]))
    assert abs(relative[worst]) < tol, (worst, relative)
