"""FoldBrillouinZone: masking, symmetry, error propagation, the real MDNorm file, bad input."""

from itertools import pairwise

import numpy as np
import pytest

from inslib.axes import Axis
from inslib.folding.geometry import FoldError, build_fold, fold_geometry
from inslib.folding.run import FoldRequest, run_fold
from inslib.histogram import MDHISTO, Histogram, Metadata
from inslib.io.nexus_md import read_md
from inslib.runtime.host import InvalidArgumentsError, run_algorithm
from inslib.simulation.qpath import parse_path
from inslib.simulation.setup import cached_setup

EDGES = np.linspace(-2.55, 2.55, 52)  # 51 bins per HKL axis, symmetric about 0
E_EDGES = np.linspace(0.0, 40.0, 21)
PATH = "G-X-U|K-G-L"


@pytest.fixture(scope="module")
def ge(ge_files):
    return {"structure": ge_files["StructureFile"],
            "setup": cached_setup(ge_files["ForceConstantsFile"], ge_files["StructureFile"],
                                  10.0, 8)}


def _volume(signal, variance=None, mask=None) -> Histogram:
    axes = [Axis(EDGES, "r.l.u.", name, frame="HKL", projection=p)
            for name, p in (("[H,0,0]", (1.0, 0.0, 0.0)), ("[0,K,0]", (0.0, 1.0, 0.0)),
                            ("[0,0,L]", (0.0, 0.0, 1.0)))]
    axes.append(Axis(E_EDGES, "DeltaE", "DeltaE"))
    variance = np.zeros(signal.shape) if variance is None else variance
    mask = np.zeros(signal.shape, bool) if mask is None else mask
    return Histogram(axes, signal, variance, mask, Metadata(lattice=(5.6575,) * 3 + (90.0,) * 3),
                     kind=MDHISTO)


def _modes_on_grid(ge):
    """Mode energies (meV) at every voxel centre, shape (51, 51, 51, 6)."""
    model = ge["setup"].model
    centres = 0.5 * (EDGES[1:] + EDGES[:-1])
    grids = np.meshgrid(centres, centres, centres, indexing="ij")
    hkl = np.stack([g.ravel() for g in grids], axis=1)
    conventional = np.eye(3) * 5.6575
    q_frac = hkl @ (2 * np.pi * np.linalg.inv(conventional).T) @ np.linalg.inv(
        model.crystal.reciprocal)
    freqs = np.concatenate([model.modes(q_frac[i:i + 20000]).frequencies[0].numpy()
                            for i in range(0, len(q_frac), 20000)])
    return freqs.reshape(51, 51, 51, -1)


def _test_function(freqs, sigma=2.0):
    """Sum over modes of a Gaussian in E: periodic, point-group symmetric, no structure factor."""
    centres = 0.5 * (E_EDGES[1:] + E_EDGES[:-1])
    return np.exp(-((centres - freqs[..., None]) ** 2) / (2 * sigma**2)).sum(axis=-2)


@pytest.fixture(scope="module")
def test_volume(ge):
    return _test_function(_modes_on_grid(ge))


def _fold(volume, ge, **options):
    request = FoldRequest(volume, structure=ge["structure"], path=PATH,
                          half_width=options.pop("half_width", 0.12), step=0.1, **options)
    return run_fold(request)


def test_masked_fold_agrees_with_unmasked_within_sampling_error(ge, test_volume):
    """70 % of the voxels masked at random: each bin moves by no more than its sampling error.

    Keeping each voxel with probability p = 0.3, the ratio estimate sum(c k y) / sum(c k)
    (k = kept, c = multiplicity in the bin) has variance (1 - p) / p sum c^2 (y - mu)^2 /
    (sum c)^2 (delta method). Bins with >= 5 voxels kept: all within 5 std, 97 % within 3.
    """
    rng = np.random.default_rng(7)
    mask = rng.random(test_volume.shape) < 0.7
    full, counts = _fold(_volume(test_volume), ge)
    part, part_counts = _fold(_volume(test_volume, mask=mask), ge)
    matrix = _matrix(ge)
    squared = matrix.multiply(matrix)
    y = _flat(test_volume)
    mu = full.signal
    spread = (squared @ y**2 - 2 * mu * (squared @ y) + mu**2 * (squared @ np.ones_like(y)))
    expected = np.sqrt(np.clip(spread, 0, None) * (0.7 / 0.3)) / (matrix @ np.ones_like(y))
    use = part_counts.signal >= 5
    deviation = np.abs(part.signal - full.signal)[use] / (expected[use] + 1e-9)
    assert np.all(deviation < 5)
    assert np.mean(deviation < 3) > 0.97
    assert 0.25 < part_counts.signal.sum() / counts.signal.sum() < 0.35


def _flat(x):
    """(51, 51, 51, n_e) -> (n_voxels, n_e) in the SaveMD on-disk voxel order."""
    return x.transpose(3, 2, 1, 0).reshape(x.shape[3], -1).T


def _matrix(ge, half_width=0.12):
    from inslib.folding.run import voxel_hkl

    crystal = read_crystal(ge["structure"])
    volume = _volume(np.zeros((51, 51, 51, 20)))
    return build_fold(voxel_hkl(volume.axes), parse_path(PATH, crystal), fold_geometry(
        crystal, volume.metadata.lattice), half_width, 0.1).matrix


def test_fold_of_symmetric_periodic_function_equals_direct_path(ge, test_volume):
    """Folding reproduces a periodic, symmetric, structure-factor-free function on the path.

    The function averaged along each path bin is the reference. Cylinder radius 0.06 1/A:
    dispersion slopes up to 40 meV A shift energies by < 2.4 meV against a 2 meV Gaussian;
    bins within 0.2 1/A of Gamma are left out (there the radius is comparable to |q|).
    Targets: r > 0.98, median error < 2 % and no bin off by more than 20 % of the maximum
    (each bin averages only 1-3 voxels of the 0.11 1/A grid, placed up to 0.06 1/A off axis).
    """
    folded, _ = _fold(_volume(test_volume), ge, half_width=0.06)
    model = ge["setup"].model
    crystal = read_crystal(ge["structure"])
    segments = parse_path(PATH, crystal)
    geometry = fold_geometry(crystal)
    direct = np.zeros(folded.shape)
    edges = folded.axes[0].edges
    for bin_index, (lo, hi) in enumerate(pairwise(edges)):
        points = lo + (hi - lo) * (np.arange(9) + 0.5) / 9  # the bin average along the path
        hkl = np.array([_hkl_at(segments, geometry.metric, x) for x in points])
        cartesian = hkl @ (2 * np.pi * np.linalg.inv(crystal.cell).T)
        q_frac = cartesian @ np.linalg.inv(model.crystal.reciprocal)
        freqs = model.modes(q_frac).frequencies[0].numpy()
        direct[bin_index] = _test_function(freqs).mean(axis=0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    gammas = np.array([x for x, label in folded.axes[0].ticks if label.endswith("G")
                       or label.startswith("G")])
    # within 0.2 1/A of Gamma the cylinder radius is comparable to |q| itself
    far = np.min(np.abs(centres[:, None] - gammas[None]), axis=1) > 0.2
    good = np.isfinite(folded.signal) & far[:, None]
    r = np.corrcoef(folded.signal[good], direct[good])[0, 1]
    error = np.abs(folded.signal - direct)[good] / direct.max()
    print(f"folded vs direct path: r = {r:.4f}, median error {np.median(error):.4f}, "
          f"max {error.max():.3f}")
    assert r > 0.98  # measured 0.991
    assert np.median(error) < 0.02  # measured 0.008
    assert np.max(error) < 0.2  # measured 0.152: 1-3 voxels (spacing 0.11 1/A) per bin


def read_crystal(structure):
    from inslib.structure import conventional, load_structure

    return conventional(load_structure(structure))


def _hkl_at(segments, metric, position):
    start = 0.0
    for _, _, a, b in segments:
        length = float(np.sqrt((b - a) @ metric @ (b - a)))
        if position <= start + length:
            return a + (position - start) / length * (b - a)
        start += length
    return segments[-1][3]


@pytest.mark.parametrize("operation", ["permute", "flip", "both"])
def test_fold_invariant_under_point_group_rotation_of_the_input(ge, test_volume, operation):
    rng = np.random.default_rng(3)
    noisy = test_volume * rng.uniform(0.5, 1.5, test_volume.shape)
    mask = rng.random(test_volume.shape) < 0.5
    rotated = {"permute": lambda x: x.transpose(1, 2, 0, 3),
               "flip": lambda x: x[::-1],
               "both": lambda x: x[:, ::-1].transpose(2, 0, 1, 3)}[operation]
    original, _ = _fold(_volume(noisy, mask=mask), ge)
    turned, _ = _fold(_volume(rotated(noisy), mask=rotated(mask)), ge)
    np.testing.assert_allclose(turned.signal, original.signal, rtol=1e-10, equal_nan=True)


@pytest.mark.slow
def test_error_propagation_against_monte_carlo(ge, test_volume):
    """Propagated variances match a Monte-Carlo estimate (inverse-variance weights).

    The spread of 200 noisy realisations folded the same way: median ratio within 10 %, every
    bin within 40 % (the relative spread of a 200-sample variance is 10 %).
    """
    rng = np.random.default_rng(11)
    sigma = 0.05 + 0.2 * rng.random(test_volume.shape)
    folded, counts = _fold(_volume(test_volume, sigma**2), ge)
    matrix = _matrix(ge)
    weight = _flat(1 / sigma**2)
    denominator = matrix @ weight
    samples = [matrix @ (weight * _flat(test_volume + sigma * rng.standard_normal(
        sigma.shape))) / denominator for _ in range(200)]
    empirical = np.var(samples, axis=0, ddof=1)
    use = counts.signal > 0
    ratio = empirical[use] / folded.variance[use]
    assert abs(np.median(ratio) - 1) < 0.1
    assert np.all((ratio > 0.6) & (ratio < 1.4))


def test_real_mdnorm_file_folds(shared):
    """The real MDNorm file (Sunny.jl) folds: a degenerate one-voxel case.

    One bin in each Q dimension (H = 0, [-0.5K,K,0] = 0.667, L = 0) and 88 energies, folded
    onto K-M of P6/mmm: the single voxel is the K point, so exactly the first path bin receives
    it, with its values; every other bin is empty (NaN, count 0).
    """
    path = shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs"
    template = read_md(path)
    out = run_algorithm("FoldBrillouinZone", InputFile=str(path), SpaceGroup="P6/mmm",
                        Lattice="5,5,10,90,90,120", QPath="K-M", PerpendicularHalfWidth="0.2",
                        PathStep="0.1", OutputWorkspace="f", OutputCountsWorkspace="c")
    folded, counts = out["OutputWorkspace"], out["OutputCountsWorkspace"]
    voxel = template.signal.reshape(-1)
    finite = np.isfinite(voxel)
    np.testing.assert_array_equal(counts.signal[0], finite.astype(float))
    assert counts.signal[1:].sum() == 0
    np.testing.assert_allclose(folded.signal[0][finite], voxel[finite])
    assert np.all(np.isnan(folded.signal[1:]))
    assert [label for _, label in folded.axes[0].ticks] == ["K", "M"]


def test_lattice_property_reaches_outputs_and_provenance_has_plain_numbers(shared, tmp_path):
    """The Sunny.jl file records no lattice: the Lattice property is the outputs' lattice."""
    from inslib.io.files import load_workspace, save_workspace

    path = shared / "mantid_files" / "Sunny.jl_1Dcut_sym_0p00T_K.nxs"
    out = run_algorithm("FoldBrillouinZone", InputFile=str(path), SpaceGroup="P6/mmm",
                        Lattice="5,5,10,90,90,120", QPath="K-M", PerpendicularHalfWidth="0.2",
                        PathStep="0.1", OutputWorkspace="f", OutputCountsWorkspace="c")
    lattice = (5.0, 5.0, 10.0, 90.0, 90.0, 120.0)
    for name in ("OutputWorkspace", "OutputCountsWorkspace"):
        metadata = out[name].metadata
        assert metadata.lattice == lattice
        assert all(type(value) is float for value in metadata.lattice)
        note = metadata.provenance[-1]
        assert "half-width 0.2 1/A, step 0.1 1/A" in note
        assert "lattice 5.0, 5.0, 10.0, 90.0, 90.0, 120.0" in note
        assert "np." not in note
    back = load_workspace(save_workspace(out["OutputWorkspace"], tmp_path / "folded.nxs"))
    assert back.metadata.lattice == pytest.approx(lattice)


def test_simulated_input_through_the_algorithm_and_files(ge, tmp_path):
    """SimulateSingleCrystalSQE output, saved with SaveMD layout, folds from the file."""
    from inslib.io.files import load_workspace

    simulated = run_algorithm("SimulateSingleCrystalSQE", ForceConstantsFile=str(
        ge["setup"].source), StructureFile=ge["structure"], Temperature="10",
        Dimension0Binning="-1.5,0.1,1.5", Dimension1Binning="-1.5,0.1,1.5",
        Dimension2Binning="-1.5,0.1,1.5", Dimension3Binning="0,2,40", EnergyResolution="2",
        MeshSize="6", OutputWorkspace=str(tmp_path / "sim.nxs"))["OutputWorkspace"]
    from inslib.io.files import save_workspace

    file = save_workspace(simulated, tmp_path / "sim.nxs")
    out = run_algorithm("FoldBrillouinZone", InputFile=str(file),
                        StructureFile=ge["structure"], QPath="G-X", PathStep="0.1",
                        PerpendicularHalfWidth="0.12", OutputWorkspace="f")["OutputWorkspace"]
    back = load_workspace(save_workspace(out, tmp_path / "folded.nxs"))
    assert [label for _, label in back.axes[0].ticks] == ["G", "X"]
    assert np.isfinite(back.signal).mean() > 0.8
    assert np.nanmax(back.signal) > 0


def test_bad_input_names_the_property(shared, ge, test_volume):
    powder = str(shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5")
    with pytest.raises(FoldError, match="InputWorkspace: needs a 4D"):
        run_fold(FoldRequest(read_md_or_powder(powder), structure=ge["structure"]))
    flat = _volume(test_volume)
    flat.axes = (Axis(EDGES, "r.l.u.", "Q_x"), *flat.axes[1:])
    with pytest.raises(FoldError, match="no HKL frame/projection"):
        run_fold(FoldRequest(flat, structure=ge["structure"]))
    with pytest.raises(ValueError, match=r"QPath: QPath='G-Q': unknown label"):
        run_fold(FoldRequest(_volume(test_volume), structure=ge["structure"], path="G-Q"))
    with pytest.raises(FoldError, match=r"PerpendicularHalfWidth: \[0.0\] is not valid"):
        run_fold(FoldRequest(_volume(test_volume), structure=ge["structure"], half_width=0))
    with pytest.raises(FoldError, match="inconsistent with Lattice"):
        run_fold(FoldRequest(_volume(test_volume), space_group="Fm-3m",
                             lattice=(5.0, 5.0, 7.0, 90.0, 90.0, 120.0)))
    far = FoldRequest(_volume(test_volume), structure=ge["structure"],
                      path="[10,10,10]-[10.5,10,10.5]", half_width=1e-4)
    with pytest.raises(FoldError, match="no voxel of any zone"):
        run_fold(far)
    with pytest.raises(InvalidArgumentsError) as info:
        run_algorithm("FoldBrillouinZone", OutputWorkspace="f", PerpendicularHalfWidth="0")
    assert {"PerpendicularHalfWidth", "StructureFile"} <= set(info.value.errors)


def read_md_or_powder(path):
    from inslib.io.files import load_workspace

    return load_workspace(path)


def test_data_and_normalisation_volumes_fold_as_sums(ge, test_volume):
    """MDNorm's two outputs fold as sums: sum(D) / sum(N).

    That equals the inverse-variance fold of I = D / N with variances 1 / N (both are means of
    I weighted by N), to 1e-10.
    """
    rng = np.random.default_rng(5)
    norm = rng.uniform(0.2, 3.0, test_volume.shape)
    mask = rng.random(test_volume.shape) < 0.3
    data_volume = _volume(test_volume * norm, mask=mask)
    norm_volume = _volume(norm, mask=mask)
    folded, _ = run_fold(FoldRequest(data=data_volume, normalization=norm_volume,
                                     structure=ge["structure"], path=PATH, half_width=0.12,
                                     step=0.1))
    weighted, _ = _fold(_volume(test_volume, 1.0 / norm, mask=mask), ge)
    np.testing.assert_allclose(folded.signal, weighted.signal, rtol=1e-10, equal_nan=True)


def test_zone_selection(ge, test_volume):
    """Zones and MinZoneCoverage select zones.

    Zones='0,0,0' keeps only voxels reduced from the first zone; a non-lattice vector is
    refused; MinZoneCoverage drops a zone whose voxels are all masked.
    """
    everything, all_counts = _fold(_volume(test_volume), ge)
    _, first_counts = _fold(_volume(test_volume), ge, zones="0,0,0")
    assert 0 < first_counts.signal.sum() < 0.2 * all_counts.signal.sum()
    with pytest.raises(FoldError, match="not a reciprocal lattice vector"):
        _fold(_volume(test_volume), ge, zones="1,0,0")  # fcc: h, k, l all even or all odd
    from inslib.folding.geometry import reduce_to_zone
    from inslib.folding.run import voxel_hkl

    crystal = read_crystal(ge["structure"])
    volume = _volume(test_volume)
    _, zone, owner = reduce_to_zone(voxel_hkl(volume.axes), fold_geometry(crystal))
    first_zone = np.zeros(51**3, bool)
    first_zone[owner[~np.any(zone, axis=1)]] = True  # on-disk order (L, K, H)
    mask = np.broadcast_to(first_zone.reshape(51, 51, 51).transpose(2, 1, 0)[..., None],
                           test_volume.shape)
    kept, kept_counts = _fold(_volume(test_volume, mask=mask), ge, min_coverage=0.5)
    assert kept_counts.signal.sum() > 0
    lost, _ = _fold(_volume(test_volume, mask=mask), ge, zones="0,0,0")
    assert np.all(np.isnan(lost.signal))  # the first zone is entirely masked
    assert np.isfinite(everything.signal).sum() >= np.isfinite(kept.signal).sum()


def test_box_cross_section(ge, test_volume):
    """Two half-widths make a box cross-section.

    Its voxel count lies between those of the inscribed and circumscribed cylinders, and the
    box fold is as symmetric as the cylinder one (rotating the input changes nothing).
    """
    _, inner = _fold(_volume(test_volume), ge, half_width=0.2)
    _, box = _fold(_volume(test_volume), ge, half_width=(0.2, 0.2))
    _, outer = _fold(_volume(test_volume), ge, half_width=0.2 * np.sqrt(2))
    assert inner.signal.sum() <= box.signal.sum() <= outer.signal.sum()
    assert inner.signal.sum() < outer.signal.sum()
    rng = np.random.default_rng(4)
    noisy = test_volume * rng.uniform(0.5, 1.5, test_volume.shape)
    original, _ = _fold(_volume(noisy), ge, half_width=(0.15, 0.05))
    turned, _ = _fold(_volume(noisy.transpose(1, 2, 0, 3)[::-1]), ge, half_width=(0.15, 0.05))
    np.testing.assert_allclose(turned.signal, original.signal, rtol=1e-10, equal_nan=True)
