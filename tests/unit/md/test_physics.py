"""Physics of the MD route on small EMT Al trajectories (conftest).

Harmonic limit, anharmonic softening and broadening, detailed balance after the quantum
correction.
"""

import numpy as np
import pytest

from inslib.md.correlation import correlate
from inslib.md.peaks import strongest_mode
from inslib.md.qpoints import powder_qpoints
from inslib.md.spectrum import powder_map
from inslib.md.trajectory import scan_trajectory
from inslib.runtime.host import run_algorithm
from inslib.scattering.thermal import K_B

pytest.importorskip("dynasor")  # the md extra

FRAME_TIME = 10.0  # fs between the conftest trajectories' frames (5 fs steps, every 2nd)
TEMPLATE = {"Instrument": "ARCS", "Ei": "80", "EBinning": "-70.5,1.5,70.5",
            "QBinning": "1.5,0.1,6"}
THZ_TO_MEV = 4.135667696  # meV per THz (h x 1 THz)
# first-zone q-points as integer multiples of the 4 x 4 x 4 supercell's reciprocal vectors
Q_MULTIPLES = np.array([[1, 0, 0], [2, 0, 0], [1, 1, 0], [2, 2, 0], [1, 1, 1], [2, 1, 1],
                        [2, 2, 2], [1, -1, 0], [2, -1, 0]])
WINDOW = 250  # lags: 2.5 ps, energy spacing h / (501 x 10 fs) = 0.83 meV


def _per_q_peaks(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(peak energy, FWHM) per q of the strongest mode (meV) and the MD energy spacing (meV)."""
    info = scan_trajectory(path)
    q_points = Q_MULTIPLES @ (2 * np.pi * np.linalg.inv(info.cell).T)
    spectra = correlate(path, info, q_points=q_points, frame_time=FRAME_TIME, window=WINDOW,
                        window_step=WINDOW // 5, incoherent=False, elastic=False)
    energies, widths = strongest_mode(energy=spectra.energy, spectra=spectra.coherent)
    return energies, widths, float(spectra.energy[1])


@pytest.fixture(scope="module")
def cold_peaks(cold_trajectory):
    return _per_q_peaks(cold_trajectory)


def test_harmonic_limit_peaks_match_phonopy_per_q(cold_peaks, cold_trajectory, emt_phonopy):
    """50 K MD peaks lie within one MD energy spacing (0.83 meV) of EMT's harmonic modes.

    The harmonic mode compared is the one of largest |Q.e|^2 at each q (phonopy eigenvectors;
    these Q lie in the first zone, so Q = q).
    """
    import phonopy

    energies, _, step = cold_peaks
    phonon = phonopy.load(emt_phonopy)
    cell = scan_trajectory(cold_trajectory).cell
    q_cart = Q_MULTIPLES @ (2 * np.pi * np.linalg.inv(cell).T)
    phonon.run_qpoints(q_cart @ phonon.primitive.cell.T / (2 * np.pi), with_eigenvectors=True)
    weight = np.abs(np.einsum("qa,qam->qm", q_cart, phonon.qpoints.eigenvectors)) ** 2
    harmonic = phonon.qpoints.frequencies[np.arange(len(q_cart)), weight.argmax(axis=1)]
    # measured: 0.04-0.31 meV, 0.73 meV at the low-symmetry q [2,-1,0] (three split modes)
    np.testing.assert_array_less(np.abs(energies - harmonic * THZ_TO_MEV), step)


def test_anharmonic_softening_and_broadening(cold_peaks, hot_trajectory):
    """600 K (zero-pressure cell): modes soften and broaden against 50 K."""
    cold, cold_width, _ = cold_peaks
    hot, hot_width, _ = _per_q_peaks(hot_trajectory)
    # median over q: at the low-symmetry q [2,-1,0] two modes have similar |Q.e|^2, and which
    # is the strongest can change with T (benchmarks/bench_md.py --case anharmonic, 300 K)
    shift = float(np.median(hot - cold))
    assert shift < 0, f"median shift {shift:+.2f} meV"
    # widths: the window's taper alone gives FWHM 1.9 meV (sigma 0.79 meV); lifetimes add to it
    # at 600 K; 1.2 x leaves room for the sampling noise of 6 windows
    assert np.mean(hot_width) > 1.2 * np.mean(cold_width), (hot_width, cold_width)


@pytest.fixture(scope="module")
def cold_map(cold_trajectory):
    # Al scatters coherently (sigma_inc 0.008 barn of 1.5): coherent only, as the harmonic map
    return run_algorithm("SimulateMDSQE", TrajectoryFile=cold_trajectory, TimeStep="10",
                         Temperature="50", QPointsPerBin="20", Incoherent="0",
                         OutputWorkspace="md", **TEMPLATE)["OutputWorkspace"]


def test_the_map_is_on_the_template(cold_map):
    template = run_algorithm("CreateSQETemplate", OutputWorkspace="t", Temperature="50",
                             **TEMPLATE)["OutputWorkspace"]
    for ours, theirs in zip(cold_map.axes, template.axes, strict=True):
        np.testing.assert_array_equal(ours.edges, theirs.edges)
    assert np.all(cold_map.mask[template.mask])
    assert np.isnan(cold_map.signal[cold_map.mask]).all()
    assert np.isfinite(cold_map.signal[~cold_map.mask]).all()
    meta = cold_map.metadata
    assert (meta.instrument, meta.ei, meta.temperature) == ("ARCS", 80.0, 50.0)
    assert "SimulateMDSQE: PowderSQE, coherent from" in meta.provenance[-1]
    counts = meta.logs["MDQPointsPerBin"].value
    assert counts.max() == 20
    assert meta.logs["MDBraggQPoints"].value > 0  # q = G points, left out without Elastic
    assert np.all(cold_map.mask[counts == 0])  # bins without a q-point are masked
    # 234 lags x 10 fs: the taper's sigma 3 hbar / (W dt) within ARCS's narrowest, 0.847 meV
    assert meta.logs["MDCorrelationWindow"].value == pytest.approx(2340.0)
    assert meta.logs["QuantumCorrection"].value == "StokesRaman"


def test_harmonic_limit_powder_map_against_the_harmonic_route(cold_map, emt_phonopy):
    """Same template, same EMT Al: the Q-summed mean energy within one 1.5 meV bin.

    Peak positions are compared per q-point above (the 64-atom cell samples 64 q-points per
    zone, which weights the Q-summed peaks differently from the harmonic route's shells).
    """
    harmonic = run_algorithm("SimulatePowderSQE", ForceConstantsFile=emt_phonopy,
                             Temperature="50", OutputWorkspace="h", DirectionsPerShell="100",
                             ShellsPerBin="1", MeshSize="8", Incoherent="0",
                             **TEMPLATE)["OutputWorkspace"]
    use = ~(cold_map.mask | harmonic.mask)
    e = cold_map.axes[1].centres
    means = []
    for hist in (cold_map, harmonic):
        total = np.where(use, hist.signal, 0.0).sum(axis=0) * ((e > 5) & (e < 50))
        means.append((e * total).sum() / total.sum())
    assert means[0] == pytest.approx(means[1], abs=1.5)  # measured 19.71 vs 19.53 meV
    above = use & (e[None, :] > 5)
    r = np.corrcoef(cold_map.signal[above], harmonic.signal[above])[0, 1]
    # 64-atom cell: <= 20 q-points per bin against continuous shells, 5 windows: r = 0.53
    # measured; the r >= 0.9 acceptance needs the 6 x 6 x 6 run (benchmarks/bench_md.py)
    assert r > 0.4


@pytest.fixture(scope="module")
def hot_maps(hot_trajectory):
    return {kind: run_algorithm("SimulateMDSQE", TrajectoryFile=hot_trajectory, TimeStep="10",
                                Temperature="600", QPointsPerBin="20", Incoherent="0",
                                QuantumCorrection=kind, OutputWorkspace="md",
                                **TEMPLATE)["OutputWorkspace"]
            for kind in ("StokesRaman", "None")}


def _band_balance(hist, temperature: float, low: float, high: float) -> float:
    """Return sum S(-E) exp(E / kT) / sum S(E) over E in [low, high] meV, |Q| bins covered at +-E.

    1 under detailed balance. Band sums, not bin ratios: direct-geometry resolution is wider
    at -E than at +E, which moves intensity between neighbouring bins but not out of a band.
    """
    e = hist.axes[1].centres
    covered = ~(hist.mask | hist.mask[:, ::-1])  # the energy axis is symmetric about 0
    total = np.where(covered, hist.signal, 0.0).sum(axis=0)
    band = (e >= low) & (e <= high)
    loss, gain = total[band], total[::-1][band]
    return float(np.sum(gain * np.exp(e[band] / (K_B * temperature))) / np.sum(loss))


@pytest.mark.parametrize("band", [(6.0, 21.0), (21.0, 36.0)])
def test_quantum_correction_gives_detailed_balance(hot_maps, band):
    """S(Q,-E) = exp(-E/kT) S(Q,E) after the correction (600 K); not without it."""
    # 5 %: ARCS's resolution is wider at -E (sigma 1.9-3 meV) than at +E (0.85-1.9 meV), so
    # the band edges exchange different amounts with their neighbours: 0.5-2.4 % measured
    assert _band_balance(hot_maps["StokesRaman"], 600.0, *band) == pytest.approx(1.0, abs=0.05)
    # classical: the weighted mean of exp(E / kT) over the band, 1.27 and 1.62 measured
    assert _band_balance(hot_maps["None"], 600.0, *band) > 1.15


@pytest.mark.parametrize("correction", ["StokesRaman", "DetailedBalance"])
def test_detailed_balance_bin_by_bin_without_instrument_resolution(hot_trajectory, correction):
    """Per |Q| and E bin: S(-E) / S(E) = exp(-E / kT) over the bin, to the bin-averaging limit."""
    info = scan_trajectory(hot_trajectory)
    q_edges, e_edges = np.arange(1.5, 4.01, 0.25), np.arange(-36.75, 36.8, 1.5)
    qpoints = powder_qpoints(cell=info.cell, q_edges=q_edges, wanted=np.ones(10, bool),
                             max_per_bin=10, seed=0)
    spectra = correlate(hot_trajectory, info, q_points=qpoints.q_points, frame_time=FRAME_TIME,
                        window=138, window_step=34, incoherent=False, elastic=False)
    maps = {kind: powder_map(energy=spectra.energy, spectra=spectra.coherent, bins=qpoints.bins,
                             n_bins=10, e_edges=e_edges, resolution_sigma=np.zeros_like,
                             taper_sigma=spectra.taper_sigma, temperature=600.0,
                             correction=kind) for kind in (correction, "None")}
    e = 0.5 * (e_edges[1:] + e_edges[:-1])
    loss = e > 3
    ratio = maps[correction][:, ::-1][:, loss] / maps[correction][:, loss]
    # a bin average of exp(-x / kT) over 1.5 meV differs from its centre value by < 1.5 % at
    # 600 K (beta x 0.75 meV = 0.0145)
    expected = np.broadcast_to(np.exp(-e[loss] / (K_B * 600.0)), ratio.shape)
    np.testing.assert_allclose(ratio, expected, rtol=0.015)
    classical = maps["None"][:, ::-1][:, loss] / maps["None"][:, loss]
    np.testing.assert_allclose(classical, 1.0, rtol=1e-9)


def test_elastic_keeps_the_bragg_line_and_nothing_else(cold_trajectory):
    """Elastic=True adds the static part (a Bragg peak at G) at E = 0 only."""
    info = scan_trajectory(cold_trajectory)
    reciprocal = 2 * np.pi * np.linalg.inv(info.cell).T
    q_points = np.array([[4, 0, 0], [1, 0, 0]]) @ reciprocal  # G of the primitive cell; not G
    with_line, without = (correlate(cold_trajectory, info, q_points=q_points,
                                    frame_time=FRAME_TIME, window=100, window_step=25,
                                    incoherent=False, elastic=elastic)
                          for elastic in (True, False))
    # at G the static part is N exp(-2W) b^2 per atom: 64 x 0.99 x 119 mbarn, spread over the
    # taper's sigma (2 meV): thousands of times the phonons at E = 0
    assert with_line.coherent[0, 0] > 100 * abs(without.coherent[0, 0])
    # beyond 6 taper sigmas (12 meV) the static part's Gaussian is < 2e-8 of its height
    far = with_line.energy > 6 * with_line.taper_sigma
    np.testing.assert_allclose(with_line.coherent[:, far], without.coherent[:, far],
                               rtol=1e-3, atol=1e-6 * with_line.coherent[0, 0])
