"""Misfit figures of a model against a measurement on the covered bins.

NMSE follows Su & Li (2024): both maps standardised over the compared bins (mean 0, max - min
= 1), then sum((model - data)^2) / sum(data^2). The same standardisation feeds the amortized
networks, so a measured map and the simulated training maps look alike to them whatever the
measurement's absolute scale.
"""

import numpy as np


def standardise(values: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Shift and scale maps to mean 0 and max - min = 1 over the bins ``use``.

    Parameters
    ----------
    values : numpy.ndarray, shape (..., *map_shape)
        Maps (any unit); leading axes are a batch.
    use : numpy.ndarray of bool, shape map_shape, optional
        Bins that count (covered, finite); other bins are returned as 0. None: every bin of
        one map (no batch axis).

    Returns
    -------
    numpy.ndarray, shape (..., *map_shape)
        Dimensionless.
    """
    values = np.asarray(values, dtype=float)
    use = np.ones(values.shape, bool) if use is None else np.asarray(use, bool)
    picked = values[..., use]
    low, high = picked.min(axis=-1), picked.max(axis=-1)
    span = np.where(high > low, high - low, 1.0)
    mean = picked.mean(axis=-1)
    shape = values.shape[:values.ndim - use.ndim] + (1,) * use.ndim
    scaled = (values - mean.reshape(shape)) / span.reshape(shape)
    return np.where(use, scaled, 0.0)


def nmse(model: np.ndarray, data: np.ndarray, use: np.ndarray) -> float:
    """Normalised mean-square error of standardised maps over the bins ``use`` (dimensionless).

    Parameters
    ----------
    model, data : numpy.ndarray, shape map_shape
    use : numpy.ndarray of bool, shape map_shape
    """
    m, d = standardise(model, use)[use], standardise(data, use)[use]
    return float(np.sum((m - d) ** 2) / np.sum(d**2))


def r_squared(fitted, truth) -> np.ndarray:
    """Coefficient of determination of fitted against true values, per column.

    Parameters
    ----------
    fitted, truth : numpy.ndarray, shape (n,) or (n, n_columns)
        Same unit.

    Returns
    -------
    numpy.ndarray, shape () or (n_columns,)
        1 - sum (fitted - truth)^2 / sum (truth - mean truth)^2 over the first axis.
    """
    fitted, truth = np.asarray(fitted, float), np.asarray(truth, float)
    residual = np.sum((fitted - truth) ** 2, axis=0)
    return 1.0 - residual / np.sum((truth - truth.mean(axis=0)) ** 2, axis=0)


def pearson_r(model: np.ndarray, data: np.ndarray, use: np.ndarray | None = None) -> float:
    """Pearson correlation of two maps over the bins ``use`` (None: every bin)."""
    model, data = np.asarray(model), np.asarray(data)
    use = np.ones(model.shape, dtype=bool) if use is None else use
    return float(np.corrcoef(model[use], data[use])[0, 1])
