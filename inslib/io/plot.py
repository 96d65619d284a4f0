"""Labelled plots of histograms (matplotlib, Agg backend: no display needed)."""

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


def plot_histogram(hist: Histogram, path, title: str = "") -> Path:
    """Save a plot of a 1D or 2D histogram with labelled axes (units) and a colour bar.

    Parameters
    ----------
    hist : Histogram
        Two axes; a workspace of a few point-axis spectra (indirect-geometry banks) is drawn
        as lines.
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
    vertical, x_axis = hist.axes[-2], hist.axes[-1]
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
    ax.set_title(title or hist.metadata.title)
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
