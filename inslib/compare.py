"""Model against measurement on identical bins: one scale factor and a flat background.

The one home of these figures: ``inslib compare``, the CompareWithSimulation algorithm and the
validation tests all call :func:`compare`.

Bins at or below an energy cut are left out (the elastic line is not modelled). Unless given,
the cut is :data:`ELASTIC_FWHMS` elastic-line FWHM of the maps' energy resolution
(:func:`default_e_min`).
"""

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from inslib.histogram import Histogram
from inslib.logs import RESOLUTION_FWHM

MIN_BINS = 3  # a straight-line fit with a correlation needs more points than parameters
ELASTIC_FWHMS = 3.0  # default energy cut in elastic-line FWHMs (Gaussian: 1e-11 of the peak)
E_MIN_FLOOR = 1.0  # meV, the lowest default cut (however sharp the elastic line)
FALLBACK_E_MIN = 8.0  # meV, the default cut when neither map records its resolution


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
    e_min_source : str
        Where the cut came from: "given", or how :func:`default_e_min` found it.
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
    e_min: float = FALLBACK_E_MIN
    e_min_source: str = "given"
    scale_error: float = float("nan")
    background_error: float = float("nan")
    chi2_dof: float | None = None
    compared: np.ndarray | None = field(default=None, repr=False)


def default_e_min(model: Histogram, measured: Histogram) -> tuple[float, str]:
    """Return the default energy cut (meV) of a comparison and where it came from.

    The cut is ``ELASTIC_FWHMS`` times the FWHM of the elastic line (at least
    ``E_MIN_FLOOR``). The FWHM at E = 0 comes from the first of: the model's, then the
    measurement's "ResolutionFWHM" log (per energy bin, as CreateSQETemplate writes it and
    simulations keep it; the value of the bin nearest E = 0 where the bins do not reach it);
    the instrument and Ei the model, then the measurement, records (the instrument's default
    chopper setting). Where neither map records either, the cut is ``FALLBACK_E_MIN``.

    Parameters
    ----------
    model, measured : Histogram
        Powder maps (|Q|, DeltaE), shape (nQ, nE).

    Returns
    -------
    e_min : float
        The cut, meV.
    source : str
        How it was found, for the user (e.g. "3 x the elastic FWHM 13.6 meV, from the model's
        ResolutionFWHM log").
    """
    fwhm, origin = _elastic_fwhm(model, measured)
    if fwhm is None:
        return FALLBACK_E_MIN, f"the fallback cut: {origin}"
    e_min = max(ELASTIC_FWHMS * fwhm, E_MIN_FLOOR)
    floor = f" (raised to the {E_MIN_FLOOR:g} meV floor)" if e_min > ELASTIC_FWHMS * fwhm else ""
    return e_min, f"{ELASTIC_FWHMS:g} x the elastic FWHM {fwhm:.3g} meV, from {origin}{floor}"


def _elastic_fwhm(model: Histogram, measured: Histogram) -> tuple[float | None, str]:
    """Return (FWHM at E = 0 in meV, where from) or (None, why none was found)."""
    roles = (("the model", model), ("the measurement", measured))
    for role, hist in roles:
        log = hist.metadata.logs.get(RESOLUTION_FWHM)
        if log is None:
            continue
        fwhm, centres = np.asarray(log.value, dtype=float), hist.axes[-1].centres
        finite = np.isfinite(fwhm)
        if fwhm.shape == centres.shape and finite.any():
            at_zero = np.interp(0.0, centres[finite], fwhm[finite])
            return float(at_zero), f"{role}'s {RESOLUTION_FWHM} log"
    reasons = []
    for role, hist in roles:
        meta = hist.metadata
        if meta.instrument and meta.ei:
            try:
                return _instrument_fwhm(meta.instrument, meta.ei), (
                    f"{meta.instrument} at Ei={meta.ei:g} meV ({role}'s metadata), default "
                    "chopper setting")
            except ValueError as err:
                reasons.append(f"{role}'s {meta.instrument} at Ei={meta.ei:g} meV: {err}")
    reasons = reasons or [f"neither map records its energy resolution ({RESOLUTION_FWHM} log, "
                          "or instrument and Ei)"]
    return None, "; ".join(reasons)


def _instrument_fwhm(name: str, ei: float) -> float:
    """Return the elastic FWHM (meV) of an instrument's default setting at ``ei``."""
    from inslib.instruments import load_instrument
    from inslib.instruments.resolution import resolution_fwhm

    return float(resolution_fwhm(load_instrument(name), [0.0], ei)[0])


def comparison_errors(model: Histogram, measured: Histogram, e_min: float | None = None) -> dict:
    """Return why a model and a measurement cannot be compared ({} when they can).

    Parameters
    ----------
    model, measured : Histogram
        Powder maps (|Q|, DeltaE), shape (nQ, nE).
    e_min : float, optional
        Energy cut, meV: only bins with centres above it are compared; by default
        :func:`default_e_min`.

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
    if e_min is None:
        e_min = default_e_min(model, measured)[0]
    use = covered & _above(measured, e_min)
    if use.sum() < MIN_BINS:
        top = measured.axes[-1].centres[covered.reshape(-1, covered.shape[-1]).any(axis=0)].max()
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
    return np.broadcast_to(measured.axes[-1].centres > e_min, measured.shape)


def compare(model: Histogram, measured: Histogram, e_min: float | None = None,
            fit_background: bool = True) -> Comparison:
    """Fit one scale (and a flat background) over covered bins with E > e_min.

    The fit is ordinary least squares (every bin weighs the same). Its standard errors come
    from the least-squares covariance: with the measured variances v (Poisson errors) the
    estimator's covariance (A^T A)^-1 A^T diag(v) A (A^T A)^-1, A the design matrix; where the
    measurement has no errors, s^2 (A^T A)^-1 with s^2 the residual variance.

    Parameters
    ----------
    model, measured : Histogram
        Maps on identical bins with energy last: powder (nQ, nE) or MD cuts (n0, ..., nE)
        (the simulation used the measurement as template).
    e_min : float, optional
        Energy cut, meV (the elastic line is not modelled); by default :func:`default_e_min`
        (recorded in the result's ``e_min_source``).
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
    e_min, source = default_e_min(model, measured) if e_min is None else (e_min, "given")
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
                      source, float(sigmas[0]), background[1], chi2, use)


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
