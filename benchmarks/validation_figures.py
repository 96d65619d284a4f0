"""Regenerate the measured-data validation figures and numbers of docs/validation.md.

    .venv/bin/python benchmarks/validation_figures.py

Simulates Al (ARCS, Ei = 80 meV) and graphite (ARCS, Ei = 130 meV) at 300 K on the measured
bins, fits scale + flat background over E > 8 meV, prints Pearson r and the R-factor, and
writes side-by-side plots to docs/figures/.
"""

import tempfile
import time
import zipfile
from pathlib import Path

from inslib.compare import compare
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.io.plot import plot_comparison
from inslib.scattering.powder import PowderSampling
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"
FIGURES = ROOT / "docs" / "figures"


def run(name, fc, structure, measured_file, ei):
    """Simulate one sample on its measured bins; print and plot the comparison."""
    measured = read_histogram_h5(measured_file)
    request = PowderRequest(str(fc), str(structure or ""), TemplateRequest(
        instrument="ARCS", ei=ei, temperature=300.0, template=measured),
        sampling=PowderSampling(2, 300))
    start = time.perf_counter()
    model = simulate_powder(request)
    seconds = time.perf_counter() - start
    result = compare(model, measured)
    path = plot_comparison(model, measured, result, FIGURES / f"{name}_model_vs_measured.png")
    print(f"{name}: r = {result.pearson_r:.3f}, R = {result.r_factor:.3f}, "
          f"{result.n_bins} bins, simulation {seconds:.1f} s -> {path.relative_to(ROOT)}")


def main():
    run("Al_ARCS_Ei80", ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml", None,
        SHARED / "powder_Al_ARCS_Ei80" / "Al-iqe.h5", 80.0)
    with tempfile.TemporaryDirectory() as tmp:
        archive = SHARED / "force_constants" / "snschops_Si_graphite" / "graphite.zip"
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        run("graphite_ARCS_Ei130", Path(tmp) / "FORCE_CONSTANTS", Path(tmp) / "POSCAR",
            SHARED / "powder_graphite_ARCS" / "mph_graphite-Ei_130-iqe.h5", 130.0)


if __name__ == "__main__":
    main()
