"""Figures and numbers of docs/inversion.md: InvertForceConstants on the measured Al ARCS map.

    .venv/bin/python benchmarks/inversion_figures.py [--fit-resolution]

Runs the inversion with InvertForceConstants' defaults (Method=Hybrid, which falls back to
Gradient where no amortized model is trained; 200 directions per |Q| shell, 16^3 mesh) on
tests/data/shared/powder_Al_ARCS_Ei80/Al-iqe.h5 with the
ABACUS DFT force constants as the reference; prints the parameters next to the DFT file's
projected ones and the figures of merit of the reference and of the fit, on the fitted bins
(E > 8 meV, E < 0.95 Ei) and on the issue's selection (every covered bin with E > 8 meV);
writes docs/figures/Al_inversion_maps.png and Al_inversion_dispersion.png (default fit only).
The DFT file is shown twice: every force constant of the file (SimulatePowderSQE with the fit's
sampling) and its projection on the fitted shells (the fit's start).
"""

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from inslib.inversion.metrics import nmse, pearson_r
from inslib.inversion.objective import chi_square
from inslib.inversion.request import InversionRequest
from inslib.inversion.run import invert
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.scattering.powder import PowderSampling
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"
FIGURES = ROOT / "docs" / "figures"
FC = SHARED / "force_constants" / "phonopy_example_Al_ABACUS" / "phonopy.yaml"
MEASURED = SHARED / "powder_Al_ARCS_Ei80" / "Al-iqe.h5"


def default_request(measured, fit_resolution: bool = False, shells: int = 2) -> InversionRequest:
    """Build the request InvertForceConstants makes of its default properties for this map."""
    template = TemplateRequest(instrument="ARCS", ei=80.0, temperature=300.0, template=measured)
    simulation = PowderRequest(str(FC), "", template=template, sampling=PowderSampling(1, 200))
    return InversionRequest(simulation, shells=shells, fit_resolution=fit_resolution)


def issue_selection(measured, problem) -> np.ndarray:
    """Bins of the issue's figures: covered, finite, E > 8 meV (the E = 78 meV edge included).

    Returns
    -------
    numpy.ndarray of bool, shape (n_q, n_e)
    """
    energy = measured.axes[1].centres
    return ~problem.mask & np.isfinite(measured.signal) & (energy[None, :] > 8.0)


def _reference_map(result, simulation=None):
    """Return a DFT map after its own best scale and background, and its chi^2/dof.

    The DFT file's force constants projected on the fit's shells (``simulation`` None), or
    every force constant of the file (SimulatePowderSQE on ``simulation``, a PowderRequest).
    """
    import torch

    problem = result.fit.problem
    if simulation is None:
        with torch.no_grad():
            model = problem.spectra(torch.zeros((1, len(problem.bounds)),
                                                dtype=torch.float64))[0].numpy()
    else:
        model = np.nan_to_num(simulate_powder(simulation).signal)
    data = problem.data
    values = torch.as_tensor(data.signal[data.use])
    weights = torch.as_tensor(1.0 / data.errors[data.use] ** 2)
    chi2, nuisance = chi_square(torch.as_tensor(model[data.use])[None], values, weights)
    fitted = float(nuisance.scale[0]) * model + float(nuisance.background[0])
    return fitted, float(chi2[0]) / result.fit.dof


def _figures(label, model, measured, use, reduced_chi2=None):
    chi2 = "" if reduced_chi2 is None else f"  chi^2/dof {reduced_chi2:8.3f}"
    print(f"  {label:<16} NMSE {nmse(model, measured, use):.4f}  "
          f"r {pearson_r(model, measured, use):.4f}{chi2}")


def _plot_maps(measured, result, reference):
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    use = result.fit.problem.data.use
    q, e = measured.axes[0].edges, measured.axes[1].edges
    panels = [("measured", np.where(use, measured.signal, np.nan)),
              ("DFT reference (scaled)", np.where(use, reference, np.nan)),
              ("inverted fit", np.where(use, result.fit.model, np.nan)),
              ("residual: measured - fit", np.where(use, measured.signal - result.fit.model,
                                                    np.nan))]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), sharey=True)
    top = np.nanpercentile(panels[0][1], 99.5)
    for ax, (title, values) in zip(axes, panels, strict=True):
        limit = (-0.2 * top, 0.2 * top) if title.startswith("residual") else (0, top)
        mesh = ax.pcolormesh(q, e, values.T, vmin=limit[0], vmax=limit[1], shading="flat")
        ax.set_title(title)
        ax.set_xlabel("|Q| (1/Angstrom)")
        fig.colorbar(mesh, ax=ax)
    axes[0].set_ylabel("Energy transfer (meV)")
    covered = e[:-1][use.any(axis=0)]
    axes[0].set_ylim(covered.min(), covered.max() + np.diff(e).max())
    fig.tight_layout()
    fig.savefig(FIGURES / "Al_inversion_maps.png", dpi=90)


def _plot_dispersion(result):
    import matplotlib.pyplot as plt

    from inslib.inversion.outputs import dispersion

    disp = result.dispersion
    problem = result.fit.problem
    reference = dispersion(SimpleNamespace(problem=problem, params=problem.reference,
                                           covariance=np.zeros((problem.n_params,) * 2)))
    x = disp.axes[1].values
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for branch in reference.signal:
        ax.plot(x, branch, color="0.4", ls="--", lw=1)
    for branch, variance in zip(disp.signal, disp.variance, strict=True):
        band = np.sqrt(variance)
        ax.fill_between(x, branch - band, branch + band, color="C1", alpha=0.4, lw=0)
        ax.plot(x, branch, color="C1")
    positions, labels = zip(*disp.axes[1].ticks, strict=True)
    ax.set_xticks(positions, labels)
    for position in positions:
        ax.axvline(position, color="0.7", lw=0.5)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("Energy (meV)")
    ax.set_title("Al: inverted (orange, 1-sigma band) vs DFT 2-shell projection (dashed)")
    fig.tight_layout()
    fig.savefig(FIGURES / "Al_inversion_dispersion.png", dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-resolution", action="store_true")
    args = parser.parse_args()
    measured = read_histogram_h5(MEASURED)
    start = time.perf_counter()
    request = default_request(measured, args.fit_resolution)
    result = invert(request)
    seconds = time.perf_counter() - start
    print(f"InvertForceConstants: {seconds:.1f} s, {result.fit.evaluations} evaluations, "
          f"starts {np.round(result.fit.start_chi2, 1).tolist()}, method {result.method}")
    print(f"{'parameter':<10} {'distance':>8} {'DFT':>9} {'inverted':>9} {'sigma':>8}  (eV/A^2)")
    for name, distance, value, error, reference in result.table[:result.fit.problem.n_params]:
        print(f"{name:<10} {distance:8.3f} {reference:9.4f} {value:9.4f} {error:8.4f}")
    for name, _, value, error, _ in result.table[result.fit.problem.n_params:]:
        print(f"{name:<18} {value:.5g}" + ("" if np.isnan(error) else f" +- {error:.2g}"))
    reference, reference_chi2 = _reference_map(result)
    dft_file, dft_file_chi2 = _reference_map(result, request.simulation)
    use = result.fit.problem.data.use
    issue = issue_selection(measured, result.fit.problem)
    print("fitted bins (E > 8 meV, E < 0.95 Ei):")
    _figures("DFT file", dft_file, measured.signal, use, dft_file_chi2)
    _figures("DFT projected", reference, measured.signal, use, reference_chi2)
    _figures("inverted", result.fit.model, measured.signal, use, result.fit.reduced_chi2)
    print("issue's selection (covered, E > 8 meV, incl. the E = 78 meV edge):")
    _figures("DFT file", dft_file, measured.signal, issue)
    _figures("DFT projected", reference, measured.signal, issue)
    _figures("inverted", result.fit.model, measured.signal, issue)
    if args.fit_resolution:  # the figures show the default fit
        return
    FIGURES.mkdir(exist_ok=True)
    _plot_maps(measured, result, reference)
    _plot_dispersion(result)
    print(f"figures: {FIGURES.relative_to(ROOT)}/Al_inversion_maps.png, "
          "Al_inversion_dispersion.png")


if __name__ == "__main__":
    main()
