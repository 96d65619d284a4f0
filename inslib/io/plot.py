"""Labelled plots of histograms (matplotlib, Agg backend: no display needed)."""

import warnings
from pathlib import Path

import numpy as np

from inslib.histogram import Histogram
from inslib.io.atomic import atomic_path
from inslib.logs import RESOLUTION_FWHM

MAX_LINES = 6  # spectra drawn as lines rather than a colour map


def _quantity(hist: Histogram):
    """Pick what to colour: the signal, or for an empty template its resolution FWHM."""
    values = np.where(hist.mask, np.nan, hist.signal)
    if np.any(np.nan_to_num(values) != 0) or RESOLUTION_FWHM not in hist.metadata.logs:
        return values, hist.y_unit_label
    fwhm = np.asarray(hist.metadata.logs[RESOLUTION_FWHM].value, float)
    return np.where(hist.mask, np.nan, np.broadcast_to(fwhm, hist.shape)), \
        "Energy resolution FWHM (meV) over covered bins"


def view_2d(hist: Histogram, values: np.ndarray) -> tuple:
    """Return a view of at most two axes of a histogram of any dimension, and what it leaves out.

    Axes of one bin (integrated) are dropped; of more than two axes with several bins, the
    first and the last (energy for MD histograms) are kept and the others averaged over
    (NaN bins left out).

    Returns
    -------
    values : numpy.ndarray
        1D or 2D.
    axes : list of Axis
        The axes of ``values``.
    note : str
        The integrated or averaged axes and their ranges ("" when none).
    """
    binned = [i for i, axis in enumerate(hist.axes) if axis.size > 1] or [len(hist.axes) - 1]
    kept = binned if len(binned) <= 2 else [binned[0], binned[-1]]
    dropped = [i for i in range(len(hist.axes)) if i not in kept]
    if dropped:
        with warnings.catch_warnings():  # all-NaN columns stay NaN (masked bins)
            warnings.simplefilter("ignore", RuntimeWarning)
            values = np.nanmean(values, axis=tuple(dropped))
    note = ", ".join(f"{'mean over' if hist.axes[i].size > 1 else 'integrated'} "
                     f"{hist.axes[i].label} {hist.axes[i].edges[0]:g} to "
                     f"{hist.axes[i].edges[-1]:g}" for i in dropped if hist.axes[i].is_edges)
    return values, [hist.axes[i] for i in kept], note


def plot_histogram(hist: Histogram, path, title: str = "") -> Path:
    """Save a plot of a histogram of any dimension with labelled axes (units) and a colour bar.

    Parameters
    ----------
    hist : Histogram
        Two axes; a workspace of a few point-axis spectra (indirect-geometry banks) is drawn
        as lines. More axes are reduced to two by :func:`view_2d` (noted in the title).
    path : str or pathlib.Path
        Output image (.png, .pdf, .svg).
    title : str
        Plot title (the workspace title when empty).

    Returns
    -------
    pathlib.Path
        The written image.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    values, label = _quantity(hist)
    values, axes, note = view_2d(hist, values)
    vertical, x_axis = axes[0], axes[-1]
    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    if values.ndim == 2 and 1 < values.shape[0] <= MAX_LINES and not vertical.is_edges:
        for row, value in zip(values, vertical.values, strict=True):
            ax.plot(x_axis.centres, row, label=f"{vertical.name} = {value:g}")
        ax.legend()
        ax.set_xlabel(x_axis.label)
        ax.set_ylabel(label)
    elif values.ndim == 2 and values.shape[0] > 1:
        # colour scale to the 99.5th percentile: Bragg tails and the 1/E divergence of
        # acoustic modes at Gamma would otherwise hide everything else
        finite = values[np.isfinite(values)]
        top = float(np.percentile(finite, 99.5)) if finite.size else None
        mesh = ax.pcolormesh(vertical.edges, x_axis.edges, np.ma.masked_invalid(values).T,
                             shading="flat", vmax=top if top and top > 0 else None)
        fig.colorbar(mesh, ax=ax, label=label)
        ax.set_xlabel(vertical.label)
        if vertical.ticks:
            ax.set_xticks([t[0] for t in vertical.ticks], [t[1].replace("G", "Γ")
                                                            for t in vertical.ticks])
            for position, _ in vertical.ticks:
                ax.axvline(position, color="w", lw=0.5, alpha=0.6)
        ax.set_ylabel(x_axis.label)
    else:
        ax.plot(x_axis.centres, values.reshape(-1))
        ax.set_xlabel(x_axis.label)
        ax.set_ylabel(label)
    ax.set_title("\n".join(t for t in (title or hist.metadata.title, note) if t))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def plot_comparison(model: Histogram, measured: Histogram, result, path) -> Path:
    """Save measured and fitted model maps side by side on one colour scale.

    Parameters
    ----------
    model, measured : Histogram
        Powder maps on identical bins.
    result : inslib.compare.Comparison
        The fitted scale and background (the model is drawn as scale * model + background).
    path : str or pathlib.Path
        Output image.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fitted = result.scale * model.signal + result.background
    shown = [np.where(measured.mask | model.mask, np.nan, values)
             for values in (measured.signal, fitted)]
    inelastic = measured.axes[1].centres[None, :] > result.e_min
    top = np.nanpercentile(np.where(inelastic, shown[0], np.nan), 99.5)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True, sharey=True)
    q_axis, e_axis = measured.axes
    for ax, values, title in zip(axes, shown, ("Measured", "Model (scale + background)"),
                                 strict=True):
        mesh = ax.pcolormesh(q_axis.edges, e_axis.edges, np.ma.masked_invalid(values).T,
                             vmin=0, vmax=top, shading="flat")
        ax.set_title(title)
        ax.set_xlabel(q_axis.label)
    axes[0].set_ylabel(e_axis.label)
    fig.colorbar(mesh, ax=axes, label=measured.y_unit_label or "intensity")
    fig.suptitle(f"{model.metadata.title}\nPearson r = {result.pearson_r:.3f}, "
                 f"R = {result.r_factor:.3f} ({result.n_bins} bins with E > {result.e_min:g} meV;"
                 " colour scale set by those bins)")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
