"""Output=QPath and Output=IndirectSE on small EMT Al trajectories (conftest).

References: harmonic modes of the same potential (phonopy EMT force constants) and the
harmonic route's q-path template.
"""

from itertools import pairwise

import numpy as np
import pytest
from scipy.special import erf

from inslib.runtime.host import run_algorithm
from inslib.scattering.thermal import K_B

pytest.importorskip("dynasor")  # the md extra

THZ_TO_MEV = 4.135667696  # meV per THz
PATH = {"QPath": "G-X-W-L-G", "PathStep": "0.02", "Instrument": "ARCS", "Ei": "80"}
E_BINS = "-40.5,1.5,49.5"  # meV, 1.5 meV bins as the powder tests
TOSCA = {"Instrument": "TOSCA", "EBinning": "3,1,45"}  # 1 meV bins, below Al's 40 meV top


def _md_path(trajectory: str, structure: str, temperature: str, **extra):
    properties = {"EBinning": E_BINS, **PATH, **extra}
    return run_algorithm("SimulateMDSQE", TrajectoryFile=trajectory, TimeStep="10",
                         StructureFile=structure, Output="QPath", Temperature=temperature,
                         Incoherent="0", OutputWorkspace="path", **properties)["OutputWorkspace"]


@pytest.fixture(scope="module")
def cold_path(cold_trajectory, al_structure):
    return _md_path(cold_trajectory, al_structure, "50")


def _commensurate_points(structure: str) -> list:
    """(h (3,), path position 1/A) of every point with 4 h integer on PATH, brute force.

    Positions are cumulative distances along the segments (the harmonic route's path axis).
    """
    from inslib.structure import load_structure, seekpath_path

    crystal = load_structure(structure)
    labels = seekpath_path(crystal).points
    names = PATH["QPath"].split("-")
    points, start = [], 0.0
    for a, b in pairwise(names):
        qa, qb = labels[a], labels[b]
        length = float(np.linalg.norm((qb - qa) @ crystal.reciprocal))
        for t in np.linspace(0, 1, 97):  # the labels are multiples of 1/8: t in 1/96 steps
            h = qa + t * (qb - qa)
            if np.allclose(4 * h, np.rint(4 * h), atol=1e-9) and not np.allclose(h, 0):
                points.append((h, start + t * length))
        start += length
    return points


def _strongest_mode(phonon, h: np.ndarray, reciprocal: np.ndarray, temperature: float) -> float:
    """Energy (meV) of the mode of largest |Q.e|^2 (n + 1) / w at Q = h (fractional)."""
    phonon.run_qpoints([h], with_eigenvectors=True)
    energy = phonon.qpoints.frequencies[0] * THZ_TO_MEV
    vectors = phonon.qpoints.eigenvectors[0]  # (3, 3 modes): monatomic, columns are modes
    weight = np.abs((h @ reciprocal) @ vectors) ** 2 / energy / -np.expm1(
        -energy / (K_B * temperature))
    return float(energy[np.argmax(weight)])


def _peak(row: np.ndarray, e: np.ndarray) -> float:
    """Energy (meV) of the largest bin above 3 meV."""
    return float(e[np.nanargmax(np.where(e > 3, row, -np.inf))])


@pytest.fixture(scope="module")
def free_path(cold_trajectory, al_structure):
    """Return the cold path without an Instrument: EnergyResolution's constant 2 meV FWHM."""
    return _md_path(cold_trajectory, al_structure, "50", Instrument="", Ei="0",
                    EnergyResolution="2")


@pytest.mark.parametrize("name", ["cold_path", "free_path"])
def test_q_path_peaks_match_phonopy_at_the_commensurate_points(request, name, al_structure,
                                                               emt_phonopy):
    """50 K: every unmasked path bin holds a commensurate point; its peak is EMT's mode.

    With ARCS's resolution at Ei = 80 meV and with a constant 2 meV FWHM and no Instrument.
    Tolerance one 1.5 meV bin (the acceptance); measured 0.15-0.59 meV (ARCS), most of it the
    bin-centre rounding of the MD peak.
    """
    import phonopy

    from inslib.structure import load_structure

    cold_path = request.getfixturevalue(name)

    phonon = phonopy.load(emt_phonopy)
    reciprocal = load_structure(al_structure).reciprocal
    points = _commensurate_points(al_structure)
    edges, e = cold_path.axes[0].edges, cold_path.axes[1].centres
    unmasked = np.flatnonzero(~cold_path.mask.all(axis=1))
    # G-X, X-W, W-L and L-G each own two points, one at each end bin but (0.25,0,0.25) and
    # (0.25,0.25,0.25) mid-segment: 8 bins (Gamma is left out: no dynamics at Q = 0)
    assert len(unmasked) == 8
    for index in unmasked:
        inside = [h for h, x in points if edges[index] - 1e-9 <= x <= edges[index + 1] + 1e-9]
        assert inside, f"bin {index} holds no commensurate point"
        expected = _strongest_mode(phonon, inside[0], reciprocal, 50.0)
        assert abs(_peak(cold_path.signal[index], e) - expected) <= 1.5, (index, inside[0])


def test_q_path_is_on_the_harmonic_routes_path_template(cold_path, emt_phonopy):
    """Same path bins as SimulateSingleCrystalSQE; peaks within one energy bin of its own."""
    harmonic = run_algorithm("SimulateSingleCrystalSQE", ForceConstantsFile=emt_phonopy,
                             Temperature="50", Dimension3Binning=E_BINS, SamplesPerBin="4",
                             MeshSize="8", OutputWorkspace="h", **PATH)["OutputWorkspace"]
    np.testing.assert_allclose(cold_path.axes[0].edges, harmonic.axes[0].edges)
    np.testing.assert_allclose(cold_path.axes[1].edges, harmonic.axes[1].edges)
    ours, theirs = cold_path.axes[0].ticks, harmonic.axes[0].ticks
    assert [label for _, label in ours] == [label for _, label in theirs]
    np.testing.assert_allclose([x for x, _ in ours], [x for x, _ in theirs])
    e = cold_path.axes[1].centres
    for index in np.flatnonzero(~cold_path.mask.all(axis=1)):
        # the MD point sits on a bin edge, the harmonic bin averages 4 points across it: the
        # LA slope near Gamma (~40 meV A) moves its peak by up to 0.8 meV over 0.02 1/A
        assert abs(_peak(cold_path.signal[index], e)
                   - _peak(harmonic.signal[index], e)) <= 1.5, index
    meta = cold_path.metadata
    assert (meta.instrument, meta.ei, meta.temperature) == ("ARCS", 80.0, 50.0)
    assert "path bins hold no q-point" in meta.logs["Warnings"].value
    assert np.isnan(cold_path.signal[cold_path.mask]).all()


def test_q_path_without_an_instrument_records_none(free_path, cold_path):
    """EnergyResolution and no Instrument: the cold path's bins and mask, no Instrument or Ei."""
    np.testing.assert_array_equal(free_path.mask, cold_path.mask)
    np.testing.assert_allclose(free_path.axes[1].edges, cold_path.axes[1].edges)
    assert (free_path.metadata.instrument, free_path.metadata.ei) == ("", None)
    assert free_path.metadata.temperature == 50.0


def test_q_path_detailed_balance_on_the_expanded_hot_cell(hot_trajectory, al_structure):
    """600 K on the expanded NPT cell: detailed balance after StokesRaman, not without it.

    The cell is 1.3 % larger than the structure's (the supercell is still found); after the
    correction S(q,-E) = exp(-E/kT) S(q,E) over 3-48 meV, summed along the path.
    """
    maps = {kind: _md_path(hot_trajectory, al_structure, "600", QuantumCorrection=kind,
                           EBinning="-49.5,1.5,49.5") for kind in ("StokesRaman", "None")}
    e = maps["None"].axes[1].centres
    band = (e > 3) & (e < 48)  # every phonon (EMT Al's top is ~38 meV) and its resolution
    ratios = {}
    for kind, hist in maps.items():
        total = np.nansum(hist.signal, axis=0)
        loss, gain = total[np.searchsorted(e, e[band])], total[np.searchsorted(e, -e[band])]
        ratios[kind] = float(np.sum(gain * np.exp(e[band] / (K_B * 600.0))) / np.sum(loss))
    # 5 %: ARCS's resolution is wider at -E than at +E (as the powder band test)
    assert ratios["StokesRaman"] == pytest.approx(1.0, abs=0.05)
    assert ratios["None"] > 1.15  # the classical spectrum is symmetric


def _tosca_reference(phonopy_file: str, e_edges: np.ndarray, angle: float, efixed: float,
                     sigma, temperature: float) -> np.ndarray:
    """Harmonic one-phonon incoherent S(E) of a bank (arbitrary scale) on the MD's q-points.

    Modes of the 4 x 4 x 4 Gamma-centred mesh (the supercell's commensurate q-points), each
    weighted Q(E)^2 (n + 1) / E for a monatomic cubic crystal, Q(E) the bank's trajectory;
    Gaussian bin averages with the instrument sigma(E) (meV).
    """
    import phonopy

    from inslib.simulation.forward import indirect_q

    phonon = phonopy.load(phonopy_file)
    phonon.run_mesh([4, 4, 4], is_gamma_center=True, is_mesh_symmetry=False)
    energy = phonon.mesh.frequencies.ravel() * THZ_TO_MEV
    energy = energy[energy > 0.5]  # the three acoustic modes at Gamma
    weight = indirect_q(energy, efixed, angle) ** 2 / energy / -np.expm1(
        -energy / (K_B * temperature))
    width = sigma(energy)
    cdf = [0.5 * (1 + erf((edge[:, None] - energy[None, :]) / (np.sqrt(2) * width)))
           for edge in (e_edges[:-1], e_edges[1:])]
    return ((cdf[1] - cdf[0]) / np.diff(e_edges)[:, None]) @ weight


def test_indirect_se_against_the_harmonic_modes_of_the_same_supercell(long_cold_trajectory,
                                                                       emt_phonopy):
    """TOSCA, 50 K, incoherent approximation (Coherent off): Pearson r per bank > 0.85.

    Measured 0.926 (45 deg) and 0.920 (135 deg) on 8 ps of NVE. What is left is MD sampling:
    each mode's amplitude in a short NVE run is its initial one, and the 64-atom cell's 192
    modes are all it has.
    """
    from inslib.simulation.indirect import indirect_setting
    from inslib.simulation.requests import TemplateRequest

    md = run_algorithm("SimulateMDSQE", TrajectoryFile=long_cold_trajectory, TimeStep="10",
                       Temperature="50", Output="IndirectSE", Coherent="0",
                       QPointsPerBin="20", OutputWorkspace="tosca", **TOSCA)["OutputWorkspace"]
    harmonic = run_algorithm("SimulatePowderSQE", ForceConstantsFile=emt_phonopy,
                             Temperature="50", MeshSize="8", OutputWorkspace="h",
                             **TOSCA)["OutputWorkspace"]
    for ours, theirs in zip(md.axes, harmonic.axes, strict=True):
        np.testing.assert_allclose(ours.values, theirs.values)
    assert (md.metadata.emode, md.metadata.efixed) == ("Indirect", 3.32)
    assert "incoherent approximation" in md.metadata.provenance[-1]
    _, efixed, e_edges, resolution = indirect_setting(TemplateRequest(instrument="TOSCA",
                                                                      e_binning="3,1,45"))
    for bank, angle in enumerate(md.axes[0].values):
        reference = _tosca_reference(emt_phonopy, e_edges, angle, efixed,
                                     lambda x: np.interp(x, resolution.energy,
                                                         resolution.sigma), 50.0)
        row = md.signal[bank]
        kept = np.isfinite(row)
        assert kept.sum() >= 0.8 * len(row)  # a few low-|Q| bins between the cell's shells
        r = np.corrcoef(row[kept], reference[kept])[0, 1]
        assert r > 0.85, (bank, r)
