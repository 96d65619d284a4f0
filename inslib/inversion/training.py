"""Train an amortized inverter: datagen, VAE, optional fine-tuning, regressor, model files.

:func:`train` runs the whole chain for a :class:`TrainingConfig` (a datagen configuration plus
a :class:`~inslib.inversion.amortized.TrainingSpec`): it returns the cached model when one with
the same :func:`~inslib.inversion.amortized.inversion_key` exists, otherwise it makes (or
reuses) the dataset, trains the VAE on the standardised maps, fine-tunes it on measured maps
if asked, trains the regressor from the latent means to the normalised parameters and writes
KEY.pt + KEY.json. :func:`fit` is the training on arrays (also used by the benchmark).
"""

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import inslib
from inslib.datagen.config import (
    DatagenConfig,
    DatagenConfigError,
)
from inslib.inversion.amortized import (
    AmortizedInverter,
    AmortizedModelError,
    TrainingSpec,
    cache_folder,
    find_trained,
    instrument_setting,
    inversion_key,
    key_settings,
    network_inputs,
    round_to_stored,
)
from inslib.inversion.metrics import r_squared, standardise
from inslib.simulation.setup import read_force_constants, reference_basis

MAP_OUTPUTS = ("PowderSQE", "PowderChi")
LATENT_SAMPLES = 100  # per validation map, for the sigma figures


@dataclass(frozen=True)
class TrainingConfig:
    """What ``inslib train-inversion CONFIG`` reads: datagen keys plus a ``training:`` section.

    Attributes
    ----------
    datagen : DatagenConfig
        The training maps (same keys as ``inslib datagen``); output PowderSQE or PowderChi.
    training : TrainingSpec
    """

    datagen: DatagenConfig
    training: TrainingSpec

    def __post_init__(self):
        if self.datagen.output not in MAP_OUTPUTS:
            msg = (f"output={self.datagen.output!r}: the amortized inversion reads powder maps; "
                   f"valid outputs: {list(MAP_OUTPUTS)}")
            raise DatagenConfigError(msg)

    @classmethod
    def from_dict(cls, data: dict, base=None) -> "TrainingConfig":
        """Build from plain values; relative file and folder names are taken from ``base``."""
        data = dict(data)
        training = dict(data.pop("training", None) or {})
        base = Path(base or ".")
        data["force_constants"] = _resolved(base, data.get("force_constants"))
        data["sets"] = [_resolved(base, p) for p in data.get("sets", [])]
        template = dict(data.get("template", {}))
        if template.get("workspace"):
            template["workspace"] = _resolved(base, template["workspace"])
        data["template"] = template
        for name in ("vae_hidden", "regressor_hidden", "noise_counts", "noise_backgrounds"):
            if isinstance(training.get(name), list):
                training[name] = tuple(training[name])
        training["fine_tune"] = tuple(_resolved(base, p) for p in training.get("fine_tune", []))
        for name in ("output", "dataset"):
            if training.get(name):
                training[name] = _resolved(base, training[name])
        try:
            spec = TrainingSpec(**training)
            datagen = DatagenConfig.from_dict(data)
        except TypeError as error:  # an unknown or missing key
            msg = (f"{error}; give the keys of inslib datagen (DatagenConfig) and a training: "
                   "section (TrainingSpec)")
            raise AmortizedModelError(msg) from None
        return cls(datagen, spec)

    @classmethod
    def from_file(cls, path) -> "TrainingConfig":
        """Read a YAML (or JSON) configuration; relative paths are relative to its folder."""
        import yaml

        path = Path(path)
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            msg = f"{path}: expected a mapping of datagen keys plus a training: section"
            raise DatagenConfigError(msg)
        return cls.from_dict(data, path.parent)


def _resolved(base: Path, name):
    if not isinstance(name, str) or not name:
        return name
    return str(Path(name) if Path(name).is_absolute() else base / name)


def template_of(datagen: DatagenConfig):
    """Build the template Histogram of a datagen configuration (bins, mask, settings)."""
    from inslib.instruments.templates import create_sqe_template
    from inslib.simulation.requests import TemplateRequest

    spec = datagen.template
    measured = None
    if spec.workspace:
        from inslib.io.files import load_workspace

        measured = load_workspace(spec.workspace)
    return create_sqe_template(TemplateRequest(spec.instrument, spec.ei, spec.efixed,
                                               spec.q_binning, spec.e_binning,
                                               template=measured))


def model_key(config: TrainingConfig, template=None) -> str:
    """:func:`inversion_key` of a configuration (template built when not given)."""
    d = config.datagen
    template = template_of(d) if template is None else template
    fcs = read_force_constants(d.force_constants)
    return inversion_key(fcs, d.shells, template.axes[0].edges, template.axes[1].edges,
                         template.mask, d.temperature, instrument_setting(template), d.output,
                         d.box, d.box_per_parameter, key_settings(d, config.training))


def train(config, progress=None) -> AmortizedInverter:
    """Train (or find cached) the amortized inverter of a configuration.

    Parameters
    ----------
    config : TrainingConfig, str or pathlib.Path
        The configuration or its YAML file.
    progress : callable, optional
        Called with one line of text per stage and per epoch (losses).

    Returns
    -------
    AmortizedInverter
        Also written as KEY.pt + KEY.json into ``training.output`` (default
        :func:`~inslib.inversion.amortized.cache_folder`).
    """
    report = progress or (lambda _line: None)
    if not isinstance(config, TrainingConfig):
        config = TrainingConfig.from_file(config)
    spec = config.training
    template = template_of(config.datagen)
    key = model_key(config, template)
    folder = Path(spec.output) if spec.output else cache_folder()
    cached = find_trained(key, folder)
    if cached is not None:
        report(f"model {key[:16]} already trained: {folder / (key + '.pt')}")
        return cached
    covered = network_bins(template, spec)
    x, parameters, names = read_dataset(make_dataset(config, folder, report), covered)
    tune = None
    if spec.fine_tune:
        tune = measured_inputs(spec.fine_tune, covered)
    metadata = {**_metadata(config, key, names, template),
                "covered": covered.astype(int).tolist()}
    inverter = fit(x, parameters, metadata, spec, report, tune)
    report(f"saved {inverter.save(folder)}")
    return inverter


def network_bins(template, spec: TrainingSpec) -> np.ndarray:
    """Covered template bins inside the energy window: the networks' inputs, (n_q, n_e)."""
    energy = template.axes[1].centres
    window = energy > spec.e_min
    if spec.e_max is not None:
        window &= energy < spec.e_max
    bins = ~np.asarray(template.mask, bool) & window[None, :]
    if bins.sum() < 2:
        msg = (f"training.e_min={spec.e_min}, e_max={spec.e_max}: fewer than 2 covered bins of "
               "the template lie in this energy window; widen it")
        raise AmortizedModelError(msg)
    return bins


def make_dataset(config: TrainingConfig, folder: Path, report) -> Path:
    """Generate the missing shards of the training maps; return the dataset folder."""
    from inslib.datagen.run import generate

    datagen, spec = config.datagen, config.training
    config_hash = datagen.config_hash()
    dataset = Path(spec.dataset) if spec.dataset else folder / "datasets" / config_hash[:16]
    scheduler = None if spec.scheduler.lower() == "none" else spec.scheduler

    def shards(done: int, total: int, spectra: int) -> None:
        report(f"datagen: {done}/{total} shards, {spectra} maps")

    summary = generate(datagen, dataset, scheduler, spec.workers, shards)
    report(f"datagen: {summary.text()} ({dataset})")
    return dataset


def read_dataset(folder, covered) -> tuple[np.ndarray, np.ndarray, list]:
    """Read the maps on the input bins, parameters and names of every shard of a dataset.

    Parameters
    ----------
    folder : str or pathlib.Path
    covered : numpy.ndarray of bool, shape (n_q, n_e)
        The networks' input bins (covered in every shard).

    Returns
    -------
    maps : numpy.ndarray of float32, shape (n, n_inputs)
        The maps' values on the input bins (the shards' unit, not standardised).
    parameters : numpy.ndarray, shape (n, P)
        eV/Angstrom^2.
    names : list of str
    """
    import h5py

    xs, params, names = [], [], None
    for path in sorted(Path(folder).glob("shard_*.h5")):
        with h5py.File(path, "r") as f:
            mask = f["template/mask"][()]
            if mask.shape != covered.shape or np.any(mask[covered]):
                msg = f"{path}: its template does not cover the model's input bins"
                raise AmortizedModelError(msg)
            xs.append(f["spectra"][()][:, covered])
            params.append(f["parameters"][()])
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in f["parameter_names"][()]]
    if not xs:
        msg = f"{folder}: no shard_*.h5 files"
        raise AmortizedModelError(msg)
    return np.concatenate(xs), np.concatenate(params), names


def measured_inputs(paths, covered) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs and bin weights of measured maps for fine-tuning.

    Returns
    -------
    x : numpy.ndarray of float32, shape (m, n_covered)
    weight : numpy.ndarray of float32, shape (m, n_covered)
        1 where the map is covered and finite, else 0.
    """
    from inslib.io.files import load_workspace

    xs, weights = [], []
    for path in paths:
        hist = load_workspace(path)
        if hist.signal.shape != covered.shape:
            msg = (f"training.fine_tune: {path} has {hist.signal.shape} bins, the template "
                   f"{covered.shape}; give maps on the template's bins")
            raise AmortizedModelError(msg)
        use = covered & np.isfinite(hist.signal)
        if hist.mask is not None:
            use &= ~np.asarray(hist.mask, bool)
        xs.append(network_inputs(hist.signal, use, covered))
        weights.append(use[covered].astype(np.float32))
    return np.stack(xs), np.stack(weights)


def _metadata(config: TrainingConfig, key: str, names: list, template) -> dict:
    d = config.datagen
    basis = reference_basis(d.force_constants, d.shells)
    if list(basis.names) != list(names):
        msg = f"dataset parameters {names} differ from the basis's {basis.names}"
        raise AmortizedModelError(msg)
    from inslib.phonons.force_constants import to_primitive

    reference = basis.project(to_primitive(read_force_constants(d.force_constants)))[0][0]
    return {"key": key, "names": list(names), "reference": reference.tolist(),
            "units": "eV/Angstrom^2", "output": d.output, "temperature": float(d.temperature),
            "instrument": instrument_setting(template),
            "q_edges": template.axes[0].edges.tolist(),
            "e_edges": template.axes[1].edges.tolist(),
            "box": list(d.box), "box_per_parameter": d.box_per_parameter,
            "settings": key_settings(d, config.training), "datagen": d.to_dict(),
            "code_version": inslib.__version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def fit(maps, parameters, metadata: dict, spec: TrainingSpec, progress=None,
        tune=None) -> AmortizedInverter:
    """Train VAE, (fine-tune), regressor on arrays; figures go to metadata["training"].

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, n_inputs)
        Simulated maps on the input bins (any unit; standardised here, with counting noise
        per batch when ``spec.noise_counts`` is given).
    parameters : numpy.ndarray, shape (n, P)
        Their parameters, eV/Angstrom^2.
    metadata : dict
        "key", "names", "reference", "covered" and anything else to keep with the model.
    spec : TrainingSpec
    progress : callable, optional
        Called with one line per epoch.
    tune : (numpy.ndarray, numpy.ndarray), optional
        Measured network inputs and weights (:func:`measured_inputs`).

    Returns
    -------
    AmortizedInverter
    """
    import torch

    from inslib.ml.networks import VAE, Regressor

    report = progress or (lambda _line: None)
    train_rows, val_rows = split(len(maps), spec.validation, spec.seed)
    mean, scale = parameters[train_rows].mean(axis=0), parameters[train_rows].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    y = torch.as_tensor((parameters - mean) / scale, dtype=torch.float32)
    generator = torch.Generator().manual_seed(spec.seed)
    inputs = TrainingInputs(maps[train_rows], spec, generator)
    x_val = torch.as_tensor(standardised(maps[val_rows]))
    with torch.random.fork_rng():
        torch.manual_seed(spec.seed)
        vae = VAE(x_val.shape[1], spec.vae_hidden, spec.latent)
        regressor = Regressor(spec.latent, spec.regressor_hidden, y.shape[1])
    start = time.perf_counter()
    history = {"vae": train_vae(vae, inputs, x_val, spec, generator, report)}
    if tune is not None:
        history["fine_tune"] = fine_tune(vae, tune, inputs, spec, generator, report)
    vae_seconds = time.perf_counter() - start
    with torch.no_grad():
        z_val = vae.encode(x_val)[0]
    history["regressor"] = train_regressor(regressor, (inputs.latents(vae), y[train_rows]),
                                           (z_val, y[val_rows]), spec, generator, report)
    round_to_stored(vae, regressor)
    architecture = {"n_inputs": int(x_val.shape[1]), "latent": spec.latent,
                    "vae_hidden": list(spec.vae_hidden),
                    "regressor_hidden": list(spec.regressor_hidden)}
    inverter = AmortizedInverter(vae, regressor, {
        **metadata, "architecture": architecture,
        "normalisation": {"mean": mean.tolist(), "scale": scale.tolist(),
                          "inputs": "standardise over the input bins (mean 0, max-min 1)"}})
    seconds = {"vae": vae_seconds, "regressor": time.perf_counter() - start - vae_seconds}
    inverter.metadata["training"] = {
        "n_train": len(train_rows), "n_validation": len(val_rows), "seconds": seconds,
        "n_weights": sum(p.numel() for m in (vae, regressor) for p in m.parameters()),
        "validation": validation_figures(inverter, x_val.numpy(), parameters[val_rows],
                                         spec.seed),
        "history": history}
    return inverter


def split(n: int, validation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (training rows, validation rows) of n maps; at least one of each."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(validation * n)), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def standardised(maps) -> np.ndarray:
    """Standardise maps on the input bins over all of them (float32, same shape)."""
    return standardise(maps, np.ones(np.shape(maps)[-1], bool)).astype(np.float32)


class TrainingInputs:
    """Standardised training maps by rows, with counting noise per batch when configured.

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, n_inputs)
        Simulated maps on the input bins (>= 0).
    spec : TrainingSpec
        ``noise_counts`` and ``noise_backgrounds`` (:func:`inslib.datagen.noise.poisson_noise`).
    generator : torch.Generator
    """

    def __init__(self, maps, spec: TrainingSpec, generator):
        import torch

        from inslib.datagen.noise import noise_grid

        self.maps = torch.as_tensor(np.asarray(maps, np.float32))
        self.clean = torch.as_tensor(standardised(maps))
        self.levels = None
        if spec.noise_counts:
            self.levels = torch.as_tensor(noise_grid(spec.noise_backgrounds, spec.noise_counts))
        self.generator = generator

    def __len__(self) -> int:
        return len(self.maps)

    def __call__(self, rows):
        """Return the inputs of maps ``rows``, torch (len(rows), n_inputs); noisy if configured."""
        import torch

        from inslib.datagen.noise import poisson_noise

        if self.levels is None:
            return self.clean[rows]
        pick = torch.randint(len(self.levels), (len(rows),), generator=self.generator)
        level = self.levels[pick]
        noisy = poisson_noise(self.maps[rows], level[:, 1], level[:, 0], self.generator)
        return torch.as_tensor(standardised(noisy.numpy()))

    def latents(self, vae):
        """Return rows -> latent means (fixed for clean inputs, of fresh noisy copies otherwise)."""
        if self.levels is None:
            z = vae.encode(self.clean)[0].detach()
            return lambda rows: z[rows]
        return lambda rows: vae.encode(self(rows))[0].detach()


def _epochs(modules, n_train: int, epochs: int, spec: TrainingSpec, generator, batch_loss,
            after_epoch) -> list:
    """Adam with cosine decay over shuffled batches; after_epoch(epoch, mean loss) -> figures."""
    import torch

    weights = [p for m in modules for p in m.parameters()]
    optimiser = torch.optim.Adam(weights, lr=spec.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs)
    history = []
    for epoch in range(epochs):
        for m in modules:
            m.train()
        total = 0.0
        for rows in torch.randperm(n_train, generator=generator).split(spec.batch_size):
            optimiser.zero_grad()
            loss = batch_loss(rows)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(rows)
        schedule.step()
        for m in modules:
            m.eval()
        with torch.no_grad():
            history.append(after_epoch(epoch, total / n_train))
    return history


def train_vae(vae, inputs: TrainingInputs, x_val, spec: TrainingSpec, generator,
              report) -> list:
    """Train the VAE on standardised maps; per epoch: training loss, validation error, KL."""
    from inslib.ml.networks import vae_loss

    def batch_loss(rows):
        x = inputs(rows)
        return vae_loss(x, *vae(x, generator), spec.beta)[0]

    def after_epoch(epoch: int, loss: float) -> dict:
        mean, log_var = vae.encode(x_val)
        _, error, kl = vae_loss(x_val, vae.decoder(mean), mean, log_var, spec.beta)
        figures = {"loss": loss, "validation_reconstruction": float(error), "kl": float(kl)}
        report(f"vae epoch {epoch + 1}/{spec.vae_epochs}: loss {loss:.4g}, validation "
               f"reconstruction {float(error):.4g}, KL {float(kl):.4g}")
        return figures

    return _epochs([vae], len(inputs), spec.vae_epochs, spec, generator, batch_loss,
                   after_epoch)


def fine_tune(vae, tune, inputs: TrainingInputs, spec: TrainingSpec, generator,
              report) -> list:
    """Fine-tune the VAE on measured maps (weighted reconstruction) plus simulated batches."""
    import torch

    from inslib.ml.networks import vae_loss

    x_tune, weight = (torch.as_tensor(a) for a in tune)

    def measured_loss(sample: bool):
        if sample:
            return vae_loss(x_tune, *vae(x_tune, generator), spec.beta, weight)
        mean, log_var = vae.encode(x_tune)
        return vae_loss(x_tune, vae.decoder(mean), mean, log_var, spec.beta, weight)

    def batch_loss(rows):
        x = inputs(rows)
        simulated = vae_loss(x, *vae(x, generator), spec.beta)[0]
        return simulated + measured_loss(True)[0]

    def after_epoch(epoch: int, loss: float) -> dict:
        error = float(measured_loss(False)[1])
        report(f"fine-tune epoch {epoch + 1}/{spec.fine_tune_epochs}: loss {loss:.4g}, "
               f"measured reconstruction {error:.4g}")
        return {"loss": loss, "measured_reconstruction": error}

    return _epochs([vae], len(inputs), spec.fine_tune_epochs, spec, generator, batch_loss,
                   after_epoch)


def train_regressor(regressor, train_data, val_data, spec: TrainingSpec, generator,
                    report) -> list:
    """Train the regressor (MSE) from latent means to normalised parameters.

    ``train_data``: (rows -> latent means, normalised parameters (n_train, P));
    ``val_data``: (latent means, normalised parameters) of the held-out maps.
    """
    import torch

    latents, y = train_data
    z_val, y_val = val_data

    def batch_loss(rows):
        return torch.mean((regressor(latents(rows)) - y[rows]) ** 2)

    def after_epoch(epoch: int, loss: float) -> dict:
        val = float(torch.mean((regressor(z_val) - y_val) ** 2))
        report(f"regressor epoch {epoch + 1}/{spec.regressor_epochs}: MSE {loss:.4g}, "
               f"validation MSE {val:.4g}")
        return {"mse": loss, "validation_mse": val}

    return _epochs([regressor], len(y), spec.regressor_epochs, spec, generator, batch_loss,
                   after_epoch)


def validation_figures(inverter: AmortizedInverter, x, parameters, seed: int) -> dict:
    """R^2, sigma and 1-sigma coverage per parameter on held-out maps.

    Parameters
    ----------
    inverter : AmortizedInverter
    x : numpy.ndarray, shape (n, n_covered)
    parameters : numpy.ndarray, shape (n, P)
        Truth, eV/Angstrom^2.
    seed : int

    Returns
    -------
    dict
        "r2", "rmse_relative" (RMSE / |reference|), "sigma_relative" (mean sigma /
        |reference|), "coverage_1sigma" (fraction of truths within mean +- sigma): each
        {name: value}.
    """
    estimate = inverter.point_estimates(x)
    sigma = inverter.sample_estimates(x, LATENT_SAMPLES, seed).std(axis=0, ddof=1)
    names, scale = inverter.names, np.abs(inverter.reference)
    error = estimate - parameters
    figures = {"r2": r_squared(estimate, parameters),
               "rmse_relative": np.sqrt(np.mean(error**2, axis=0)) / scale,
               "sigma_relative": sigma.mean(axis=0) / scale,
               "coverage_1sigma": np.mean(np.abs(error) <= sigma, axis=0)}
    return {k: dict(zip(names, np.asarray(v, float).tolist(), strict=True))
            for k, v in figures.items()}
