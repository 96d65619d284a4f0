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
    """

    scale: object
    background: object


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


def chi_square(model, data, weights, background: bool = True):
    """chi^2 of each set after its best scale and background, and those nuisances.

    Parameters
    ----------
    model : torch.Tensor, shape (n_sets, n_used)
    data, weights : torch.Tensor, shape (n_used,)

    Returns
    -------
    chi2 : torch.Tensor, shape (n_sets,)
        Dimensionless (weights 1/sigma^2 of the data's unit).
    nuisance : Nuisance
    """
    nuisance = linear_nuisance(model, data, weights, background)
    fit = nuisance.scale[:, None] * model + nuisance.background[:, None]
    return (weights * (data - fit) ** 2).sum(-1), nuisance


def used_tensors(problem, device=None) -> tuple:
    """Return data, weights (torch float64, (n_used,)) and the flat indices of the used bins."""
    import torch

    data = problem.data
    index = np.flatnonzero(data.use.ravel())
    values = torch.as_tensor(data.signal.ravel()[index], dtype=torch.float64, device=device)
    weights = torch.as_tensor(1.0 / data.errors.ravel()[index] ** 2, dtype=torch.float64,
                              device=device)
    return values, weights, torch.as_tensor(index, device=device)
