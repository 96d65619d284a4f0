"""Inversion of single-crystal q-path maps: a simulated q-path, and a fold of a simulated volume.

Ge (pathSQE's ARCS force constants, tests/data/shared/force_constants/pathSQE_Ge_ARCS), two
shells (6 parameters), 100 K, 2 meV FWHM, true sets drawn in 0.8-1.2 x the reference. Coarse
settings (6^3 Debye-Waller mesh, 0.1 1/A path bins) keep every fit to seconds on one core.
"""

from dataclasses import replace

import numpy as np
import pytest

from inslib.axes import energy_axis
from inslib.histogram import Histogram, Log, Metadata
from inslib.inversion.gradient import fit_gradient
from inslib.inversion.metrics import r_squared
from inslib.inversion.path import PathRequest, build_path_problem
from inslib.logs import PATH_HALF_WIDTH
from inslib.simulation.qpath import PathError

PATH = "G-X-W-K-G-L"
TEMPERATURE = 100.0
FWHM = 2.0
MESH = 6
E_EDGES = np.linspace(0.0, 40.0, 41)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _truth(reference, seed):
    return reference * np.random.default_rng(seed).uniform(0.8, 1.2, len(reference))


def _template(structure, half_width=0.08) -> Histogram:
    """Return an empty folded map as FoldBrillouinZone writes it (path, energy, half-width)."""
    from inslib.folding.geometry import fold_geometry, path_bins
    from inslib.simulation.qpath import parse_path, path_axis
    from inslib.structure import conventional, load_structure

    crystal = conventional(load_structure(structure))
    _, edges, ticks = path_bins(parse_path(PATH, crystal), fold_geometry(crystal).metric, 0.1)
    shape = (len(edges) - 1, len(E_EDGES) - 1)
    meta = Metadata(temperature=TEMPERATURE,
                    logs={PATH_HALF_WIDTH: Log(np.array([half_width]), "Angstrom^-1")})
    return Histogram((path_axis(edges, ticks), energy_axis(E_EDGES)), np.ones(shape),
                     np.zeros(shape), np.zeros(shape, bool), meta)


def _request(ge_files, measured, **options) -> PathRequest:
    return PathRequest(measured, ge_files["ForceConstantsFile"], ge_files["StructureFile"],
                       path=PATH, fwhm=FWHM, symmetry=ge_files["StructureFile"], grid=MESH,
                       e_min=3.0, **options)


def _truth_model(ge_files, seed):
    """Return the true parameters (eV/A^2) of a seed and the phonon model they make."""
    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.simulation.setup import read_force_constants, reference_basis

    files = ge_files["ForceConstantsFile"], ge_files["StructureFile"]
    basis = reference_basis(files[0], 2, files[1])
    fcs = read_force_constants(*files)
    truth = _truth(basis.project(fcs)[0][0], seed)
    return truth, PhononModel(basis.force_constants(truth, like=to_primitive(fcs)))


@pytest.mark.parametrize("seed", [0, 2])
def test_simulated_q_path_map_recovers_the_parameters(ge_files, seed):
    """SimulateSingleCrystalSQE's q-path map at a known set inverts to it.

    The path simulation's own code (simulate_path: 8 random points per 0.05 1/A bin, in the
    model's cell); the model draws its own 8 points per bin, so the Monte-Carlo error of the
    bin averages is what is left. Measured (seeds 0, 1, 2): R^2 >= 0.99997, largest error
    2.4-3.7 % of |reference| (2NN xz; 1.4 % with 32 points per bin). Tolerances: R^2 >= 0.999,
    6 % of |reference|.
    """
    from types import SimpleNamespace

    from inslib.simulation.forward import Thermal
    from inslib.simulation.requests import SingleCrystalRequest
    from inslib.simulation.single_crystal import simulate_path

    truth, model = _truth_model(ge_files, seed)
    files = ge_files["ForceConstantsFile"], ge_files["StructureFile"]
    simulation = SingleCrystalRequest(*files, path=PATH, path_step=0.05, e_binning="0,1,40",
                                      fwhm=FWHM, temperature=TEMPERATURE, samples=8, seed=5)
    setup = SimpleNamespace(model=model, dw=Thermal(TEMPERATURE, MESH).mesh(model).dw)
    measured = simulate_path(setup, simulation, FWHM)
    request = PathRequest(measured, *files, path=PATH, fwhm=FWHM, samples=8, grid=MESH,
                          e_min=3.0)
    fit = fit_gradient(build_path_problem(request), starts=1)
    error = np.abs(fit.params - truth) / np.abs(fit.problem.reference)
    print(f"R^2 = {r_squared(fit.params, truth):.6f}, |error| / |reference| = {np.round(error, 3)}")
    assert r_squared(fit.params, truth) >= 0.999
    assert np.all(error < 0.06)


def test_continuous_fold_model_inverts_its_own_map(ge_files):
    """The continuous-limit fold model (images, zone 1,1,1, cylinder) inverts its own map.

    Poisson-like errors sqrt(I + 1 % of the maximum), the fit from the reference. Measured:
    R^2 = 1.000000, every parameter within 1e-6 of |reference| (noise-free: the optimum is
    the truth).
    """
    import torch

    request = _request(ge_files, _template(ge_files["StructureFile"]), zones="1,1,1",
                       samples=2)
    problem = build_path_problem(request)
    truth = _truth(problem.reference, 0)
    with torch.no_grad():
        signal = problem.spectra(torch.as_tensor(((truth - problem.reference)
                                                  / problem.unit)[None]))[0].numpy()
    measured = replace(request.measured, signal=3.0 * signal,
                       variance=3.0 * (signal + 0.01 * signal.max()))
    fit = fit_gradient(build_path_problem(replace(request, measured=measured)), starts=1)
    assert r_squared(fit.params, truth) > 0.99
    np.testing.assert_allclose(fit.params, truth, atol=1e-4 * np.abs(problem.reference).max())


@pytest.fixture(scope="module")
def folded_volume(ge_files):
    """Simulate a 4D volume at a known set and fold it onto PATH in zone 0,0,0.

    21^3 voxels of 0.1 r.l.u. over -1.05..1.05 (the whole first zone), 27 stratified points
    per voxel; cylinder 0.1 1/A, path bins 0.1 1/A.
    """
    from inslib.folding.run import FoldRequest, run_fold
    from inslib.simulation.forward import Thermal
    from inslib.simulation.grid import GridRequest, simulate_grid

    truth, model = _truth_model(ge_files, 1)
    grid = GridRequest(np.eye(3), ["-1.05,0.1,1.05"] * 3, E_EDGES, TEMPERATURE, FWHM,
                       samples=3, seed=3)
    volume = simulate_grid(model, grid, Thermal(TEMPERATURE, MESH).mesh(model).dw)
    folded, _ = run_fold(FoldRequest(volume, structure=ge_files["StructureFile"], path=PATH,
                                     half_width=0.1, step=0.1, zones="0,0,0"))
    return volume, folded, truth


def test_fold_of_a_simulated_volume_inverts_to_the_truth(ge_files, folded_volume):
    """The fold of a 4D simulation at a known set inverts to it (the model folded exactly).

    The model folds its own voxel averages (2^3 stratified random points per voxel) with the
    fold's matches, so what is left is the Monte-Carlo error of the voxel averages (3^3 points
    per voxel in the volume, 2^3 in the model). Measured over three seed pairs: R^2 >= 0.9999,
    largest error 2-4.3 % of |reference| (the small 2NN parameters; 2.1 % with 4^3 and 3^3
    points). Tolerance 8 %. The continuous-limit model (no ``volume_axes``) on this fold is
    limited by the fold's binning instead: with 0.1 r.l.u. voxels the [111] voxel rows sit on
    the path-bin edges (a bin holds q at its lower edge, 1-2 meV off the bin's mean) and the
    0.1 1/A cylinder holds a few voxel rows, so 2NN xx and xz miss by 37-48 % of |reference|
    (1NN by 4-6 %); with 0.05 r.l.u. voxels and a 0.05 1/A cylinder, by <= 7 %.
    """
    volume, folded, truth = folded_volume
    request = _request(ge_files, folded, zones="0,0,0", samples=2,
                       volume_axes=volume.axes[:3], temperature=None)
    fit = fit_gradient(build_path_problem(request), starts=1)
    reference = fit.problem.reference
    error = np.abs(fit.params - truth) / np.abs(reference)
    print(f"R^2 = {r_squared(fit.params, truth):.6f}, |error| / |reference| = {np.round(error, 3)}")
    assert r_squared(fit.params, truth) > 0.999
    assert np.all(error < 0.08)


def test_path_that_is_not_the_fold_is_refused(ge_files, folded_volume):
    _, folded, _ = folded_volume
    with pytest.raises(PathError, match="QPath='G-X-W-K-G'"):
        build_path_problem(replace(_request(ge_files, folded), path="G-X-W-K-G"))


def test_fold_resolution_takes_the_chopper_setting():
    """Without EnergyResolution the fold's width is the instrument's at the ChopperFrequency given.

    Reference: resolution_fwhm of ARCS at Ei = 100 meV and 600 Hz (it once took the default
    300 Hz whatever was given: 30 % wider).
    """
    from types import SimpleNamespace

    from inslib.instruments import load_instrument
    from inslib.instruments.resolution import FWHM_PER_SIGMA, resolution_fwhm, resolved_settings
    from inslib.inversion.path import PathRequest, _resolution, _sigma

    edges = np.linspace(0.0, 60.0, 61)
    measured = SimpleNamespace(metadata=SimpleNamespace(instrument="ARCS", ei=100.0),
                               axes=(None, SimpleNamespace(edges=edges)))
    given = {"ChopperFrequency": 600}
    request = PathRequest(measured, "unused", settings=given)
    centres = 0.5 * (edges[1:] + edges[:-1])
    arcs = load_instrument("ARCS")
    expected = resolution_fwhm(arcs, centres, 100.0, resolved_settings(arcs, given))
    sigma = _sigma(_resolution(request), centres)  # Resolution's table: 3e-7 relative
    np.testing.assert_allclose(sigma * FWHM_PER_SIGMA, expected, rtol=1e-6)
    assert np.all(expected < 0.8 * resolution_fwhm(arcs, centres, 100.0))
