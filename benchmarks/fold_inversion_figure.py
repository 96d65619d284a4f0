"""Figure of docs/inversion.md: a simulated Ge volume folded by FoldBrillouinZone, inverted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fold_inversion_figure.py

Uses the test fixtures of tests/unit/inversion/test_path_inversion.py (a 21^3-voxel 4D volume of
Ge at a known parameter set, folded onto G-X-W-K-G-L in zone 0,0,0) and fits it twice: with the
volume's Q axes (the exact fold model) and without (the continuous limit). Prints R^2 and the
errors per parameter; writes docs/figures/Ge_fold_inversion.png.
"""

import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "tests" / "data" / "shared" / "force_constants" / "pathSQE_Ge_ARCS"
GE = {"ForceConstantsFile": str(BASE / "FORCE_CONSTANTS"), "StructureFile": str(BASE / "POSCAR")}


def fits(fixtures, folded, volume, truth):
    """Fit the fold with the exact model and in the continuous limit; print R^2 and errors."""
    from inslib.inversion.gradient import fit_gradient
    from inslib.inversion.path import build_path_problem

    result = {}
    for name, axes in (("exact fold model", volume.axes[:3]), ("continuous limit", None)):
        request = fixtures._request(GE, folded, zones="0,0,0", samples=2 if axes is not None else 4,
                             volume_axes=axes)
        fit = fit_gradient(build_path_problem(request), starts=1)
        result[name] = fit
        error = (fit.params - truth) / np.abs(fit.problem.reference)
        print(f"{name}: R^2 {fixtures._r2(fit.params, truth):.5f}, errors / |reference| "
              f"{np.round(error, 3)}")
    return result


def plot(folded, result):
    """Write the fold, both fits and their residuals side by side."""
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    x, e = folded.axes[0].edges, folded.axes[1].edges
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.5), sharey=True)
    data = np.where(folded.mask, np.nan, folded.signal)
    top = np.nanpercentile(data[:, e[:-1] > 3], 99)
    panels = [("fold of simulated 4D volume (truth)", data)]
    for name, fit in result.items():
        panels += [(f"{name}: fit", fit.model), (f"{name}: residual", data - fit.model)]
    for ax, (title, values) in zip(axes, panels, strict=True):
        residual = "residual" in title
        mesh = ax.pcolormesh(x, e, values.T, cmap="RdBu_r" if residual else "viridis",
                             vmin=-top / 4 if residual else 0, vmax=top / 4 if residual else top)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("path (1/A)")
        ax.set_xticks([p for p, _ in folded.axes[0].ticks],
                      [label for _, label in folded.axes[0].ticks])
        fig.colorbar(mesh, ax=ax)
    axes[0].set_ylabel("E (meV)")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "figures" / "Ge_fold_inversion.png", dpi=80)


def main():
    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "inversion"))
    import test_path_inversion as fixtures  # the fixtures that build the volume and its fold

    volume, folded, truth = fixtures.folded_volume.__wrapped__(GE)
    plot(folded, fits(fixtures, folded, volume, truth))


if __name__ == "__main__":
    main()
