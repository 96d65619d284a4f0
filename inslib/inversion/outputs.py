"""What an inversion hands back: parameter table, fitted map, residual, force constants, dispersion.

The table follows Mantid Fit's parameter table (Name, Value, Error, one row per quantity, the
cost function last) with two more columns, the pair distance and the reference value of each
force-constant parameter (NaN for the nuisances and the figures of merit); the row names of the
nuisances and figures are CompareWithSimulation's.
"""

from dataclasses import dataclass, replace

import numpy as np

from inslib.axes import Axis
from inslib.histogram import Histogram, Log, Metadata
from inslib.inversion.metrics import nmse, pearson_r

DISPERSION_STEP = 0.05  # 1/Angstrom between dispersion points along the path
BAND_SAMPLES = 64  # parameter sets drawn from the covariance for the dispersion band


@dataclass
class Figures:
    """Figures of merit of a fit over its used bins.

    Attributes
    ----------
    reduced_chi2 : float
        chi^2 / dof (errors of the measurement; unweighted fits: residual variance).
    pearson_r : float
    nmse : float
        Su & Li's normalised mean-square error of standardised maps.
    n_bins : int
    """

    reduced_chi2: float
    pearson_r: float
    nmse: float
    n_bins: int


def figures(fit) -> Figures:
    """Figures of merit of a :class:`~inslib.inversion.gradient.GradientFit`."""
    data = fit.problem.data
    return Figures(fit.reduced_chi2, pearson_r(fit.model, data.signal, data.use),
                   nmse(fit.model, data.signal, data.use), data.n_used)


def table_rows(fit, found: Figures) -> list:
    """Rows (Name, Distance A, Value, Error, Reference) of the parameter table.

    Force-constant parameters in eV/Angstrom^2, then Scale, Background (measured units),
    ElasticTail (measured units at E = 0) and ResolutionFactor when fitted, PearsonR, NMSE
    and ChiSquaredPerDoF (the cost function).
    """
    problem = fit.problem
    nan = float("nan")
    rows = [(name, float(d), float(v), float(s), float(r)) for name, d, v, s, r in zip(
        problem.names, problem.basis.distances, fit.params, fit.sigma, problem.reference,
        strict=True)]
    rows += [("Scale", nan, fit.scale, nan, nan), ("Background", nan, fit.background, nan, nan)]
    if fit.problem.tail is not None:
        rows.append(("ElasticTail", nan, fit.tail, nan, nan))
    if fit.resolution_factor is not None:
        factor, sigma = fit.resolution_factor
        rows.append(("ResolutionFactor", nan, factor, sigma, 1.0))
    rows += [("PearsonR", nan, found.pearson_r, nan, nan), ("NMSE", nan, found.nmse, nan, nan),
             ("ChiSquaredPerDoF", nan, found.reduced_chi2, nan, nan)]
    return rows


def fitted_maps(measured: Histogram, fit) -> tuple[Histogram, Histogram]:
    """Return the fitted map and the residual on the measured bins.

    The fitted map fills every covered bin, the residual (measured - fit) the used bins; NaN
    elsewhere.
    """
    use = fit.problem.data.use
    covered = ~fit.problem.mask
    model = np.where(covered, fit.model, np.nan)
    residual = np.where(use, measured.signal - fit.model, np.nan)
    meta = replace(measured.metadata, logs=dict(measured.metadata.logs),
                   provenance=list(measured.metadata.provenance))
    fitted = Histogram(measured.axes, model, np.zeros(model.shape), ~covered, meta,
                       y_unit_label=measured.y_unit_label)
    resid = Histogram(measured.axes, residual, np.where(use, measured.variance, 0.0), ~use,
                      replace(meta, logs=dict(meta.logs)), y_unit_label=measured.y_unit_label)
    return fitted, resid


def inverted_force_constants(fit, like):
    """ForceConstants of the fitted parameters (primitive cell), Born charges of ``like``."""
    return fit.problem.basis.force_constants(fit.params, like=like)


def dispersion(fit, seed: int = 0) -> Histogram:
    """Mode energies along the crystal's seekpath path with their one-sigma band.

    The band is the spread of the (sorted) mode energies of :data:`BAND_SAMPLES` parameter sets
    drawn from the fit's covariance.

    Returns
    -------
    Histogram
        Spectra = branches (3N), x = distance along the path (1/Angstrom, labelled ticks);
        signal in meV, variance = band^2 (meV^2).
    """
    import torch

    from inslib.simulation.qpath import parse_path

    problem = fit.problem
    crystal = problem.basis.crystal
    q, distance, ticks = _path_points(parse_path("auto", crystal), crystal.reciprocal)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(fit.params, fit.covariance, BAND_SAMPLES)
    sets = np.concatenate([fit.params[None], draws])
    with torch.no_grad():
        fc = problem.basis.to_force_constants(torch.as_tensor(sets))
        energies = problem.model.modes(q, fc).frequencies.numpy()  # (n_sets, n_q, 3N)
    energies = np.sort(energies, axis=-1)
    branches = energies.shape[-1]
    axes = (Axis(np.arange(1.0, branches + 1), "spectraNumber", "Branch", is_edges=False),
            Axis(distance, "Path", "Q-path", is_edges=False, ticks=tuple(ticks)))
    signal = energies[0].T
    meta_logs = {"DispersionBandSamples": Log(float(BAND_SAMPLES))}
    return Histogram(axes, signal, energies[1:].std(axis=0).T ** 2,
                     np.zeros(signal.shape, bool),
                     Metadata(title="Inverted dispersion (meV) with 1-sigma band",
                              logs=meta_logs), y_unit_label="Energy (meV)")


def _path_points(segments, reciprocal) -> tuple[np.ndarray, np.ndarray, list]:
    """Return points every ~DISPERSION_STEP along a path.

    Fractional q (n, 3), distance (n,) in 1/Angstrom and the (distance, label) ticks.
    """
    q, distance, ticks, position = [], [], [], 0.0
    for a, b, qa, qb in segments:
        length = float(np.linalg.norm((qb - qa) @ reciprocal))
        t = np.linspace(0.0, 1.0, max(2, round(length / DISPERSION_STEP) + 1))
        t = t[1:] if position > 0 else t  # distances strictly increasing (a join is shared)
        q.append(qa + t[:, None] * (qb - qa))
        distance.append(position + length * t)
        label = a if not ticks or ticks[-1][1] == a else f"{ticks[-1][1]}|{a}"
        if ticks and ticks[-1][0] == position:
            ticks[-1] = (position, label)
        else:
            ticks.append((position, label))
        position += length
        ticks.append((position, b))
    return np.concatenate(q), np.concatenate(distance), ticks
