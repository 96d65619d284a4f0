"""The misfit of a model spectrum against a measurement, with the linear nuisances profiled out.

For given force constants the best scale and flat background follow in closed form (weighted
linear least squares), so the optimiser only sees the force-constant variables and the misfit
chi^2(u) = min over (scale, background) of sum w (d - scale m(u) - background)^2, w = 1/sigma^2,
keeps its gradient through the closed form (variable projection).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Nuisance:
    """Linear nuisance parameters of a batch of fits.

    Attributes
    ----------
    scale : torch.Tensor, shape (n_sets,)
        Measured units per model unit (model: mbarn/meV per atom).
    background : torch.Tensor, shape (n_sets,)
        Flat background, measured units (0 when not fitted).
    tail : torch.Tensor or None, shape (n_sets,)
        Amplitude of the elastic-line tail (measured units at E = 0), when fitted.
    """

    scale: object
    background: object
    tail: object = None


def linear_nuisance(model, data, weights, background: bool = True) -> Nuisance:
    """Weighted least-squares scale (and flat background) of data against model spectra.

    Parameters
    ----------
    model : torch.Tensor, shape (n_sets, n_used)
        Model values on the used bins.
    data, weights : torch.Tensor, shape (n_used,)
        Measured values and 1 / sigma^2.
    background : bool
        Fit a flat background as well as the scale.
    """
    sw = weights.sum()
    sx, sy = (weights * model).sum(-1), (weights * data).sum()
    sxx, sxy = (weights * model * model).sum(-1), (weights * model * data).sum(-1)
    if not background:
        return Nuisance(sxy / sxx, sxy * 0.0)
    det = sw * sxx - sx * sx
    return Nuisance((sw * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det)


def chi_square(model, data, weights, background: bool = True, tail=None):
    """chi^2 of each set after its best scale and background, and those nuisances.

    Parameters
    ----------
    model : torch.Tensor, shape (n_sets, n_used)
    data, weights : torch.Tensor, shape (n_used,)
    background : bool
        Fit a flat background.
    tail : torch.Tensor, shape (n_used,), optional
        Shape of an elastic-line tail whose amplitude is fitted as well.

    Returns
    -------
    chi2 : torch.Tensor, shape (n_sets,)
        Dimensionless (weights 1/sigma^2 of the data's unit).
    nuisance : Nuisance
    """
    nuisance = (linear_nuisance(model, data, weights, background) if tail is None
                else tail_nuisance(model, data, weights, background, tail))
    fit = nuisance.scale[:, None] * model + nuisance.background[:, None]
    if tail is not None:
        fit = fit + nuisance.tail[:, None] * tail[None, :]
    return (weights * (data - fit) ** 2).sum(-1), nuisance


def tail_nuisance(model, data, weights, background: bool, tail) -> Nuisance:
    """Weighted least-squares scale, background (optional) and elastic-tail amplitude.

    Parameters
    ----------
    model : torch.Tensor, shape (n_sets, n_used)
    data, weights, tail : torch.Tensor, shape (n_used,)
    """
    import torch

    columns = [model, torch.ones_like(model), tail.expand_as(model)]
    if not background:
        columns.pop(1)
    design = torch.stack(columns, dim=-1)  # (n_sets, n_used, k)
    normal = design.transpose(1, 2) @ (weights[None, :, None] * design)
    rhs = design.transpose(1, 2) @ (weights * data)[None, :, None]
    coefficients = torch.linalg.solve(normal, rhs)[..., 0]
    offset = coefficients[:, 1] if background else coefficients[:, 0] * 0.0
    return Nuisance(coefficients[:, 0], offset, coefficients[:, -1])


def used_tail(problem, index):
    """Elastic-tail shape on the used bins (torch (n_used,)), or None when not fitted."""
    import torch

    if problem.tail is None:
        return None
    return torch.as_tensor(np.asarray(problem.tail, float).ravel()[index])


def used_tensors(problem, device=None) -> tuple:
    """Return data, weights (torch float64, (n_used,)) and the flat indices of the used bins."""
    import torch

    data = problem.data
    index = np.flatnonzero(data.use.ravel())
    values = torch.as_tensor(data.signal.ravel()[index], dtype=torch.float64, device=device)
    weights = torch.as_tensor(1.0 / data.errors.ravel()[index] ** 2, dtype=torch.float64,
                              device=device)
    return values, weights, torch.as_tensor(index, device=device)
