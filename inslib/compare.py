"""Model against measurement on identical bins: one scale factor and a flat background.

The one home of these figures: ``inslib compare``, the CompareWithSimulation algorithm and the
validation tests all call :func:`compare`.
"""

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from inslib.histogram import Histogram

MIN_BINS = 3  # a straight-line fit with a correlation needs more points than parameters


@dataclass
class Comparison:
    """Least-squares fit measured = scale * model + background over the compared bins.

    Attributes
    ----------
    scale : float
        Measured units per model unit.
    background : float
        Flat background, measured units (0 when not fitted).
    pearson_r : float
        Correlation of the fitted model with the measurement.
    r_factor : float
        sum |measured - fit| / sum |measured|.
    n_bins : int
        Bins compared (covered in both, finite, E above the cut).
    e_min : float
        The energy cut, meV.
    scale_error, background_error : float
        Standard errors of the fitted scale and background (see :func:`compare`).
    chi2_dof : float or None
        sum((measured - fit)^2 / sigma^2) / (n_bins - parameters); None unless every compared
        bin has a measured error > 0.
    compared : numpy.ndarray of bool, shape (nQ, nE)
        The compared bins.
    """

    scale: float
    background: float
    pearson_r: float
    r_factor: float
    n_bins: int
    e_min: float = 8.0
    scale_error: float = float("nan")
    background_error: float = float("nan")
    chi2_dof: float | None = None
    compared: np.ndarray | None = field(default=None, repr=False)


def comparison_errors(model: Histogram, measured: Histogram, e_min: float) -> dict:
    """Return why a model and a measurement cannot be compared ({} when they can).

    Parameters
    ----------
    model, measured : Histogram
        Powder maps (|Q|, DeltaE), shape (nQ, nE).
    e_min : float
        Energy cut, meV: only bins with centres above it are compared.

    Returns
    -------
    dict
        {"model" | "measured" | "e_min": message}; each message names the value and the fix.
    """
    difference = _bin_difference(model, measured)
    if difference:
        return {"model": f"the model's bins differ from the measurement's ({difference}): "
                         "simulate with InputWorkspace = the measured workspace so that both "
                         "share bins"}
    errors = {}
    for role, hist in (("model", model), ("measured", measured)):
        if not (~hist.mask & np.isfinite(hist.signal)).any():
            errors[role] = f"the {role} map has no finite, unmasked bin (all NaN or masked)"
    if errors:
        return errors
    covered = _covered(model, measured)
    if not covered.any():
        return {"model": "the model and the measurement have no covered bin in common: check "
                         "that the simulation used the measurement's mask"}
    use = covered & _above(measured, e_min)
    if use.sum() < MIN_BINS:
        top = measured.axes[1].centres[covered.any(axis=0)].max()
        return {"e_min": f"the energy cut {e_min:g} meV leaves {use.sum()} compared bins (at "
                         f"least {MIN_BINS} needed; the highest covered bin centre is {top:g} "
                         "meV): lower the cut (EMin, --emin)"}
    return _constant_maps(model, measured, use, e_min)


def _constant_maps(model: Histogram, measured: Histogram, use: np.ndarray, e_min: float) -> dict:
    """Map {role: message} for a model or measurement constant over the compared bins."""
    errors = {}
    for role, hist in (("model", model), ("measured", measured)):
        values = hist.signal[use]
        if np.ptp(values) <= 1e-12 * np.abs(values).max():
            errors[role] = (f"the {role} map is constant ({values[0]:g}) over the {use.sum()} "
                            f"compared bins above {e_min:g} meV: scale and correlation are "
                            "undefined; check the workspace")
    return errors


def _bin_difference(model: Histogram, measured: Histogram) -> str:
    """Describe the first difference of the bins ("" when they agree)."""
    if model.shape != measured.shape:
        return f"shape {model.shape} against {measured.shape}"
    for ours, theirs in zip(model.axes, measured.axes, strict=True):
        if not np.allclose(ours.values, theirs.values):
            return (f"{theirs.unit} axis {ours.values[0]:g} to {ours.values[-1]:g} against "
                    f"{theirs.values[0]:g} to {theirs.values[-1]:g}")
    return ""


def _covered(model: Histogram, measured: Histogram) -> np.ndarray:
    return (~model.mask & ~measured.mask & np.isfinite(model.signal)
            & np.isfinite(measured.signal))


def _above(measured: Histogram, e_min: float) -> np.ndarray:
    return np.broadcast_to(measured.axes[1].centres[None, :] > e_min, measured.shape)


def compare(model: Histogram, measured: Histogram, e_min: float = 8.0,
            fit_background: bool = True) -> Comparison:
    """Fit one scale (and a flat background) over covered bins with E > e_min.

    The fit is ordinary least squares (every bin weighs the same). Its standard errors come
    from the least-squares covariance: with the measured variances v (Poisson errors) the
    estimator's covariance (A^T A)^-1 A^T diag(v) A (A^T A)^-1, A the design matrix; where the
    measurement has no errors, s^2 (A^T A)^-1 with s^2 the residual variance.

    Parameters
    ----------
    model, measured : Histogram
        Powder maps on identical bins, shape (nQ, nE) (the simulation used the measurement as
        template).
    e_min : float
        Energy cut, meV (the elastic line is not modelled).
    fit_background : bool
        Fit a flat background; otherwise the model is only scaled.

    Returns
    -------
    Comparison
        Scale, background, their standard errors, Pearson r, R-factor, chi^2/dof.

    Raises
    ------
    ValueError
        When :func:`comparison_errors` finds a reason (bins differ, fewer than 3 bins above
        the cut, all-NaN or constant maps).
    """
    errors = comparison_errors(model, measured, e_min)
    if errors:
        raise ValueError("; ".join(errors.values()))
    use = _covered(model, measured) & _above(measured, e_min)
    x, y, variance = model.signal[use], measured.signal[use], measured.variance[use]
    variance = np.where(np.isfinite(variance), variance, 0.0)
    design = np.stack([x, np.ones_like(x)], axis=1) if fit_background else x[:, None]
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    fit = design @ coefficients
    sigmas = np.sqrt(np.diag(_covariance(design, y - fit, variance)))
    dof = y.size - design.shape[1]
    chi2 = float(np.sum((y - fit) ** 2 / variance) / dof) if (variance > 0).all() else None
    background = (float(coefficients[1]), float(sigmas[1])) if fit_background else (0.0, 0.0)
    return Comparison(float(coefficients[0]), background[0], float(np.corrcoef(fit, y)[0, 1]),
                      float(np.abs(y - fit).sum() / np.abs(y).sum()), int(y.size), e_min,
                      float(sigmas[0]), background[1], chi2, use)


def _covariance(design: np.ndarray, residual: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Covariance of least-squares coefficients, shape (p, p), from design (n, p)."""
    inverse = np.linalg.inv(design.T @ design)
    if (variance > 0).any():
        return inverse @ (design.T * variance) @ design @ inverse
    return inverse * (residual @ residual) / (residual.size - design.shape[1])


def residual(model: Histogram, measured: Histogram, result: Comparison) -> Histogram:
    """Measured minus fitted model on the measured bins, masked (NaN) where not compared.

    Parameters
    ----------
    model, measured : Histogram
        The maps :func:`compare` fitted, shape (nQ, nE).
    result : Comparison
        Its result.

    Returns
    -------
    Histogram
        measured - (scale * model + background), with the measured variance; mask = bins not
        compared (uncovered, non-finite or below the energy cut).
    """
    fitted = result.scale * model.signal + result.background
    mask = ~result.compared
    return replace(measured, signal=np.where(mask, np.nan, measured.signal - fitted),
                   variance=np.where(mask, 0.0, measured.variance), mask=mask,
                   metadata=copy.deepcopy(measured.metadata))
