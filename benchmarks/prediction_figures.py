"""Figures of docs/prediction.md: a structure -> DOS, VISION S(E) and an ARCS powder map.

Run with OMP_NUM_THREADS=1 (about a minute; sevenn installed, ``pip install -e '.[predict]'``):
``.venv/bin/python benchmarks/prediction_figures.py docs/figures``.

Silicon (diamond, a = 5.431 A): the phonon DOS, partial DOS and VISION S(E) at 10 K from the
three PredictSQE methods, ForceField (7net-0), Direct (the shipped e3nn ensemble, band = its
members' spread) and Folder (the DFT phonopy example, the reference). Aluminium: the measured
ARCS Ei = 80 meV map at 300 K next to PredictSQE's ForceField and Direct maps (with the
predicted coherent term, and with Coherent=False: the incoherent approximation of the predicted
DOS) on its bins and mask, with the Pearson r of each (E > 8 meV, scale + flat background).
"""

import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np
from ase.build import bulk

from inslib.compare import compare
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.runtime.host import run_algorithm

ROOT = Path(__file__).resolve().parents[1]
SI_DFT = ROOT / "tests" / "data" / "shared" / "force_constants" / "phonopy_example_Si"
METHODS = {"ForceField (7net-0)": {"Method": "ForceField"},
           "Direct (e3nn ensemble)": {"Method": "Direct"}}
MAP_METHODS = {"ForceField (7net-0)": {"Method": "ForceField"},
               "Direct (map networks)": {"Method": "Direct"},
               "Direct, Coherent=False": {"Method": "Direct", "Coherent": False}}


def predictions(cif: Path, output: str, extra: dict) -> dict:
    """{label: histogram} of Si for each method, and the DFT folder."""
    runs = {label: run_algorithm("PredictSQE", StructureFile=str(cif), Output=output,
                                 OutputWorkspace="p", **method, **extra)["OutputWorkspace"]
            for label, method in METHODS.items()}
    runs["DFT (phonopy example)"] = run_algorithm(
        "PredictSQE", Method="Folder", PhononFolder=str(SI_DFT), Output=output,
        OutputWorkspace="p", **extra)["OutputWorkspace"]
    return runs


def plot_spectra(ax, runs: dict, row: int, ylabel: str) -> None:
    """One spectrum (row) of each run, with the ensemble spread as a band."""
    for label, hist in runs.items():
        edges = hist.axes[1].values
        centres = 0.5 * (edges[1:] + edges[:-1])
        signal, sigma = hist.signal[row], np.sqrt(hist.variance[row])
        ax.plot(centres, signal, label=label)
        if sigma.max() > 0:
            ax.fill_between(centres, signal - sigma, signal + sigma, alpha=0.3)
    ax.set(xlabel="E (meV)", ylabel=ylabel)


def si_figure(folder: Path, out: Path) -> None:
    """DOS, partial DOS and VISION S(E) of Si from the three methods."""
    import matplotlib.pyplot as plt

    cif = folder / "Si.cif"
    ase.io.write(cif, bulk("Si", "diamond", a=5.431))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    dos = predictions(cif, "DOS", {"EBinning": "0,0.5,75"})
    plot_spectra(axes[0], dos, 0, "DOS (states/meV per atom)")
    axes[0].legend(fontsize=8)
    vision = predictions(cif, "IndirectSE", {"Instrument": "VISION", "Temperature": 10,
                                             "EBinning": "2,0.5,150"})
    plot_spectra(axes[1], vision, 1, "VISION S(E), backscattering (mbarn/meV per atom)")
    fig.tight_layout()
    fig.savefig(out / "prediction_Si_dos_vision.png", dpi=110)


def al_figure(folder: Path, out: Path) -> None:
    """Measured Al ARCS map and the ForceField and Direct predictions on its bins."""
    import matplotlib.pyplot as plt

    measured = read_histogram_h5(ROOT / "tests" / "data" / "Al-iqe.h5")
    cif = folder / "Al.cif"
    ase.io.write(cif, bulk("Al", "fcc", a=4.05, cubic=True))
    setting = {"InputWorkspace": measured, "Instrument": "ARCS", "Ei": 80, "Temperature": 300}
    maps = {"measured": measured}
    for label, method in MAP_METHODS.items():
        maps[label] = run_algorithm("PredictSQE", StructureFile=str(cif), OutputWorkspace="m",
                                    **method, **setting)["OutputWorkspace"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    for ax, (label, hist) in zip(axes, maps.items(), strict=True):
        q, e = hist.axes[0].values, hist.axes[1].values
        shown = np.where(hist.mask, np.nan, hist.signal)
        ax.pcolormesh(q, e, shown.T, vmin=0, vmax=np.nanpercentile(shown, 99))
        title = label
        if label != "measured":
            title += f": r {compare(hist, measured, 8.0).pearson_r:.3f}"
        ax.set(title=title, xlabel="|Q| (1/A)", ylabel="E (meV)", ylim=(0, 60))
    fig.tight_layout()
    fig.savefig(out / "prediction_Al_ARCS_maps.png", dpi=110)


def main() -> None:
    """Write both figures into the folder given (default docs/figures)."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "figures"
    with tempfile.TemporaryDirectory() as folder:
        si_figure(Path(folder), out)
        al_figure(Path(folder), out)
    print(f"figures in {out}")


if __name__ == "__main__":
    main()
