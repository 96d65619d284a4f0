"""SimulateSingleCrystalSQE: bin averages, MDNorm templates, q-paths, bad input."""

import numpy as np
import pytest

from inslib.io.nexus_md import read_md, write_md
from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.simulation.requests import SingleCrystalRequest
from inslib.simulation.single_crystal import run_single_crystal


def _cut(ge_files, samples, seed):
    request = SingleCrystalRequest(ge_files["ForceConstantsFile"], ge_files["StructureFile"],
                                   q_binning=["3.8,0.4,4.2", "-0.1,0.1", "-0.1,0.1"],
                                   e_binning="0,5,40", temperature=10.0, fwhm=1.0,
                                   samples=samples, seed=seed, grid=8)
    return run_single_crystal(request).signal.reshape(-1)


def test_bin_value_is_an_unbiased_bin_average(ge_files):
    """One random point per bin estimates the bin average without bias.

    Around the (4,0,0) zone centre the intensity varies strongly inside the bin: the mean of
    one-point estimates over 30 seeds agrees with a dense (216 points) average within 4
    standard errors, and the value at the bin centre is far from both.
    """
    dense = _cut(ge_files, 216, 0)  # 216 points per bin (all three dimensions integrated)
    singles = np.array([_cut(ge_files, 1, seed) for seed in range(30)])
    mean, error = singles.mean(axis=0), singles.std(axis=0, ddof=1) / np.sqrt(len(singles))
    strong = dense > 0.05 * dense.max()
    assert np.all(np.abs(mean - dense)[strong] <= 4 * error[strong] + 1e-3 * dense.max())
    centre = SingleCrystalRequest(ge_files["ForceConstantsFile"], ge_files["StructureFile"],
                                  q_binning=["3.99999,0.00002,4.00001", "-1e-5,1e-5", "-1e-5,1e-5"],
                                  e_binning="0,5,40", temperature=10.0, fwhm=1.0, grid=8)
    at_centre = run_single_crystal(centre).signal.reshape(-1)
    assert np.abs(at_centre - dense).max() > 0.2 * dense.max()


def test_md_template_from_mdnorm_file(shared, ge_files, tmp_path):
    """The Sunny/MDNorm 4D file as template: same dimensions, projections, edges; SaveMD out."""
    template = read_md(shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs")
    out = run_algorithm("SimulateSingleCrystalSQE", InputWorkspace=template, Temperature="5",
                        EnergyResolution="0.05", MeshSize="6", OutputWorkspace="s",
                        **ge_files)["OutputWorkspace"]
    assert out.shape == template.shape
    for ours, theirs in zip(out.axes, template.axes, strict=True):
        np.testing.assert_allclose(ours.edges, theirs.edges)
        assert ours.projection == theirs.projection
    back = read_md(write_md(out, tmp_path / "sim.nxs"))
    assert [a.name for a in back.axes][:3] == [a.name for a in template.axes][:3]
    np.testing.assert_allclose(back.signal, out.signal)


def test_slice_has_hkl_dimensions_and_cubic_symmetry_of_the_mean(ge_files):
    """[H,K,0] slice of Ge: S(H,K) and S(K,H) agree within the sampling noise (m-3m)."""
    out = run_algorithm("SimulateSingleCrystalSQE", Temperature="10", EnergyResolution="2",
                        Dimension0Binning="0,0.5,3", Dimension1Binning="0,0.5,3",
                        Dimension2Binning="-0.05,0.05", Dimension3Binning="2,4,38",
                        SamplesPerBin="3", MeshSize="6", OutputWorkspace="s",
                        **ge_files)["OutputWorkspace"]
    assert out.shape == (6, 6, 1, 9)
    assert [a.name for a in out.axes] == ["[H,0,0]", "[0,K,0]", "[0,0,L]", "DeltaE"]
    slab = out.signal[:, :, 0].sum(axis=-1)
    assert np.allclose(slab, slab.T, rtol=0.35)  # 27 random points per bin
    assert np.corrcoef(slab.ravel(), slab.T.ravel())[0, 1] > 0.95


def test_qpath_ticks_and_unknown_label(ge_files):
    out = run_algorithm("SimulateSingleCrystalSQE", Temperature="10", QPath="G-X-U|K-G",
                        EnergyResolution="1", MeshSize="6", OutputWorkspace="s",
                        **ge_files)["OutputWorkspace"]
    labels = [label for _, label in out.axes[0].ticks]
    assert labels == ["G", "X", "U|K", "G"]
    assert out.axes[0].unit == "Path"
    with pytest.raises(ValueError, match=r"QPath='G-Q': unknown label"):
        run_algorithm("SimulateSingleCrystalSQE", Temperature="10", QPath="G-Q",
                      OutputWorkspace="s", **ge_files)


@pytest.mark.parametrize(("properties", "prop"), [
    ({"Temperature": "-1"}, "Temperature"),
    ({"QDimension2": "1,0,0"}, "QDimension2"),
    ({"QDimension1": "1,0"}, "QDimension1"),
    ({"Dimension0Binning": "2,0.1,1"}, "Dimension0Binning"),
    # memory guard: a 1e4 x 1e5 grid is refused before anything is allocated
    ({"Dimension0Binning": "-5,0.001,5", "Dimension1Binning": "-5,0.0001,5"},
     "Dimension0Binning"),
    ({"QPath": "G-X", "QResolution": "0.1"}, "QResolution"),
    # the (Q, E) covariance needs a direct Fermi-chopper setting and replaces QResolution
    ({"QPath": "G-X", "QEResolution": "Covariance", "EnergyResolution": "1"}, "QEResolution"),
    ({"QEResolution": "Covariance", "Instrument": "MERLIN", "Ei": "45", "QResolution": "0.1"},
     "QEResolution"),
    ({"QPath": "G-X", "QEResolution": "Covariance", "Instrument": "LET", "Ei": "10"},
     "QEResolution"),
    # chopper settings: offered values only, transmitting at Ei, with an Instrument only
    ({"QPath": "G-X", "Instrument": "ARCS", "Ei": "40", "ChopperFrequency": "650"},
     "ChopperFrequency"),
    ({"QPath": "G-X", "Instrument": "ARCS", "Ei": "300", "ChopperFrequency": "60",
      "ChopperPackage": "ARCS-700-0.5-AST"}, "ChopperFrequency"),
    ({"QPath": "G-X", "EnergyResolution": "1", "ChopperFrequency": "600"}, "ChopperFrequency"),
])
def test_bad_input_names_the_property(ge_files, properties, prop):
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulateSingleCrystalSQE", OutputWorkspace="s",
                      **{"Temperature": "10", **ge_files, **properties})
    assert prop in info.value.errors


def test_powder_workspace_is_not_a_4d_template(shared, ge_files):
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("SimulateSingleCrystalSQE", Temperature="10", OutputWorkspace="s",
                      InputWorkspace=str(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5"), **ge_files)
    assert "4D" in info.value.errors["InputWorkspace"]


def test_grid_on_an_instrument_masks_bins_no_orientation_reaches(ge_files):
    """Kinematic mask of a single-crystal grid (Instrument + Ei, no template).

    Reference: 200 random points in every bin give its |Q| range; a bin is reachable at an
    energy bin when that range overlaps a bank's [Q_min, Q_max] (q_limits, itself checked
    against euphonic's kinematic maps). No reachable bin may be masked; kept bins that the
    points do not reach are the conservative edge (|centre| -+ circumradius): 1.1 % seen,
    3 % allowed.
    """
    from inslib.instruments import load_instrument
    from inslib.instruments.kinematics import q_limits
    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.simulation.grid import hkl_cell

    out = run_algorithm("SimulateSingleCrystalSQE", Temperature="10", Instrument="ARCS",
                        Ei="40", Dimension0Binning="-6,0.25,6", Dimension1Binning="-6,0.25,6",
                        Dimension2Binning="-0.1,0.1", Dimension3Binning="0,2,38",
                        MeshSize="6", OutputWorkspace="s", **ge_files)["OutputWorkspace"]
    mask = out.mask.reshape(-1, out.shape[-1])
    assert 0.05 < mask.mean() < 0.5
    assert np.isnan(out.signal[out.mask]).all()
    assert np.isfinite(out.signal[~out.mask]).all()
    assert (out.metadata.instrument, out.metadata.ei) == ("ARCS", 40.0)

    fcs = load_force_constants(ge_files["ForceConstantsFile"], ge_files["StructureFile"])
    to_cart = 2 * np.pi * np.linalg.inv(hkl_cell(to_primitive(fcs).crystal)).T
    lo = np.stack(np.meshgrid(*[a.edges[:-1] for a in out.axes[:3]], indexing="ij"), -1)
    width = np.stack(np.meshgrid(*[np.diff(a.edges) for a in out.axes[:3]], indexing="ij"), -1)
    points = lo.reshape(-1, 1, 3) + np.random.default_rng(1).random(
        (mask.shape[0], 200, 3)) * width.reshape(-1, 1, 3)
    q = np.linalg.norm(points @ to_cart, axis=-1)
    q_min, q_max = q_limits(out.axes[3].edges, 40.0, "direct", load_instrument("ARCS").banks_deg)
    with np.errstate(invalid="ignore"):
        reached = ((q.min(axis=1)[:, None, None] <= q_max[None])
                   & (q.max(axis=1)[:, None, None] >= q_min[None])).any(axis=-1)
    assert not np.any(mask & reached)
    assert np.count_nonzero(~mask & ~reached) < 0.03 * np.count_nonzero(~mask)


def test_q_resolution_is_the_gaussian_convolution_of_the_bin_averages(ge_files):
    """QResolution on a grid: Monte-Carlo displaced points vs Gauss-Hermite quadrature.

    The reference convolves deterministically: a weighted sum of the unbroadened bin averages
    of the grid shifted by the 5 x 5 x 5 Gauss-Hermite nodes of the 3D Gaussian (exact for
    polynomials of degree 9 in the shift). Away from the Bragg point (H 2.3-3.1 along (H,2,0),
    E > 4 meV) the two routes differ by 2.1 % and 1.5 % of the cut's maximum (two seeds of the
    Monte Carlo, 16^3 points per bin; the reference 216 per node): 5 % allowed. Unbroadened
    differs by 34 %: the check can tell.
    """
    from numpy.polynomial.hermite_e import hermegauss

    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.binning import FWHM_TO_SIGMA
    from inslib.scattering.thermal import debye_waller
    from inslib.simulation.grid import GridRequest, hkl_cell, simulate_grid

    fcs = to_primitive(load_force_constants(ge_files["ForceConstantsFile"],
                                            ge_files["StructureFile"]))
    model = PhononModel(fcs)
    dw = debye_waller(model, 10.0, (6, 6, 6))
    cell = hkl_cell(fcs.crystal)
    edges = [np.arange(2.3, 3.11, 0.1), np.array([1.95, 2.05]), np.array([-0.05, 0.05])]
    q_fwhm = 0.15  # 1/Angstrom

    def cut(shift, samples, seed, fwhm):
        request = GridRequest(np.eye(3), [e + d for e, d in zip(edges, shift, strict=True)],
                              np.arange(4, 37, 2.0), 10.0, 1.0, samples, seed, cell,
                              q_resolution=fwhm)
        return simulate_grid(model, request, dw).signal.reshape(len(edges[0]) - 1, -1)

    nodes, weights = hermegauss(5)
    weights = weights / weights.sum()
    to_rlu = np.linalg.inv(2 * np.pi * np.linalg.inv(cell).T)  # Cartesian 1/A -> r.l.u.
    # 216 points per bin of a cut: the 6^3 of the reference before SamplesPerBin scaled with
    # the binned dimensions only
    reference = sum(
        weights[i] * weights[j] * weights[k]
        * cut(np.array([nodes[i], nodes[j], nodes[k]]) * q_fwhm * FWHM_TO_SIGMA @ to_rlu, 216,
              100 + 25 * i + 5 * j + k, 0.0)
        for i in range(5) for j in range(5) for k in range(5))
    scale = reference.max()
    assert np.abs(cut(np.zeros(3), 16, 1, q_fwhm) - reference).max() < 0.05 * scale
    assert np.abs(cut(np.zeros(3), 16, 1, 0.0) - reference).max() > 0.2 * scale


def test_qe_covariance_resolution_on_a_cut(ge_files):
    """QEResolution=Covariance runs through the algorithm and moves intensity, not creates it.

    Ge, an H cut through the (4,0,0) zone on MERLIN at Ei = 45 meV: the covariance convolution
    (checked against an event Monte Carlo in tests/unit/scattering/test_qe_resolution.py)
    changes the cut, keeps its total within 10 % (offsets beyond the kinematic limit and the
    energy window lose a little; 16 points per bin leave ~3 % noise) and records the choice.
    """
    common = {"Temperature": "100", "Instrument": "MERLIN", "Ei": "45",
              "Dimension0Binning": "3.5,0.05,4.5", "Dimension1Binning": "-0.05,0.05",
              "Dimension2Binning": "-0.05,0.05", "Dimension3Binning": "2,1,40",
              "SamplesPerBin": "16", "MeshSize": "6", "OutputWorkspace": "s", **ge_files}
    energy = run_algorithm("SimulateSingleCrystalSQE", **common)["OutputWorkspace"]
    covariance = run_algorithm("SimulateSingleCrystalSQE", QEResolution="Covariance",
                               **common)["OutputWorkspace"]
    total = np.nansum(energy.signal)
    assert np.nansum(covariance.signal) == pytest.approx(total, rel=0.1)
    assert np.nanmax(np.abs(covariance.signal - energy.signal)) > 0.05 * np.nanmax(energy.signal)
    assert "Covariance resolution" in covariance.metadata.provenance[-1]


def test_qe_covariance_takes_the_orientation_the_psi_scan_measures(ge_files):
    """With Psi, each point takes the k_i orientation the scan measures.

    tests/unit/scattering/test_qe_resolution.py checks the choice itself. On the Ge cut of
    the test above, a full turn measures both orientations everywhere and so gives exactly the
    result without Psi; a 30 degree scan (30-60 degrees, which reaches the (4,0,0) zone's
    strong bins) measures one orientation at most points and changes the cut by 56 % of its
    maximum (measured; 20 % asked).
    """
    common = {"Temperature": "100", "Instrument": "MERLIN", "Ei": "45",
              "QEResolution": "Covariance", "Dimension0Binning": "3.5,0.05,4.5",
              "Dimension1Binning": "-0.05,0.05", "Dimension2Binning": "-0.05,0.05",
              "Dimension3Binning": "2,1,40", "SamplesPerBin": "4", "MeshSize": "6",
              "OutputWorkspace": "s", **ge_files}
    free, turn, narrow = (run_algorithm("SimulateSingleCrystalSQE", **common, **psi)[
        "OutputWorkspace"].signal for psi in ({}, {"Psi": "-180,180,1"}, {"Psi": "30,60,1"}))
    np.testing.assert_array_equal(turn, free)
    both = np.isfinite(narrow) & np.isfinite(free)
    assert both.sum() > 100
    assert np.abs(narrow - free)[both].max() > 0.2 * np.nanmax(free)


def test_chopper_frequency_sets_the_energy_resolution(ge_files):
    """ChopperFrequency=600 narrows the q-path's lines as the powder model's FWHM says.

    Reference: the instrument model's FWHM at 300 and 600 Hz (ARCS, Ei = 100 meV).
    Each path point's energy profile is Gaussians of that FWHM: the second moment of the
    strongest line scales as the FWHM ratio (10 % allowed for the line's own structure).
    """
    from inslib.instruments import load_instrument
    from inslib.instruments.resolution import resolution_fwhm, resolved_settings

    def widths(frequency):
        out = run_algorithm("SimulateSingleCrystalSQE", Temperature="10", QPath="G-X",
                            PathStep="0.5", Instrument="ARCS", Ei="100",
                            ChopperFrequency=str(frequency), Dimension3Binning="0,0.1,45",
                            MeshSize="6", OutputWorkspace="s", **ge_files)["OutputWorkspace"]
        signal = np.nan_to_num(out.signal.reshape(out.shape[0], -1))
        energy = out.axes[-1].centres
        row = signal[np.argmax(signal.max(axis=1))]
        peak = energy[np.argmax(row)]
        near = np.abs(energy - peak) < 5.0  # 2 FWHM at 300 Hz
        weights = row[near] / row[near].sum()
        return np.sqrt(np.sum(weights * (energy[near] - peak) ** 2))

    arcs = load_instrument("ARCS")
    model = [resolution_fwhm(arcs, [30.0], 100.0,
                             resolved_settings(arcs, {"ChopperFrequency": f}))[0]
             for f in (300, 600)]
    assert model[1] < 0.8 * model[0]
    measured = widths(600) / widths(300)
    print(f"\nFWHM 600 / 300 Hz: model {model[1] / model[0]:.3f}, lines {measured:.3f}")
    assert measured == pytest.approx(model[1] / model[0], rel=0.1)
