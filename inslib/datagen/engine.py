"""Spectra of sampled force-constant parameter sets: the computation behind every shard.

:func:`build_engine` turns a :class:`~inslib.datagen.config.DatagenConfig` into the parameter
basis, a model, the template arrays and one batched, differentiable forward model
(:mod:`inslib.simulation.forward`). :func:`shard_parameters` draws (or takes) the stable
parameter sets of one shard from a seed that depends only on (config seed, shard index), and
:func:`spectra` computes their spectra in fixed batches of :data:`BATCH` sets, so a shard's
content never depends on which process or machine made it.
"""

import math
from dataclasses import dataclass

import numpy as np

from inslib.datagen.config import (
    DatagenConfig,
    DatagenConfigError,
    path_request,
)
from inslib.simulation.setup import read_force_constants, reference_basis

BATCH = 64  # parameter sets per forward call (fixed: part of what makes a shard reproducible)
MAX_DRAWS = 20  # draws per wanted set before the box is declared hopeless
HEADROOM = 1.25  # DOS grid top over the highest mode found on a coarser mesh
MAX_CORNERS = 1024  # sampling-box corners evaluated for the DOS grid top


@dataclass
class Engine:
    """Everything a worker needs to make shards of one configuration.

    Attributes
    ----------
    config : DatagenConfig
    basis : ParameterBasis
    model : PhononModel
        On the basis's layout; its own force constants are the reference parameters'.
    reference : numpy.ndarray, shape (n_params,)
        Reference parameters (projection of the file's force constants), eV/Angstrom^2.
    bounds : numpy.ndarray, shape (n_params, 2)
        (lower, upper) factor of each parameter.
    forward : object
        A forward model of :mod:`inslib.simulation.forward` (None for the DOS).
    template : dict of str -> numpy.ndarray
        Arrays written with every shard (edges in 1/Angstrom or meV, mask, angles in degrees).
    thermal : Thermal
    given : numpy.ndarray or None, shape (n_given, n_params)
        Stable projected user sets (``config.sets``), eV/Angstrom^2.
    given_rejected : int
        User sets rejected as unstable.
    """

    config: DatagenConfig
    basis: object
    model: object
    reference: np.ndarray
    bounds: np.ndarray
    forward: object
    template: dict
    thermal: object
    given: np.ndarray | None = None
    given_rejected: int = 0

    @property
    def shape(self) -> tuple:
        """Shape of one spectrum."""
        if self.config.output == "DOS":
            return (len(self.template["energy"]),)
        if self.config.output == "IndirectSE":
            return (len(self.template["angles"]), len(self.template["e_edges"]) - 1)
        if self.config.output == "QPath":
            return (len(self.template["path_edges"]) - 1, len(self.template["e_edges"]) - 1)
        return tuple(self.template["mask"].shape)


def build_engine(config: DatagenConfig) -> Engine:
    """Basis, model, template and forward model of a configuration (a few seconds)."""
    from inslib.phonons.force_constants import to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.phonons.sampling import project_sets

    basis = reference_basis(config.force_constants, config.shells)
    prim = to_primitive(read_force_constants(config.force_constants))
    reference = basis.project(prim)[0][0]
    model = PhononModel(basis.force_constants(reference, like=prim))
    bounds = np.array([config.box_per_parameter.get(name, config.box) for name in basis.names],
                      dtype=float)
    given, rejected = None, 0
    if config.sets:
        from inslib.phonons.force_constants import load_force_constants

        sample, _ = project_sets(basis, [load_force_constants(p) for p in config.sets], model)
        given, rejected = sample.params, sample.rejected
        if len(given) < config.n_spectra:
            msg = (f"n_spectra={config.n_spectra}: only {len(given)} of the {len(config.sets)} "
                   f"sets are stable ({rejected} rejected); give n_spectra <= {len(given)}")
            raise DatagenConfigError(msg)
    thermal = _thermal(config, model, bounds, given, basis, reference)
    forward, template = _forward(config, model, thermal)
    return Engine(config, basis, model, reference, bounds, forward, template, thermal, given,
                  rejected)


def _thermal(config, model, bounds, given, basis, reference):
    """Thermal settings with a DOS grid top above every set's modes.

    D(q) is linear in the parameters, so its largest eigenvalue is a convex function of them
    and its maximum over the sampling box lies at a corner: the corners' highest mode on the
    check mesh, times HEADROOM for the finer mesh, bounds every set that can be drawn (up to
    MAX_CORNERS corners; beyond, sqrt(largest factor) x the reference's highest mode).
    """
    from inslib.simulation.forward import Thermal, dos_top

    if given is not None:
        top = HEADROOM * highest_mode(model, basis, given, config.grid)
    elif 2 ** len(bounds) <= MAX_CORNERS:
        top = HEADROOM * highest_mode(model, basis, box_corners(bounds) * reference, 4)
    else:
        top = dos_top(model, config.grid, HEADROOM * math.sqrt(bounds[:, 1].max()))
    return Thermal(float(config.temperature), config.grid, top)


def box_corners(bounds: np.ndarray) -> np.ndarray:
    """Every corner of a box of factors, shape (2^n, n)."""
    grid = np.array(np.meshgrid(*bounds, indexing="ij")).reshape(len(bounds), -1)
    return grid.T


def highest_mode(model, basis, params, grid: int) -> float:
    """Highest mode (meV) of parameter sets on an n^3 mesh."""
    import torch

    from inslib.scattering.thermal import mp_grid

    with torch.no_grad():
        fc = basis.to_force_constants(params)
        return float(model.modes(mp_grid((grid,) * 3), fc).frequencies.max())


def _forward(config, model, thermal):
    """Forward model and template arrays for the configured output."""
    if config.output == "DOS":
        import torch

        with torch.no_grad():
            return None, {"energy": thermal.mesh(model).dos_energy}
    if config.output == "IndirectSE":
        return _indirect(config, model, thermal)
    if config.output == "QPath":
        return _qpath(config, model, thermal)
    return _powder(config, model, thermal)


def _template_request(spec):
    from inslib.simulation.requests import TemplateRequest

    hist = None
    if spec.workspace:
        from inslib.io.files import load_workspace

        hist = load_workspace(spec.workspace)
    return TemplateRequest(instrument=spec.instrument, ei=spec.ei, efixed=spec.efixed,
                           q_binning=spec.q_binning, e_binning=spec.e_binning, template=hist)


def _powder(config, model, thermal):
    from inslib.instruments.templates import create_sqe_template
    from inslib.scattering.powder import PowderSampling
    from inslib.simulation.forward import Multiphonon, PowderForward
    from inslib.simulation.powder import template_resolution

    request = _template_request(config.template)
    hist = create_sqe_template(request)
    q_edges, e_edges = hist.axes[0].edges, hist.axes[1].edges
    # training data: directions in the irreducible wedge (|G| x denser at the same cost)
    sampling = PowderSampling(config.n_shells, config.n_directions, config.seed,
                              irreducible=True)
    forward = PowderForward(model, q_edges, hist.mask, thermal,
                            Multiphonon(e_edges, template_resolution(request, hist),
                                        config.max_order),
                            config.coherent, config.incoherent, sampling)
    return forward, {"q_edges": q_edges, "e_edges": e_edges, "mask": hist.mask}


def _indirect(config, model, thermal):
    from inslib.simulation.forward import IndirectForward, Multiphonon
    from inslib.simulation.indirect import indirect_setting

    instrument, efixed, e_edges, resolution = indirect_setting(
        _template_request(config.template))
    angles = instrument.banks_deg.mean(axis=1)
    forward = IndirectForward(model, thermal, Multiphonon(e_edges, resolution, config.max_order),
                              efixed, angles)
    return forward, {"e_edges": e_edges, "angles": angles}


def _qpath(config, model, thermal):
    from inslib.simulation.single_crystal import energy_resolution, path_forward

    request = path_request(config)
    instrument = None
    if request.instrument:
        from inslib.instruments import load_instrument

        instrument = load_instrument(request.instrument)
    fwhm = energy_resolution(request, instrument, request.ei)
    forward, edges, ticks = path_forward(model, request, fwhm, thermal)
    template = {"path_edges": edges, "e_edges": forward.e_edges,
                "tick_positions": np.array([position for position, _ in ticks]),
                "tick_labels": np.array([label for _, label in ticks], dtype="S")}
    return forward, template


def shard_seeds(config: DatagenConfig, index: int):
    """Independent generators (parameters, noise) of shard ``index``."""
    sequence = np.random.SeedSequence([config.seed, index])
    return [np.random.default_rng(s) for s in sequence.spawn(2)]


def shard_parameters(engine: Engine, index: int) -> tuple[np.ndarray, int, int]:
    """Stable parameter sets of shard ``index``.

    Returns
    -------
    params : numpy.ndarray, shape (n, n_params)
        eV/Angstrom^2.
    rejected : int
        Draws rejected as dynamically unstable (0 for user sets: counted once, globally).
    attempts : int
        Draws made (accepted + rejected).
    """
    config = engine.config
    n = config.shard_count(index)
    if engine.given is not None:
        start = index * config.shard_size
        return engine.given[start:start + n], 0, n
    return _draw_stable(engine, n, shard_seeds(config, index)[0])


def _draw_stable(engine: Engine, n: int, rng) -> tuple[np.ndarray, int, int]:
    """Box draws (per-parameter factors) until ``n`` stable sets, counted as if one by one."""
    from inslib.phonons.sampling import check_mesh, stable_mask

    q = check_mesh()
    lower, upper = engine.bounds[:, 0], engine.bounds[:, 1]
    draws, stable = [], []
    while sum(int(s.sum()) for s in stable) < n:
        if sum(len(d) for d in draws) >= MAX_DRAWS * n:
            msg = (f"box={engine.config.box}, box_per_parameter="
                   f"{engine.config.box_per_parameter}: fewer than {n} stable sets in "
                   f"{MAX_DRAWS * n} draws; narrow the box towards 1")
            raise DatagenConfigError(msg)
        batch = engine.reference * rng.uniform(lower, upper, size=(BATCH, len(lower)))
        draws.append(batch)
        stable.append(stable_mask(engine.basis, batch, engine.model, q))
    draws, stable = np.concatenate(draws), np.concatenate(stable)
    used = int(np.flatnonzero(stable)[n - 1]) + 1
    return draws[:used][stable[:used]], int(np.sum(~stable[:used])), used


def spectra(engine: Engine, params: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Spectra of parameter sets, in batches of :data:`BATCH`.

    Parameters
    ----------
    params : numpy.ndarray, shape (n, n_params)
        eV/Angstrom^2.

    Returns
    -------
    spectra : numpy.ndarray, shape (n, *engine.shape)
        PowderSQE: mbarn/meV per atom; PowderChi: the same times (1 - exp(-E/kT));
        IndirectSE: mbarn/meV per atom per bank (orders summed); DOS: states/meV per atom.
        float64; 0 in masked bins.
    convergence : numpy.ndarray or None, shape (n,)
        Relative difference of the two direction halves (coherent powder maps only).
    """
    import torch

    from inslib.scattering.powder import convergence

    out, conv = [], []
    with torch.no_grad():
        for start in range(0, len(params), BATCH):
            fc = engine.basis.to_force_constants(params[start:start + BATCH])
            values, halves = _batch(engine, fc)
            out.append(values)
            if halves is not None:
                conv.append(convergence(halves, engine.template.get("mask")))
    return np.concatenate(out), (np.concatenate(conv) if conv else None)


def _batch(engine: Engine, fc):
    """(spectra (n_sets, *shape), halves or None) of one batch, numpy float64."""
    output = engine.config.output
    if output == "DOS":
        return engine.thermal.mesh(engine.model, fc).partial.mean(dim=1).numpy(), None
    if output == "IndirectSE":
        return engine.forward(fc).sum(dim=2).numpy(), None
    if output == "QPath":
        return engine.forward(fc).numpy(), None
    result = engine.forward(fc)
    signal = result.signal.numpy()
    halves = None if result.halves is None else result.halves.numpy()
    if output == "PowderChi":
        factor = detailed_balance(engine.template["e_edges"], engine.config.temperature)
        signal = signal * factor
        halves = None if halves is None else halves * factor
    return signal, halves


def detailed_balance(e_edges: np.ndarray, temperature: float) -> np.ndarray:
    """1 - exp(-E/kT) at the bin centres, shape (n_e,): chi'' = S(Q,E) x this (= S / (n+1))."""
    from inslib.scattering.thermal import K_B

    centres = 0.5 * (e_edges[1:] + e_edges[:-1])
    return -np.expm1(-centres / (K_B * temperature))
