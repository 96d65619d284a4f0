"""Model against measurement on identical bins: one scale factor and a flat background.

Used to validate simulations on measured maps and by users comparing a model with data.
"""

from dataclasses import dataclass

import numpy as np

from inslib.histogram import Histogram


@dataclass
class Comparison:
    """Least-squares fit measured = scale * model + background over the compared bins.

    Attributes
    ----------
    scale : float
        Measured units per model unit.
    background : float
        Flat background, measured units.
    pearson_r : float
        Correlation of the fitted model with the measurement.
    r_factor : float
        sum |measured - fit| / sum |measured|.
    n_bins : int
        Bins compared (covered in both, finite, E above the cut).
    e_min : float
        The energy cut, meV.
    """

    scale: float
    background: float
    pearson_r: float
    r_factor: float
    n_bins: int
    e_min: float = 8.0


def compare(model: Histogram, measured: Histogram, e_min: float = 8.0) -> Comparison:
    """Fit one scale and a flat background over covered bins with E > e_min (meV).

    Both histograms must share bins (the simulation used the measurement as template).
    """
    same = model.shape == measured.shape and all(
        np.allclose(a.values, b.values) for a, b in zip(model.axes, measured.axes, strict=True))
    if not same:
        msg = "model and measurement do not share bins: simulate with InputWorkspace = the data"
        raise ValueError(msg)
    energy = model.axes[1].centres
    use = (~model.mask & ~measured.mask & np.isfinite(model.signal)
           & np.isfinite(measured.signal) & (energy[None, :] > e_min))
    x, y = model.signal[use], measured.signal[use]
    design = np.stack([x, np.ones_like(x)], axis=1)
    (scale, background), *_ = np.linalg.lstsq(design, y, rcond=None)
    fit = design @ np.array([scale, background])
    return Comparison(float(scale), float(background), float(np.corrcoef(fit, y)[0, 1]),
                      float(np.abs(y - fit).sum() / np.abs(y).sum()), int(use.sum()), e_min)
