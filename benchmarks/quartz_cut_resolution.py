"""What the Q-E resolution covariance changes on the issue's quartz cut (issue 13, point 1).

alpha-quartz (euphonic's CASTEP force constants, tests/data/shared/reference_outputs/euphonic),
300 K, MERLIN Ei = 45 meV with the instrument's default chopper (G, 400 Hz): the cut
Q = (-1 + x, -4, 0) with x, and the K and L offsets, within +-0.05 r.l.u. (one Q bin), E from
3 to 40 meV in 0.5 meV bins, scattering plane (H, K, 0) (goniometer axis along c*). Spectra
with the energy resolution only (PyChop FWHM at the points themselves, today's default) and
with the covariance (:mod:`inslib.scattering.qe_resolution`), for both sample orientations
and each alone; the intensities of the peaks near 16 and 27 meV (sums over 15-17.5 and
25.5-28.5 meV), their ratio (measured: 0.8; energy-only 2.85 in the issue) and the acoustic
intensity at 3-6 meV (far weaker in the data).

    OMP_NUM_THREADS=1 python benchmarks/quartz_cut_resolution.py [folder]

Prints a table; writes qe_resolution_quartz_cut.png and qe_resolution_steep_branch.png (the
steep-branch cut of tests/unit/scattering/test_qe_resolution.py: event Monte Carlo,
covariance, isotropic Q + energy width) into the folder (default docs/figures).
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUARTZ = (ROOT / "tests" / "data" / "shared" / "reference_outputs" / "euphonic"
          / "force_constants" / "quartz_force_constants.json")
FIGURES = ROOT / "docs" / "figures"
STEEP_TEST = ROOT / "tests" / "unit" / "scattering" / "test_qe_resolution.py"
CENTRE, HALF = np.array([-1.0, -4.0, 0.0]), 0.05  # r.l.u.
E_EDGES = np.arange(3.0, 40.01, 0.5)
PEAKS = {"16 meV": (15.0, 17.5), "27 meV": (25.5, 28.5), "acoustic": (3.0, 6.0)}  # meV
POINTS, DRAWS, SEED = 2048, 4, 1


def spectra() -> dict:
    """Cut spectra (n_e,), mbarn/meV per atom: energy-only and covariance variants."""
    import torch

    from inslib.instruments import load_instrument
    from inslib.instruments.covariance import direct_geometry
    from inslib.instruments.resolution import fwhm_function, resolved_settings
    from inslib.scattering.binning import Resolution
    from inslib.scattering.qe_resolution import QEResolution
    from inslib.simulation.forward import RowsForward, Thermal
    from inslib.simulation.setup import cached_setup

    torch.set_num_threads(1)
    setup = cached_setup(str(QUARTZ), "", 300.0, 8, "CPU")
    instrument = load_instrument("MERLIN")
    settings = resolved_settings(instrument)
    q_frac = CENTRE + np.random.default_rng(SEED).uniform(-HALF, HALF, (POINTS, 3))
    forward = RowsForward(setup.model, q_frac, np.zeros(POINTS, int), 1, float(POINTS),
                          E_EDGES, Resolution.of(fwhm_function(instrument, 45.0, settings),
                                                 E_EDGES), Thermal(300.0, 8))
    recip = np.asarray(setup.model.crystal.reciprocal)
    vertical = np.cross(recip[0], recip[1])
    geometry = direct_geometry(instrument, 45.0, settings)
    out = {"energy only": forward(dw=setup.dw)[0, 0].numpy()}
    for name, orientations in [("covariance, both orientations", (0, 1)),
                               ("covariance, orientation 0", (0,)),
                               ("covariance, orientation 1", (1,))]:
        forward.qe_resolution = QEResolution(geometry, vertical / np.linalg.norm(vertical),
                                             seed=SEED, draws=DRAWS, orientations=orientations)
        out[name] = forward(dw=setup.dw)[0, 0].numpy()
    return out


def peak_table(cuts: dict) -> list:
    """Rows (name, I16, I27, I3-6, I16 / I27): window sums x bin width, mbarn per atom."""
    rows = []
    for name, cut in cuts.items():
        sums = [cut[(E_EDGES[:-1] >= lo) & (E_EDGES[1:] <= hi)].sum() * 0.5
                for lo, hi in PEAKS.values()]
        rows.append((name, *sums, sums[0] / sums[1]))
    return rows


def steep_branch_cuts() -> tuple[np.ndarray, dict]:
    """Energy edges (meV) and the steep-branch cuts of the test (same seeds), per meV."""
    import importlib.util

    from inslib.instruments import load_instrument
    from inslib.instruments.covariance import direct_geometry
    from inslib.instruments.resolution import resolved_settings

    spec = importlib.util.spec_from_file_location("steep_branch", STEEP_TEST)
    test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test)
    merlin = load_instrument("MERLIN")
    geometry = direct_geometry(merlin, 45.0, resolved_settings(merlin))
    rng = np.random.default_rng(11)
    reference, _ = test._event_cut(geometry, 5, rng)
    return test.EDGES, {"event Monte Carlo": reference,
                        "covariance": test._covariance_cut(geometry, 30_000, rng).mean(0),
                        "isotropic Q + energy width":
                            test._isotropic_cut(geometry, 30_000, rng).mean(0)}


def figure(edges: np.ndarray, cuts: dict, title: str, path: Path, spans=()) -> None:
    """Plot cuts (name -> (n_e,)) on energy ``edges`` (meV), shading ``spans`` (meV)."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, cut in cuts.items():
        ax.plot(centres, cut, label=name)
    for lo, hi in spans:
        ax.axvspan(lo, hi, color="0.9", zorder=0)
    ax.set(xlabel="Energy transfer (meV)", ylabel="Intensity (per meV)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    start = time.perf_counter()
    cuts = spectra()
    print(f"{'resolution':32s} {'I(16)':>8s} {'I(27)':>8s} {'I(3-6)':>8s} {'16:27':>6s}")
    for name, i16, i27, low, ratio in peak_table(cuts):
        print(f"{name:32s} {i16:8.4f} {i27:8.4f} {low:8.4f} {ratio:6.2f}")
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES
    figure(E_EDGES, cuts, "alpha-quartz (-1+x, -4, 0), MERLIN Ei = 45 meV, 300 K (mbarn/atom)",
           folder / "qe_resolution_quartz_cut.png", PEAKS.values())
    figure(*steep_branch_cuts(), "Steep branch 40 meV A near G, MERLIN Ei = 45 meV",
           folder / "qe_resolution_steep_branch.png")
    print(f"{time.perf_counter() - start:.0f} s; figures in {folder}")


if __name__ == "__main__":
    main()
