"""What a training dataset is: one validated configuration and the hash that identifies it.

A :class:`DatagenConfig` is checked once, in its constructor: every error names the property,
the bad value and what is valid. Its :meth:`~DatagenConfig.config_hash` (sha256 of the
canonical JSON of the configuration, the content of its input files and the code version)
names the dataset: shards written under another hash are never mixed in.
"""

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import inslib

OUTPUTS = ("PowderSQE", "PowderChi", "IndirectSE", "DOS", "QPath")
DEFAULT_BACKGROUNDS = (0.0, 0.05, 0.1, 0.2, 0.5)  # constant background / mean signal per bin
DEFAULT_COUNTS = (1e3, 1e4, 1e5, 1e6, 1e7)  # total counts per spectrum

# directions per |Q| shell in the irreducible wedge: Al on ARCS (Su & Li grid) reaches the
# L1 error of 500 full-sphere directions (0.14 of the converged map) at 1.7x the speed
DEFAULT_DIRECTIONS = 200


class DatagenConfigError(ValueError):
    """A datagen setting that cannot be used: names the property, the value and what is valid."""


def _fail(prop: str, value, valid: str):
    msg = f"{prop}={value!r}: {valid}"
    raise DatagenConfigError(msg)


@dataclass(frozen=True)
class TemplateSpec:
    """Where the grid, mask, resolution and kinematics come from.

    Attributes
    ----------
    instrument : str
        Instrument name (instruments/*.yaml), e.g. "ARCS"; from ``workspace`` when empty.
    ei : float or None
        Incident energy, meV (direct geometry).
    efixed : float or None
        Final energy, meV (indirect geometry; the instrument's when None).
    q_binning, e_binning : str
        "start,step,end" in 1/Angstrom and meV ("" = the template's default).
    workspace : str
        A measured workspace file (.nxs or .h5) whose bins and mask are used instead.
    path : str
        QPath output: the high-symmetry path ("auto" = seekpath's, or labels / [h,k,l] points
        as SimulateSingleCrystalSQE's QPath, e.g. "G-X-U|K-G-L"): FoldBrillouinZone's geometry.
    path_step : float
        QPath output: path bin width, 1/Angstrom.
    samples : int
        QPath output: random q-points per path bin.
    fwhm : float
        QPath output without an instrument: constant energy resolution FWHM, meV.
    """

    instrument: str = ""
    ei: float | None = None
    efixed: float | None = None
    q_binning: str = ""
    e_binning: str = ""
    workspace: str = ""
    path: str = ""
    path_step: float = 0.02
    samples: int = 4
    fwhm: float = 0.0


@dataclass(frozen=True)
class NoiseSpec:
    """Poisson counting noise plus a constant background (Sable et al. 2026).

    Attributes
    ----------
    backgrounds : tuple of float
        Background levels: constant counts per unmasked bin as a fraction of the mean signal
        per bin (>= 0).
    counts : tuple of float
        Total expected signal counts per spectrum (> 0).
    store : bool
        Also write one noisy copy per spectrum (level drawn from the grid) into the shards.
    """

    backgrounds: tuple = DEFAULT_BACKGROUNDS
    counts: tuple = DEFAULT_COUNTS
    store: bool = False


@dataclass(frozen=True)
class DatagenConfig:
    """A training dataset: force constants, parameter sampling, template, output and physics.

    Attributes
    ----------
    force_constants : str
        Reference force-constants file (phonopy.yaml, CASTEP, euphonic json).
    n_spectra : int
        Spectra wanted (``sets`` given: at most the number of stable sets).
    template : TemplateSpec
    output : str
        One of :data:`OUTPUTS`: powder S(|Q|,E) maps, chi''(|Q|,E) = S (1 - exp(-E/kT)),
        indirect S(E) per bank, or the DOS.
    temperature : float
        K (> 0).
    shells : int
        Neighbour shells of the parameter basis.
    box : tuple of float
        (lower, upper) factors of every reference parameter (Su & Li 2024: 0.5, 1.5).
    box_per_parameter : dict
        Parameter name -> (lower, upper), overriding ``box`` for that parameter.
    sets : tuple of str
        Force-constant files (e.g. from several force fields) projected onto the basis
        instead of the box.
    shard_size : int
        Spectra per shard file.
    seed : int
        Seeds the parameter draws, the noise and the powder directions.
    grid : int
        Monkhorst-Pack mesh n^3 for Debye-Waller and DOS.
    max_order : int
        Highest multiphonon order.
    coherent, incoherent : bool
        Powder terms.
    n_shells, n_directions : int
        Powder sampling per |Q| bin (stratified: a rotated Fibonacci sphere per shell).
    noise : NoiseSpec
    """

    force_constants: str
    n_spectra: int
    template: TemplateSpec = field(default_factory=TemplateSpec)
    output: str = "PowderSQE"
    temperature: float = 300.0
    shells: int = 2
    box: tuple = (0.5, 1.5)
    box_per_parameter: dict = field(default_factory=dict)
    sets: tuple = ()
    shard_size: int = 256
    seed: int = 0
    grid: int = 16
    max_order: int = 10
    coherent: bool = True
    incoherent: bool = True
    n_shells: int = 1
    n_directions: int = DEFAULT_DIRECTIONS
    noise: NoiseSpec = field(default_factory=NoiseSpec)

    def __post_init__(self):
        _check_scalars(self)
        _check_box("box", self.box)
        from inslib.simulation.setup import reference_basis

        names = reference_basis(self.force_constants, self.shells).names
        for name, bounds in self.box_per_parameter.items():
            if name not in names:
                _fail("box_per_parameter", name, f"unknown parameter name; valid: {names}")
            _check_box(f"box_per_parameter[{name!r}]", bounds)
        for path in self.sets:
            _check_file("sets", path)
        _check_template(self)
        _check_noise(self.noise)

    @property
    def n_shards(self) -> int:
        """Number of shard files (the last may hold fewer than ``shard_size`` spectra)."""
        return math.ceil(self.n_spectra / self.shard_size)

    def shard_count(self, index: int) -> int:
        """Spectra in shard ``index``."""
        return min(self.shard_size, self.n_spectra - index * self.shard_size)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (:meth:`from_dict` reads them back)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "DatagenConfig":
        """Rebuild (and validate) a configuration written by :meth:`to_dict`."""
        data = dict(data)
        data["template"] = TemplateSpec(**data.get("template", {}))
        noise = dict(data.get("noise", {}))
        for key in ("backgrounds", "counts"):
            if key in noise:
                noise[key] = tuple(noise[key])
        data["noise"] = NoiseSpec(**noise)
        for key in ("box", "sets"):
            if key in data:
                data[key] = tuple(data[key])
        data["box_per_parameter"] = {k: tuple(v) for k, v in
                                     data.get("box_per_parameter", {}).items()}
        return cls(**data)

    def canonical_json(self) -> str:
        """Sorted, compact JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        """sha256 (hex) of the canonical JSON, the input files' content and the code version."""
        files = [self.force_constants, *self.sets]
        if self.template.workspace:
            files.append(self.template.workspace)
        payload = {"config": self.to_dict(), "code_version": inslib.__version__,
                   "inputs": [file_digest(p) for p in files]}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _check_scalars(config: DatagenConfig) -> None:
    _check_file("force_constants", config.force_constants)
    if config.output not in OUTPUTS:
        _fail("output", config.output, f"valid outputs: {list(OUTPUTS)}")
    positive_ints = {"n_spectra": config.n_spectra, "shard_size": config.shard_size,
                     "shells": config.shells, "grid": config.grid,
                     "max_order": config.max_order, "n_shells": config.n_shells,
                     "n_directions": config.n_directions}
    for name, value in positive_ints.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(name, value, "give a positive integer")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        _fail("seed", config.seed, "give a non-negative integer")
    if not isinstance(config.temperature, (int, float)) or not config.temperature > 0:
        _fail("temperature", config.temperature, "give the sample temperature in K (> 0)")
    if config.output.startswith("Powder") and not (config.coherent or config.incoherent):
        _fail("coherent", config.coherent, "a powder map needs coherent or incoherent terms")
    if config.output == "PowderChi" and config.n_directions < 2:
        _fail("n_directions", config.n_directions, "give >= 2 (two halves for convergence)")


def _check_box(prop: str, bounds) -> None:
    valid = ("give (lower, upper) factors of the reference parameters with "
             "0 < lower < upper, e.g. (0.5, 1.5)")
    try:
        lower, upper = (float(b) for b in bounds)
    except (TypeError, ValueError):
        _fail(prop, bounds, valid)
    if not (math.isfinite(lower) and math.isfinite(upper)) or lower <= 0 or upper <= 0:
        _fail(prop, bounds, "bounds must be positive: " + valid)
    if lower >= upper:
        _fail(prop, bounds, "lower >= upper: " + valid)


def _check_file(prop: str, path) -> None:
    if not isinstance(path, str) or not Path(path).is_file():
        _fail(prop, path, "give the path of an existing file")


def _check_template(config: DatagenConfig) -> None:
    spec = config.template
    if spec.workspace:
        _check_file("template.workspace", spec.workspace)
        mask = workspace_mask(spec.workspace)
        if mask is None or not mask.any() or mask.all():
            _fail("template.workspace", spec.workspace,
                  "the workspace has no usable mask (none, no bin masked or every bin masked): "
                  "give a template with the uncovered bins masked (CreateSQETemplate, or a "
                  "reduced measurement) or an instrument + Ei")
        return
    if config.output == "DOS":
        return
    if config.output == "QPath":
        _check_path(config)
        return
    if not spec.instrument:
        _fail("template.instrument", spec.instrument,
              "give an instrument name (e.g. ARCS) or template.workspace")
    if config.output != "IndirectSE" and spec.ei is None:
        _fail("template.ei", spec.ei, "a direct-geometry powder map needs Ei in meV (> 0)")
    from inslib.simulation.requests import TemplateRequest, validate_template

    errors = validate_template(TemplateRequest(spec.instrument, spec.ei, spec.efixed,
                                               spec.q_binning, spec.e_binning))
    for prop, message in errors.items():
        _fail(f"template ({prop})", asdict(spec), message)


def _check_path(config: DatagenConfig) -> None:
    """Refuse a q-path template that SimulateSingleCrystalSQE would refuse."""
    from inslib.simulation.qpath import parse_path
    from inslib.simulation.requests import validate_single_crystal

    spec = config.template
    if not spec.path:
        _fail("template.path", spec.path, "the QPath output needs a path: 'auto' or labels "
              "such as 'G-X-U|K-G-L'")
    errors = validate_single_crystal(path_request(config))
    for prop, message in errors.items():
        _fail(f"template ({prop})", asdict(spec), message)
    from inslib.simulation.setup import read_force_constants

    crystal = read_force_constants(config.force_constants).crystal
    try:
        parse_path(spec.path, crystal)
    except ValueError as exc:
        _fail("template.path", spec.path, str(exc))


def path_request(config: DatagenConfig):
    """Return the SingleCrystalRequest of a QPath configuration (one request vocabulary)."""
    from inslib.simulation.requests import SingleCrystalRequest

    spec = config.template
    return SingleCrystalRequest(config.force_constants, e_binning=spec.e_binning or "0,0.5,40",
                                temperature=float(config.temperature),
                                instrument=spec.instrument, ei=spec.ei, fwhm=spec.fwhm,
                                samples=spec.samples, seed=config.seed, grid=config.grid,
                                path=spec.path, path_step=spec.path_step)


def _check_noise(noise: NoiseSpec) -> None:
    if len(noise.backgrounds) == 0 or any(not b >= 0 for b in noise.backgrounds):
        _fail("noise.backgrounds", noise.backgrounds, "give background fractions >= 0")
    if len(noise.counts) == 0 or any(not c > 0 for c in noise.counts):
        _fail("noise.counts", noise.counts, "give total counts > 0")


def workspace_mask(path):
    """Mask of a measured workspace file (bool array, True = not covered) or None."""
    from inslib.io.files import load_workspace

    mask = getattr(load_workspace(path), "mask", None)
    return None if mask is None else mask.astype(bool)


def file_digest(path) -> str:
    """SHA-256 (hex) of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
