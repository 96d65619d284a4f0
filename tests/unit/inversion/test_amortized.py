"""Amortized inversion (Su & Li 2024): training, prediction, content keys, cache, model files."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from inslib.datagen.config import DatagenConfig, TemplateSpec
from inslib.inversion import training
from inslib.inversion.amortized import (
    AmortizedInverter,
    AmortizedModelError,
    TrainingSpec,
    find_trained,
    instrument_setting,
    inversion_key,
    key_settings,
)
from inslib.inversion.metrics import r_squared
from inslib.inversion.training import TrainingConfig, split, template_of, train
from inslib.phonons.force_constants import load_force_constants

AL = str(Path(__file__).resolve().parents[2] / "data" / "Al_phonopy" / "phonopy.yaml")
# R^2 of the point estimate of "1NN xx" on the 40 held-out maps of this tiny setting: 0.83-0.90
# over 2 datagen x 3 training seeds (mean 0.87, sd 0.025); the other four parameters are near
# 0 at this size (10,000 maps: docs/amortized.md).
R2_MIN = 0.7


def tiny_config(output: Path, **training_changes) -> TrainingConfig:
    """Al on ARCS Ei = 50 meV, 26 x 25 coarse bins, 4^3 mesh: 400 maps in about 1 s."""
    datagen = DatagenConfig(force_constants=AL, n_spectra=400, template=TemplateSpec(
        "ARCS", 50.0, q_binning="0.5,0.25,7", e_binning="-5,2,45"), grid=4, max_order=2,
        n_directions=8, shard_size=100, seed=1)
    spec = TrainingSpec(latent=8, vae_hidden=(64,), regressor_hidden=(32, 32), vae_epochs=40,
                        regressor_epochs=60, batch_size=32, output=str(output),
                        scheduler="none")
    return TrainingConfig(datagen, replace(spec, **training_changes))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    config = tiny_config(tmp_path_factory.mktemp("models"))
    lines = []
    return config, train(config, lines.append), lines


@pytest.fixture(scope="module")
def held_out(trained):
    """Return the validation maps of the training split (NaN: not covered), parameters."""
    config, inverter, _ = trained
    folder = Path(config.training.output) / "datasets"
    maps, params = [], []
    for path in sorted(folder.rglob("shard_*.h5")):
        with h5py.File(path, "r") as f:
            maps.append(f["spectra"][()].astype(float))
            params.append(f["parameters"][()])
    maps, params = np.concatenate(maps), np.concatenate(params)
    rows = split(len(maps), config.training.validation, config.training.seed)[1]
    return np.where(inverter.covered, maps[rows], np.nan), params[rows]


def test_training_reduces_the_losses(trained):
    _, inverter, lines = trained
    history = inverter.metadata["training"]["history"]
    assert history["vae"][-1]["loss"] < 0.7 * history["vae"][0]["loss"]
    assert history["regressor"][-1]["mse"] < history["regressor"][0]["mse"]
    assert sum("vae epoch" in line for line in lines) == 40  # a line per epoch with losses
    assert any("regressor epoch 60/60: MSE" in line for line in lines)


def test_held_out_estimates_follow_the_most_influential_parameter(trained, held_out):
    _, inverter, _ = trained
    maps, truth = held_out
    column = inverter.names.index("1NN xx")
    estimates = np.array([inverter.predict(m, np.isfinite(m), n_samples=8).mean for m in maps])
    r2 = r_squared(estimates[:, column], truth[:, column])
    assert r2 > R2_MIN
    assert r2 == pytest.approx(inverter.metadata["training"]["validation"]["r2"]["1NN xx"])


def test_predict_gives_samples_and_a_positive_spread(trained, held_out):
    _, inverter, _ = trained
    signal = 1e3 * held_out[0][0]  # any scale: the inputs are standardised
    use = np.isfinite(signal)
    use[:, :3] = False  # bins left out of use count as the mean
    estimate = inverter.predict(signal, use, n_samples=50, seed=3)
    assert estimate.samples.shape == (50, len(inverter.names))
    assert estimate.mean.shape == estimate.sigma.shape == inverter.reference.shape
    assert np.all(estimate.sigma > 0)
    # trained in the 0.5-1.5 x reference box; 0.6 leaves room for the regressor's overshoot
    assert np.all(np.abs(estimate.mean / inverter.reference - 1) < 0.6)
    again = inverter.predict(signal, use, n_samples=50, seed=3)
    assert np.array_equal(again.samples, estimate.samples)
    with pytest.raises(ValueError, match="trained on 26"):
        inverter.predict(signal[:-1], use[:-1])


def test_key_is_content_not_paths(trained, tmp_path):
    config, inverter, _ = trained
    moved = shutil.copytree(Path(AL).parent, tmp_path / "elsewhere") / "phonopy.yaml"
    fcs = load_force_constants(moved)
    d = config.datagen
    template = template_of(d)
    settings = key_settings(d, config.training)

    def key(shells=2, template=template, temperature=300.0):
        return inversion_key(fcs, shells, template.axes[0].edges, template.axes[1].edges,
                             template.mask, temperature, instrument_setting(template),
                             settings=settings)

    assert key() == inverter.key  # what an algorithm holding the objects in memory computes
    other_bins = template_of(replace(d, template=replace(d.template, e_binning="-5,2.5,45")))
    assert key(template=other_bins) != inverter.key
    assert key(temperature=10.0) != inverter.key
    assert key(shells=1) != inverter.key
    assert inversion_key(fcs, 2, template.axes[0].edges,
                         template.axes[1].edges, template.mask, 300.0,
                         instrument_setting(template)) != inverter.key  # default settings


def test_second_training_is_a_cache_hit(trained, monkeypatch):
    config, inverter, _ = trained

    def no_training(*_args, **_kwargs):
        msg = "retrained"
        raise AssertionError(msg)

    monkeypatch.setattr(training, "fit", no_training)
    lines = []
    again = train(config, lines.append)
    assert again.key == inverter.key
    assert "already trained" in lines[0]
    assert find_trained(inverter.key, config.training.output).key == inverter.key


def test_weights_are_plain_tensors(trained):
    config, inverter, _ = trained
    path = Path(config.training.output) / f"{inverter.key}.pt"
    weights = torch.load(path, weights_only=True)
    assert weights["key"] == inverter.key
    assert set(weights) == {"key", "vae", "regressor"}
    assert all(v.dtype == torch.float16 for v in weights["vae"].values())
    loaded = AmortizedInverter.load(path, inverter.key)
    for mine, stored in zip(inverter.vae.parameters(), loaded.vae.parameters(), strict=True):
        assert torch.equal(mine, stored)  # training rounded to the stored precision
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["names"] == inverter.names
    assert meta["training"]["n_train"] == 360


def test_mismatched_key_is_refused(trained, tmp_path):
    config, inverter, _ = trained
    source = Path(config.training.output) / f"{inverter.key}.pt"
    wrong = "0" * 64
    for suffix in (".pt", ".json"):
        shutil.copy(source.with_suffix(suffix), (tmp_path / wrong).with_suffix(suffix))
    with pytest.raises(AmortizedModelError) as error:
        find_trained(wrong, tmp_path)
    message = str(error.value)
    assert str(tmp_path / f"{wrong}.pt") in message
    assert wrong in message
    assert inverter.key in message
    assert find_trained("1" * 64, tmp_path) is None
    assert AmortizedInverter.load(tmp_path / f"{wrong}.pt").key == inverter.key


def test_command_line_uses_the_cache(trained, tmp_path, capsys):
    from inslib.runtime.cli import main

    config, inverter, _ = trained
    data = config.datagen.to_dict()
    data["training"] = {"latent": 8, "vae_hidden": [64], "regressor_hidden": [32, 32],
                        "vae_epochs": 40, "regressor_epochs": 60, "batch_size": 32,
                        "output": config.training.output, "scheduler": "none"}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["train-inversion", str(path)]) == 0
    out = capsys.readouterr().out
    assert "already trained" in out
    assert inverter.key in out


def test_fine_tuning_on_a_measured_map(trained, held_out, tmp_path):
    from inslib.io.files import save_workspace

    config, _, _ = trained
    template = template_of(config.datagen)
    measured = replace(template, signal=held_out[0][1])
    path = save_workspace(measured, tmp_path / "measured.nxs")
    tuned_config = tiny_config(tmp_path, fine_tune=(str(path),), fine_tune_epochs=2,
                               vae_epochs=10, regressor_epochs=5,
                               dataset=str(next((Path(config.training.output)
                                                 / "datasets").iterdir())))
    tuned = train(tuned_config)
    history = tuned.metadata["training"]["history"]["fine_tune"]
    assert len(history) == 2
    # fine-tuning lowers the measured map's reconstruction error (measured: 0.63 -> 0.53)
    assert history[-1]["measured_reconstruction"] < history[0]["measured_reconstruction"]
    assert tuned.key != trained[1].key  # the measured map is part of the key


def test_noise_augmentation(trained, held_out, tmp_path):
    config, inverter, _ = trained
    dataset = str(next((Path(config.training.output) / "datasets").iterdir()))
    noisy_config = tiny_config(tmp_path, noise_counts=(1e4, 1e5), noise_backgrounds=(0.0, 0.1),
                               vae_epochs=10, regressor_epochs=10, dataset=dataset)
    noisy = train(noisy_config)
    assert noisy.key != inverter.key
    history = noisy.metadata["training"]["history"]
    assert history["vae"][-1]["loss"] < history["vae"][0]["loss"]
    assert np.isfinite(list(noisy.metadata["training"]["validation"]["r2"].values())).all()
    with pytest.raises(AmortizedModelError, match="noise_counts"):
        TrainingSpec(noise_counts=(0.0,))
