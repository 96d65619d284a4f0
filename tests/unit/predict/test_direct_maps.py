"""PredictSQE Method=Direct with Coherent=True: intrinsic maps, their decoding, the map networks.

The decoding is checked against the simulations' own coherent term (the true intrinsic map of
Al's DFT force constants put on an ARCS template must give SimulatePowderSQE's coherent
one-phonon map); the shipped networks against their card and a structure-blind baseline.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from inslib.ml.direct_model import MODEL_FOLDER, DirectModelError
from inslib.runtime.host import InvalidArgumentsError, run_algorithm

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "data" / "predict" / "structures.jsonl"
LABELS = ROOT / "data" / "predict" / "7net-0"
AL = ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml"


@pytest.fixture(scope="module")
def maps():
    from inslib.ml.map_model import load_map_ensemble

    return load_map_ensemble(MODEL_FOLDER)


def _exact_and_decoded(temperature: float):
    """SimulatePowderSQE's coherent term of Al and the decoded true intrinsic map, same bins."""
    from inslib.ml.direct_predict import coherent_msd
    from inslib.ml.map_data import E_EDGES, Q_EDGES, intrinsic_map
    from inslib.ml.map_decode import coherent_on_template
    from inslib.phonons.force_constants import load_force_constants
    from inslib.simulation.powder import covered_template, simulate_powder, template_resolution
    from inslib.simulation.requests import PowderRequest, TemplateRequest
    from inslib.simulation.setup import cached_setup

    fcs = load_force_constants(str(AL))
    template_request = TemplateRequest(instrument="ARCS", ei=80.0, q_binning="0.5,0.05,10",
                                       e_binning="-20,0.5,75", temperature=temperature)
    request = PowderRequest(force_constants=str(AL), template=template_request,
                            incoherent=False, grid=8)
    exact = simulate_powder(request)
    template = covered_template(request)
    hot, cold = cached_setup(fcs, "", temperature, 8), cached_setup(fcs, "", 0.0, 8)
    extra = coherent_msd(hot.mesh, hot.model.crystal) - coherent_msd(cold.mesh,
                                                                     cold.model.crystal)
    decoded = coherent_on_template(intrinsic_map(fcs)[None].astype(float), (Q_EDGES, E_EDGES),
                                   template, template_resolution(template_request, template),
                                   temperature, np.array([extra]))[0]
    return exact.signal, decoded, ~template.mask, template.axes[1].centres


@pytest.mark.parametrize(("temperature", "selection", "r_min", "integral_tol"), [
    (300.0, lambda e: np.abs(e) > 3.0, 0.99, 0.01),
    (300.0, lambda e: e < -5.0, 0.98, 0.01),
    (5.0, lambda e: e > 2.0, 0.997, 0.005),
])
def test_the_true_intrinsic_map_decodes_to_the_simulated_coherent_term(temperature, selection,
                                                                      r_min, integral_tol):
    """Bose factor, detailed balance, Debye-Waller and resolution put on the intrinsic map.

    Measured: r 0.992 (|E| > 3 meV) and 0.992 (gain side below -5 meV) at 300 K, 0.9988 at
    5 K, integrals within 0.2 %. Nearer the elastic line the Bose factor taken at the 1.25 meV
    intrinsic bins' centres departs from each mode's (r 0.98 for |E| > 2 meV at 300 K): the
    tolerances leave that margin and no more.
    """
    exact, decoded, covered, energy = _exact_and_decoded(temperature)
    chosen = covered & selection(energy)[None, :]
    assert np.corrcoef(exact[chosen], decoded[chosen])[0, 1] >= r_min
    assert decoded[chosen].sum() == pytest.approx(exact[chosen].sum(), rel=integral_tol)


@pytest.mark.parametrize("record_id", ["2426319b", "0cbcfb99", "2194f832"])
def test_the_sum_rule_sets_the_intensity_of_an_intrinsic_map(record_id):
    """Integrated over the grid, the coherent one-phonon map equals its incoherent approximation.

    Measured on 10 test records: ratio 0.995-1.011 (the grid stops at 12 1/A, where the two
    still differ a little at the lowest |Q|); tolerance 2 %.
    """
    from inslib.ml.map_data import incoherent_intrinsic, intrinsic_map
    from inslib.ml.records import SUFFIX, load_record
    from inslib.simulation.setup import cached_setup

    path = next((LABELS / "records").glob(f"{record_id}*{SUFFIX}"))
    fcs = load_record(path).force_constants
    setup = cached_setup(fcs, "", 0.0, 8)
    approximation = incoherent_intrinsic(setup.model, setup.mesh)
    assert intrinsic_map(fcs).sum() == pytest.approx(approximation.sum(), rel=0.02)


def test_decoded_loss_and_gain_keep_detailed_balance():
    """One intrinsic bin at E0 decodes to loss / gain integrals in the ratio exp(E0 / kT)."""
    from types import SimpleNamespace

    from inslib.axes import Axis
    from inslib.ml.map_data import E_EDGES, Q_EDGES
    from inslib.ml.map_decode import coherent_on_template
    from inslib.scattering.binning import Resolution
    from inslib.scattering.thermal import K_B

    intrinsic = np.zeros((1, len(Q_EDGES) - 1, len(E_EDGES) - 1))
    intrinsic[0, :, 16] = 1.0  # E0 = 20.625 meV
    e0 = 0.5 * (E_EDGES[16] + E_EDGES[17])
    edges = np.linspace(-60, 60, 241)
    template = SimpleNamespace(axes=[Axis(np.linspace(1, 3, 5), "MomentumTransfer"),
                                     Axis(edges, "DeltaE")])
    out = coherent_on_template(intrinsic, (Q_EDGES, E_EDGES), template, Resolution.constant(3.0),
                               150.0, np.zeros(1))[0]
    loss, gain = out[:, edges[1:] > 0].sum(), out[:, edges[:-1] < 0].sum()
    assert loss / gain == pytest.approx(np.exp(e0 / (K_B * 150.0)), rel=1e-6)


def test_decoded_shapes_are_positive_with_mean_one(maps):
    import torch

    with torch.no_grad():
        shapes = maps.autoencoder.decode(torch.randn(4, maps.config.latent)).numpy()
    assert np.all(shapes > 0)
    np.testing.assert_allclose(shapes.mean(axis=(1, 2)), 1.0, rtol=1e-5)


def test_the_predicted_map_does_not_depend_on_rotation_or_atom_order(maps):
    from scipy.spatial.transform import Rotation

    from inslib.structure import Crystal

    cell = np.eye(3) * 3.9
    positions = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    symbols = ["Sr", "Ti", "O", "O", "O"]
    rotation = Rotation.from_euler("xyz", [20, 40, 65], degrees=True).as_matrix()
    order = [3, 0, 4, 1, 2]
    moved = Crystal(cell @ rotation.T, [positions[k] for k in order],
                    [symbols[k] for k in order])
    moved_shapes = maps.predict(moved, 1.0)
    np.testing.assert_allclose(moved_shapes, maps.predict(Crystal(cell, positions, symbols), 1.0),
                               rtol=1e-3, atol=1e-4 * moved_shapes.max())


def test_the_card_describes_this_data_and_beats_a_structure_blind_map(maps):
    from inslib.ml.direct_data import load_samples

    data = maps.card["training_data"]
    samples, digest = load_samples(MANIFEST, LABELS, maps.config.backbone().cutoff,
                                   ids=data["records"], log=lambda _: None)
    assert digest == data["sha256"]
    assert {p: sum(s.part == p for s in samples) for p in ("train", "val", "test")} \
        == data["counts"]
    r = maps.card["metrics"]["r"]
    assert r["predicted"]["median"] > r["baseline"]["median"] + 0.05
    assert r["predicted"]["median"] <= r["autoencoder"]["median"] + 0.02


def test_training_lowers_the_loss_and_a_saved_model_loads_back(tmp_path):
    """Two stages on 24 records: each lowers its validation loss; save and load agree."""
    from inslib.ml.direct_data import load_samples
    from inslib.ml.map_model import MAP_FOLDER, MapEnsemble, load_map_ensemble
    from inslib.ml.map_networks import MapConfig
    from inslib.ml.map_training import map_samples, train_autoencoder, train_latent
    from inslib.ml.records import SUFFIX

    samples, _ = load_samples(MANIFEST, LABELS, 6.0, log=lambda _: None)
    few = [s for s in samples if s.part == "train"][:20] + [s for s in samples
                                                             if s.part == "val"][:4]
    labels = tmp_path / "labels"  # the maps' cache goes beside the labels: not the repository
    (labels / "records").mkdir(parents=True)
    for sample in few:
        name = f"{sample.id}{SUFFIX}"
        shutil.copy(LABELS / "records" / name, labels / "records" / name)
    chosen = map_samples(few, labels, log=lambda _: None)
    config = MapConfig(latent=4, channels=4, features=8)
    autoencoder, first = train_autoencoder(chosen, config, epochs=1)
    autoencoder, summary = train_autoencoder(chosen, config, epochs=20, lr=1e-2)
    assert summary["val_loss"] < 0.95 * first["val_loss"]
    net, _ = train_latent(chosen, autoencoder, config, seed=0, epochs=2)
    card = {"name": "test", "config": config.to_dict(), "output": "test maps",
            "labels_licence": "test", "grid": {"q_edges": [0.0, 1.0], "e_edges": [0.0, 1.0]},
            "training_data": {"sha256": "x", "records": [], "split": "none", "counts": {}}}
    ensemble = MapEnsemble(autoencoder, [net], card)
    ensemble.card["metrics"] = {"n": 0, "r": {}}
    ensemble.save(tmp_path / "model" / MAP_FOLDER)
    again = load_map_ensemble(tmp_path / "model")
    graph = samples[0].graph
    np.testing.assert_array_equal(again.shapes(graph), ensemble.shapes(graph))


def _direct_map_on_measured_al(folder, coherent: bool):
    """PredictSQE Method=Direct for Al on the measured ARCS workspace: its bins and its mask."""
    import ase.io
    from ase.build import bulk

    from inslib.io.histogram_h5 import read_histogram_h5

    measured = read_histogram_h5(ROOT / "tests" / "data" / "Al-iqe.h5")
    path = folder / "Al.cif"
    ase.io.write(path, bulk("Al", "fcc", a=4.05, cubic=True))
    result = run_algorithm("PredictSQE", StructureFile=str(path), Method="Direct",
                           InputWorkspace=measured, Instrument="ARCS", Ei=80, Temperature=300,
                           Coherent=coherent, OutputWorkspace="direct_map")["OutputWorkspace"]
    for mine, theirs in zip(result.axes, measured.axes, strict=True):
        np.testing.assert_array_equal(mine.values, theirs.values)
    np.testing.assert_array_equal(result.mask, measured.mask)
    covered = result.signal[~result.mask]
    assert np.all(np.isfinite(covered))
    assert np.all(covered >= 0)
    return result


def test_both_direct_maps_lie_on_the_measured_bins_and_mask(tmp_path):
    """Coherent: the map networks' term; Coherent=False: the predicted DOS's approximation."""
    from inslib.compare import compare

    coherent = _direct_map_on_measured_al(tmp_path, True)
    assert coherent.variance[~coherent.mask].max() > 0
    assert "coherent term from inslib Direct powder-map networks" in " ".join(
        coherent.metadata.provenance)
    incoherent = _direct_map_on_measured_al(tmp_path, False)
    assert "SimulatePowderSQE: incoherent, multiphonon order 10" in " ".join(
        incoherent.metadata.provenance)
    assert compare(coherent, incoherent, 8.0).pearson_r < 0.999  # the coherent term differs


def test_a_model_folder_without_map_networks_is_named(tmp_path):
    import ase.io
    from ase.build import bulk

    folder = tmp_path / "direct"
    shutil.copytree(MODEL_FOLDER, folder, ignore=shutil.ignore_patterns("map"))
    path = tmp_path / "NaCl.cif"
    ase.io.write(path, bulk("NaCl", "rocksalt", a=5.64))
    common = {"StructureFile": str(path), "Method": "Direct", "Instrument": "ARCS", "Ei": 80,
              "Temperature": 300, "DirectModel": str(folder)}
    with pytest.raises(InvalidArgumentsError) as err:
        run_algorithm("PredictSQE", OutputWorkspace="x", **common)
    assert "DirectModel:" in str(err.value)
    assert "set Coherent=False" in str(err.value)
    run_algorithm("PredictSQE", OutputWorkspace="x", Coherent=False, **common)


def test_tampered_map_weights_are_refused(tmp_path):
    from inslib.ml.map_model import load_map_ensemble

    folder = tmp_path / "direct"
    shutil.copytree(MODEL_FOLDER, folder)
    (folder / "map" / "autoencoder.pt").write_bytes(b"not weights")
    with pytest.raises(DirectModelError, match="SHA-256 differs"):
        load_map_ensemble(folder)


def test_the_lowest_energies_take_the_dos_weight_and_keep_the_q_profile():
    from inslib.ml.direct_predict import low_energy_columns

    rng = np.random.default_rng(0)
    intrinsic, approximate = rng.random((6, 10)) + 0.1, rng.random((6, 10)) + 0.1
    edges = np.linspace(0.0, 12.5, 11)
    out = low_energy_columns(intrinsic, approximate, edges, debye=3.5)  # centres < 3.5: 0-2
    np.testing.assert_allclose(out[:, :3].sum(axis=0), approximate[:, :3].sum(axis=0))
    np.testing.assert_allclose(out[:, :3] / out[:, :3].sum(axis=0),
                               intrinsic[:, :3] / intrinsic[:, :3].sum(axis=0))
    np.testing.assert_array_equal(out[:, 3:], intrinsic[:, 3:])
