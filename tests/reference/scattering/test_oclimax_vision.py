"""Indirect geometry (VISION) Ge at 300 K against OCLIMAX 3.0 (tests/data/shared/reference_outputs).

Same input (pathSQE Ge force constants, 16^3 mesh), same bins, OCLIMAX's resolution polynomial
(ERES = 2.5 + 5e-3 E + 1e-7 E^2, taken in cm^-1). Measured agreement (docs/validation.md):
peaks 10.60 / 35.30 meV against 10.60 / 34.80 meV; forward/backward intensity 0.331 vs 0.321.
Multiphonon fractions: OCLIMAX's "0 -> n" terms build the n >= 2 orders from phonon creation
only; with MultiphononMode=CreationOnly every order agrees within 4 % (issue: 10 %). The
complete expansion (default: thermal phonons may also be annihilated) puts more weight in
the n >= 2 orders at 300 K (two-phonon 0.089 vs 0.073); those bounds are regression checks.
"""

import numpy as np
import pytest
from scipy.signal import find_peaks

from inslib.scattering.binning import Resolution
from inslib.simulation.forward import IndirectForward, Multiphonon, Thermal
from inslib.simulation.setup import cached_setup
from inslib.units import to_mev

pytestmark = [pytest.mark.reference, pytest.mark.slow]


@pytest.fixture(scope="module")
def oclimax(shared):
    path = shared / "reference_outputs" / "oclimax_Ge" / "ge_vis_inc_300K.csv"
    rows = [line.rstrip().rstrip(",").split(",") for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    return np.array([[float(x) for x in row] for row in rows])


def _spectra(shared, oclimax, creation_only):
    base = shared / "force_constants" / "pathSQE_Ge_ARCS"
    setup = cached_setup(str(base / "FORCE_CONSTANTS"), str(base / "POSCAR"), 300.0, 16)
    energy = oclimax[:, 0]
    edges = np.concatenate([energy - 0.05, [energy[-1] + 0.05]])

    def fwhm(e):
        cm = np.abs(e) / to_mev(1.0, "cm^-1")
        return to_mev(2.5 + 5e-3 * cm + 1e-7 * cm**2, "cm^-1")

    multiphonon = Multiphonon(edges, Resolution.of(fwhm, edges), 10, creation_only)
    forward = IndirectForward(setup.model, Thermal(300.0, 16), multiphonon, 3.5,
                              np.array([135.0, 45.0]))
    return forward(mesh=setup.mesh)[0].numpy()


@pytest.fixture(scope="module")
def ours(shared, oclimax):
    return _spectra(shared, oclimax, creation_only=False)


@pytest.fixture(scope="module")
def oclimax_convention(shared, oclimax):
    return _spectra(shared, oclimax, creation_only=True)


def _peaks(energy, spectrum):
    index, _ = find_peaks(spectrum, prominence=0.2 * spectrum.max())
    return energy[index]


def test_peak_positions(oclimax, ours):
    energy = oclimax[:, 0]
    theirs = _peaks(energy, oclimax[:, 1])
    mine = _peaks(energy, ours[0].sum(axis=0))
    assert len(theirs) == len(mine) == 2
    assert np.max(np.abs(mine - theirs)) <= 0.5  # meV, the figure


def test_forward_backward_ratio(oclimax, ours):
    theirs = oclimax[:, 2].sum() / oclimax[:, 1].sum()
    mine = ours[1].sum() / ours[0].sum()
    assert abs(mine / theirs - 1) < 0.05


def _fractions(spectra):
    back = spectra[0]
    return np.array([back[0].sum(), back[1].sum(), back[2].sum(), back[3:].sum()]) / back.sum()


def test_multiphonon_fractions_in_oclimax_convention(oclimax, oclimax_convention):
    """Orders 1, 2, 3, 4+ within 10 % (measured 0.1 %, 1.2 %, 2.3 %, 3.9 %)."""
    theirs = oclimax[:, 3:7].sum(axis=0) / oclimax[:, 1].sum()
    mine = _fractions(oclimax_convention)
    np.testing.assert_allclose(mine, theirs, rtol=0.10)


def test_multiphonon_fractions_complete_expansion(oclimax, ours):
    """Regression bounds for the default (complete) expansion, measured 2.2 %, 23 %, 50 %."""
    theirs = oclimax[:, 3:6].sum(axis=0) / oclimax[:, 1].sum()
    mine = _fractions(ours)[:3]
    assert abs(mine[0] / theirs[0] - 1) < 0.03
    assert 1.15 < mine[1] / theirs[1] < 1.30  # annihilation adds to the two-phonon term
    assert 1.3 < mine[2] / theirs[2] < 1.6
