"""Amortized inversion: force-constant parameters of a powder map from trained networks.

Su & Li (2024): a variational autoencoder compresses the standardised map (the template's covered
bins in an energy window, flattened) into a small latent space, and a regressor maps the latent mean
to the normalised parameters. Sampling the latent Gaussian and running the regressor on each
sample gives the spread of the estimate. Training (:mod:`inslib.inversion.training`, CLI
``inslib train-inversion CONFIG``) writes ``KEY.pt`` (torch state dicts, loaded with
``weights_only=True``) and ``KEY.json`` (names, reference, normalisation, architecture,
training figures); KEY = :func:`inversion_key`, a SHA-256 over content only, so an algorithm
holding a workspace and force constants in memory finds a model trained from files.
"""

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import inslib
from inslib.datagen.config import DatagenConfig, file_digest
from inslib.inversion.metrics import standardise

KEY_VERSION = 1  # bump when the meaning of a model changes (inputs, normalisation, networks)
DEFAULT_N_SPECTRA = 10000  # Su & Li (2024)
# datagen settings that change the training data beyond the explicit key arguments
DATAGEN_SETTINGS = ("n_spectra", "seed", "shard_size", "grid", "max_order", "coherent",
                    "incoherent", "n_shells", "n_directions")
# training settings that do not change the model (where files go, how data is made)
NOT_IN_KEY = ("output", "dataset", "scheduler", "workers")


class AmortizedModelError(ValueError):
    """A model file or training setting that cannot be used: says which and why."""


@dataclass(frozen=True)
class TrainingSpec:
    """Networks and training of an amortized model (the ``training:`` section of a config).

    Attributes
    ----------
    latent : int
        Latent dimension of the VAE (Su & Li: 30).
    vae_hidden : tuple of int
        Hidden widths of the VAE encoder (mirrored by the decoder; Su & Li: (400,)).
    regressor_hidden : tuple of int
        Hidden widths of the regressor (Su & Li: (100, 1000, 1000, 100)).
    vae_epochs, regressor_epochs : int
        Passes over the training maps.
    learning_rate : float
        Adam's initial step (cosine decay to 0 over the epochs).
    batch_size : int
    beta : float
        Weight of the KL term of the VAE loss (reconstruction: summed squared error of the
        standardised map).
    validation : float
        Fraction of the maps held out (reported, not trained on).
    e_min, e_max : float, float or None
        Energy window, meV: only covered bins with centres in (e_min, e_max) are network
        inputs (the elastic line and the edge at Ei stay out; InvertForceConstants' EMin and
        EMax defaults). None: no upper cut.
    noise_counts : tuple of float
        Augmentation (Sable et al. 2026): each training batch gets Poisson counting noise at a
        total count over the input bins drawn from these, plus a flat background drawn from
        ``noise_backgrounds`` (fractions of the mean signal per bin); () = clean maps.
    noise_backgrounds : tuple of float
    seed : int
        Seeds initialisation, split, batches, noise and latent samples.
    fine_tune : tuple of str
        Measured workspace files on the template's bins (unlabelled): the VAE is fine-tuned on
        their reconstruction, together with the simulated maps, before the regressor is trained.
    fine_tune_epochs : int
    output : str
        Folder of the model files ("" = :func:`cache_folder`).
    dataset : str
        Folder of the training maps ("" = OUTPUT/datasets/HASH; reused when its hash matches).
    scheduler : str
        Datagen scheduler: "local", "none" or a dask address.
    workers : int or None
        Datagen LocalCluster workers.
    """

    latent: int = 30
    vae_hidden: tuple = (256,)
    regressor_hidden: tuple = (100, 300, 100)
    vae_epochs: int = 60
    regressor_epochs: int = 150
    learning_rate: float = 1e-3
    batch_size: int = 64
    beta: float = 1e-3
    validation: float = 0.1
    e_min: float = 8.0
    e_max: float | None = None
    noise_counts: tuple = ()
    noise_backgrounds: tuple = (0.0,)
    seed: int = 0
    fine_tune: tuple = ()
    fine_tune_epochs: int = 5
    output: str = ""
    dataset: str = ""
    scheduler: str = "local"
    workers: int | None = None

    def __post_init__(self):
        counts = {"latent": self.latent, "vae_epochs": self.vae_epochs,
                  "regressor_epochs": self.regressor_epochs, "batch_size": self.batch_size,
                  "fine_tune_epochs": self.fine_tune_epochs}
        for name, value in counts.items():
            _positive_int(f"training.{name}", value)
        for name in ("vae_hidden", "regressor_hidden"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or not sizes:
                _refuse(f"training.{name}", sizes, "give a list of layer widths, e.g. [256]")
            for size in sizes:
                _positive_int(f"training.{name}", size)
        checks = {"learning_rate": (lambda v: v > 0, "give a step > 0, e.g. 0.001"),
                  "beta": (lambda v: v >= 0, "give a KL weight >= 0, e.g. 0.001"),
                  "validation": (lambda v: 0 < v < 1, "give a fraction in (0, 1), e.g. 0.1")}
        for name, (valid, hint) in checks.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not valid(value):
                _refuse(f"training.{name}", value, hint)
            object.__setattr__(self, name, float(value))  # 1 and 1.0 name the same model
        self._check_window()
        if any(not (isinstance(c, (int, float)) and c > 0) for c in self.noise_counts):
            _refuse("training.noise_counts", self.noise_counts, "give total counts > 0")
        if not self.noise_backgrounds or any(
                not (isinstance(b, (int, float)) and b >= 0) for b in self.noise_backgrounds):
            _refuse("training.noise_backgrounds", self.noise_backgrounds,
                    "give background fractions >= 0, e.g. [0.0, 0.1]")
        for path in self.fine_tune:
            if not Path(path).is_file():
                _refuse("training.fine_tune", path, "give existing measured workspace files")

    def _check_window(self) -> None:
        for name in ("e_min", "e_max"):
            value = getattr(self, name)
            if value is None and name == "e_max":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not np.isfinite(value):
                _refuse(f"training.{name}", value, "give a finite energy in meV")
            object.__setattr__(self, name, float(value))
        if self.e_max is not None and self.e_max <= self.e_min:
            _refuse("training.e_max", self.e_max, f"give an energy above e_min = {self.e_min}")

    def key_dict(self) -> dict:
        """Return the settings that define the model (JSON-ready; fine-tuning files by content)."""
        data = dataclasses.asdict(self)
        for name in NOT_IN_KEY:
            data.pop(name)
        data["fine_tune"] = [file_digest(p) for p in self.fine_tune]
        return json.loads(json.dumps(data))


def _refuse(prop: str, value, valid: str):
    msg = f"{prop}={value!r}: {valid}"
    raise AmortizedModelError(msg)


def _positive_int(prop: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _refuse(prop, value, "give a positive integer")


@dataclass
class AmortizedEstimate:
    """Parameters of one measured map, eV/Angstrom^2.

    Attributes
    ----------
    mean : numpy.ndarray, shape (P,)
        The regressor at the latent mean (Su & Li's estimate).
    sigma : numpy.ndarray, shape (P,)
        Standard deviation of ``samples``.
    samples : numpy.ndarray, shape (n_samples, P)
        The regressor at latent samples drawn from the encoder's Gaussian.
    """

    mean: np.ndarray
    sigma: np.ndarray
    samples: np.ndarray


def network_inputs(signals, use, covered) -> np.ndarray:
    """Standardised maps on the template's covered bins, flattened (the networks' input).

    Parameters
    ----------
    signals : numpy.ndarray, shape (..., n_q, n_e)
        Maps, any unit (NaN allowed outside ``use``).
    use : numpy.ndarray of bool, shape (n_q, n_e)
        Bins that count: standardised over these (mean 0, max - min 1); covered bins not in
        ``use`` enter as 0, the standardised mean.
    covered : numpy.ndarray of bool, shape (n_q, n_e)
        The template's covered bins (the network's inputs, row-major order).

    Returns
    -------
    numpy.ndarray of float32, shape (..., n_covered)
    """
    use = np.asarray(use, bool) & covered
    values = np.where(use, signals, 0.0)
    return standardise(values, use)[..., covered].astype(np.float32)


class AmortizedInverter:
    """A trained VAE + regressor for one crystal, parameter basis, template and temperature.

    Parameters
    ----------
    vae : inslib.ml.networks.VAE
    regressor : inslib.ml.networks.Regressor
    metadata : dict
        What :meth:`save` writes as JSON: "key", "names", "reference" (eV/Angstrom^2),
        "covered" (input bins: 0/1 rows, n_q x n_e), "normalisation" ({"mean", "scale"}:
        parameters = mean + scale x regressor output, eV/Angstrom^2), "architecture",
        "training", ...

    Attributes
    ----------
    names : list of str
        Parameter names (ParameterBasis.names).
    reference : numpy.ndarray, shape (P,)
        Reference parameters, eV/Angstrom^2.
    key : str
        :func:`inversion_key` of the model.
    covered : numpy.ndarray of bool, shape (n_q, n_e)
        Template bins the network reads (covered, inside the training energy window).
    """

    def __init__(self, vae, regressor, metadata: dict):
        self.vae, self.regressor, self.metadata = vae.eval(), regressor.eval(), metadata
        self.names = list(metadata["names"])
        self.reference = np.asarray(metadata["reference"], float)
        self.key = str(metadata["key"])
        self.covered = np.asarray(metadata["covered"], bool)
        self._mean = np.asarray(metadata["normalisation"]["mean"], float)
        self._scale = np.asarray(metadata["normalisation"]["scale"], float)

    def predict(self, signal, use, n_samples: int = 1000, seed: int = 0) -> AmortizedEstimate:
        """Parameters of a measured map, with their spread over latent samples.

        Parameters
        ----------
        signal : numpy.ndarray, shape (n_q, n_e)
            Measured map on the template's bins, any scale (NaN allowed outside ``use``).
        use : numpy.ndarray of bool, shape (n_q, n_e)
            Bins to use (covered and finite).
        n_samples : int
            Latent samples (>= 2).
        seed : int
            Seeds the latent samples.

        Returns
        -------
        AmortizedEstimate
            eV/Angstrom^2.
        """
        use = self._checked_use(signal, use, n_samples)
        x = network_inputs(signal, use, self.covered)[None]
        samples = self.sample_estimates(x, n_samples, seed)[:, 0]
        return AmortizedEstimate(self.point_estimates(x)[0], samples.std(axis=0, ddof=1),
                                 samples)

    def point_estimates(self, x) -> np.ndarray:
        """Regressor at the latent means of network inputs x (n, n_covered): (n, P), eV/A^2."""
        import torch

        with torch.no_grad():
            mean, _ = self.vae.encode(torch.as_tensor(x))
            return self._parameters(self.regressor(mean).double().numpy())

    def sample_estimates(self, x, n_samples: int, seed: int) -> np.ndarray:
        """Regressor at latent samples of network inputs x (n, n_covered).

        Returns
        -------
        numpy.ndarray, shape (n_samples, n, P)
            eV/Angstrom^2.
        """
        import torch

        from inslib.ml.networks import sample_latent

        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            mean, log_var = self.vae.encode(torch.as_tensor(x))
            z = sample_latent(mean, log_var, n_samples, generator)
            return self._parameters(self.regressor(z).double().numpy())

    def _parameters(self, y: np.ndarray) -> np.ndarray:
        return self._mean + self._scale * y

    def _checked_use(self, signal, use, n_samples: int) -> np.ndarray:
        shape = self.covered.shape
        if np.shape(signal) != shape or np.shape(use) != shape:
            msg = (f"signal {np.shape(signal)} and use {np.shape(use)}: the model {self.key[:12]}"
                   f" was trained on {shape[0]} |Q| x {shape[1]} E bins; give maps on its "
                   "template")
            raise ValueError(msg)
        use = np.asarray(use, bool) & self.covered
        if use.sum() < 2:
            msg = "use: fewer than 2 of the model's covered bins are used; give a covered map"
            raise ValueError(msg)
        if not np.all(np.isfinite(np.asarray(signal)[use])):
            msg = "signal: NaN or infinite values in bins marked as used; leave them out of use"
            raise ValueError(msg)
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            msg = f"n_samples={n_samples!r}: give at least 2 latent samples"
            raise ValueError(msg)
        return use

    def save(self, folder) -> Path:
        """Write KEY.pt (float16 state dicts and key) and KEY.json atomically; return its path."""
        import torch

        from inslib.io.atomic import atomic_path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.key}.pt"
        weights = {"key": self.key, "vae": _half(self.vae.state_dict()),
                   "regressor": _half(self.regressor.state_dict())}
        with atomic_path(path) as tmp:
            torch.save(weights, tmp)
        self.metadata["weights_sha256"] = file_digest(path)
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(self.metadata, indent=1))
        return path

    @classmethod
    def load(cls, path, key: str | None = None) -> "AmortizedInverter":
        """Load KEY.pt and its KEY.json (``weights_only=True``).

        Parameters
        ----------
        path : str or pathlib.Path
            The .pt file.
        key : str, optional
            Expected :func:`inversion_key`: a file holding another key is refused.

        Raises
        ------
        AmortizedModelError
            Key mismatch (names the file, the expected and found keys), or weights that are
            not the ones the metadata describes.
        """
        import torch

        from inslib.ml.networks import VAE, Regressor

        path = Path(path)
        metadata = json.loads(path.with_suffix(".json").read_text())
        weights = torch.load(path, map_location="cpu", weights_only=True)
        expected = key if key is not None else str(weights.get("key"))
        for where, found in ((path, weights.get("key")),
                             (path.with_suffix(".json"), metadata.get("key"))):
            if found != expected:
                msg = (f"{where}: model key {found} does not match the expected key "
                       f"{expected}; this file was trained for another crystal, basis, "
                       "template, temperature or training setting")
                raise AmortizedModelError(msg)
        if file_digest(path) != metadata.get("weights_sha256"):
            msg = f"{path}: the weights are not those its metadata {path.with_suffix('.json')} " \
                  "describes (SHA-256 differs); retrain or restore the pair"
            raise AmortizedModelError(msg)
        arch = metadata["architecture"]
        vae = VAE(arch["n_inputs"], arch["vae_hidden"], arch["latent"])
        regressor = Regressor(arch["latent"], arch["regressor_hidden"], len(metadata["names"]))
        vae.load_state_dict({k: v.float() for k, v in weights["vae"].items()})
        regressor.load_state_dict({k: v.float() for k, v in weights["regressor"].items()})
        return cls(vae, regressor, metadata)


def _half(state: dict) -> dict:
    """float16 copy of a state dict (the stored precision, see :func:`round_to_stored`)."""
    return {k: v.half() for k, v in state.items()}


def round_to_stored(*modules) -> None:
    """Round the weights of torch modules to float16 in place (the precision saved).

    Training rounds its final weights so that the figures it reports describe the stored
    model exactly; the file is half the size of float32 weights.
    """
    import torch

    with torch.no_grad():
        for module in modules:
            for weight in module.parameters():
                weight.copy_(weight.half().float())


def cache_folder() -> Path:
    """$INSLIB_CACHE/inversion, or ~/.cache/inslib/inversion."""
    base = os.environ.get("INSLIB_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "inslib") / "inversion"


def find_trained(key: str, folder=None) -> AmortizedInverter | None:
    """Return the trained model with this key, or None.

    Parameters
    ----------
    key : str
        :func:`inversion_key`.
    folder : str or pathlib.Path, optional
        Where to look; by default :func:`cache_folder` then models/ of the repository.
    """
    folders = [Path(folder)] if folder is not None else [cache_folder(),
                                                         inslib.PROJECT_ROOT / "models"]
    for place in folders:
        path = place / f"{key}.pt"
        if path.is_file() and path.with_suffix(".json").is_file():
            return AmortizedInverter.load(path, key)
    return None


def instrument_setting(template) -> dict:
    """Instrument name, geometry, Ei/Ef and resolution settings of a template Histogram.

    Parameters
    ----------
    template : inslib.histogram.Histogram
        A template from CreateSQETemplate (its logs hold the resolution settings, e.g.
        chopper_package, chopper_frequency).

    Returns
    -------
    dict
        JSON-ready; the ``instrument_setting`` argument of :func:`inversion_key`.
    """
    from inslib.instruments import load_instrument

    md = template.metadata
    setting = {"instrument": md.instrument, "emode": md.emode, "ei": md.ei, "efixed": md.efixed}
    names = load_instrument(md.instrument).settings if md.instrument else {}
    for name in names:
        if name in md.logs:
            value = md.logs[name].value
            setting[name] = value if isinstance(value, str) else float(value)
    return setting


def key_settings(datagen: DatagenConfig | None = None,
                 training: TrainingSpec | None = None) -> dict:
    """Return the data and training settings of a model (``settings`` of :func:`inversion_key`).

    None: the defaults (``inslib train-inversion`` with every setting left out and
    n_spectra = :data:`DEFAULT_N_SPECTRA`).
    """
    if datagen is None:
        defaults = {f.name: f.default for f in dataclasses.fields(DatagenConfig)}
        data = {name: defaults.get(name) for name in DATAGEN_SETTINGS}
        data.update(n_spectra=DEFAULT_N_SPECTRA, sets=[])
    else:
        data = {name: getattr(datagen, name) for name in DATAGEN_SETTINGS}
        data["sets"] = [file_digest(p) for p in datagen.sets]
    return {"datagen": data, "training": (training or TrainingSpec()).key_dict()}


def basis_digest(force_constants, shells: int) -> str:
    """SHA-256 of the parameter basis (names, distances, matrix) of force constants."""
    from inslib.simulation.setup import basis_of

    basis = basis_of(force_constants, shells)
    sha = hashlib.sha256(json.dumps(basis.names).encode())
    for array, decimals in ((basis.distances, 6), (basis.matrix, 8)):
        sha.update(np.ascontiguousarray(np.round(array, decimals) + 0.0).tobytes())
    return sha.hexdigest()


def inversion_key(force_constants, shells: int, q_edges, e_edges, mask, temperature: float,
                  instrument_setting: dict, output: str = "PowderSQE", box=(0.5, 1.5),
                  box_per_parameter: dict | None = None, settings: dict | None = None) -> str:
    """SHA-256 (hex) naming a trained model, over content only (no file paths).

    Parameters
    ----------
    force_constants : inslib.phonons.force_constants.ForceConstants
        Reference force constants (by :meth:`ForceConstants.digest`).
    shells : int
        Neighbour shells of the parameter basis (the basis itself is hashed).
    q_edges, e_edges : numpy.ndarray, shape (n_q + 1,), (n_e + 1,)
        Template bin edges, 1/Angstrom and meV.
    mask : numpy.ndarray of bool, shape (n_q, n_e)
        Template mask (True = not covered).
    temperature : float
        K.
    instrument_setting : dict
        :func:`instrument_setting` of the template (name, Ei/Ef, chopper settings).
    output : str
        "PowderSQE" or "PowderChi".
    box : (float, float)
        Sampling box of parameter factors.
    box_per_parameter : dict, optional
        Parameter name -> (lower, upper).
    settings : dict, optional
        :func:`key_settings` (None: the defaults).

    Returns
    -------
    str
        64 hex digits.
    """
    arrays = hashlib.sha256()
    for array in (np.round(np.asarray(q_edges, float), 9) + 0.0,
                  np.round(np.asarray(e_edges, float), 9) + 0.0, np.asarray(mask, bool)):
        arrays.update(str(array.shape).encode())
        arrays.update(np.ascontiguousarray(array).tobytes())
    payload = {"version": KEY_VERSION, "force_constants": force_constants.digest(),
               "shells": int(shells), "basis": basis_digest(force_constants, shells),
               "template": arrays.hexdigest(), "temperature": round(float(temperature), 6),
               "instrument": _rounded(instrument_setting), "output": output,
               "box": [round(float(b), 9) for b in box],
               "box_per_parameter": {k: [round(float(b), 9) for b in v]
                                     for k, v in sorted((box_per_parameter or {}).items())},
               "settings": settings if settings is not None else key_settings()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _rounded(setting: dict) -> dict:
    return {k: round(float(v), 9) if isinstance(v, (int, float)) and not isinstance(v, bool)
            else v for k, v in setting.items()}
