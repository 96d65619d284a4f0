"""Live inversion: time per chunk when each chunk starts from the previous chunk's table.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_live_inversion.py

A run on the measured Al map's bins (ARCS, Ei = 80 meV, 300 K) is replayed as 10 chunks of
accumulating Poisson counts (inslib.replay; 170 counts per used bin in the whole run) of a map
simulated at a known parameter set; InvertForceConstants (Gradient, one start, 50 directions,
8^3 mesh) inverts each chunk from the previous chunk's OutputParameterTable, as a StartLiveData
post-processing script would. Prints the wall time, the parameters and their errors per chunk.
"""

import time

import numpy as np
import torch

from inslib.inversion.build import build_problem
from inslib.inversion.request import InversionRequest
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.replay import accumulating_chunks, counts_histogram
from inslib.runtime.host import run_algorithm
from inslib.scattering.powder import PowderSampling
from inslib.simulation.requests import PowderRequest, TemplateRequest

FC = "tests/data/Al_phonopy/phonopy.yaml"
SETTINGS = {"DirectionsPerShell": 50, "MeshSize": 8, "Starts": 1, "Method": "Gradient",
            "ForceConstantsFile": FC, "Instrument": "ARCS", "Ei": 80.0, "Temperature": 300.0}
U_TRUE = np.array([0.1, -0.1, 0.05, 0.0, 0.0])


def truth_map(measured):
    """Return the true parameters, the simulated map and the fitted bins."""
    template = TemplateRequest(instrument="ARCS", ei=80.0, temperature=300.0, template=measured)
    problem = build_problem(InversionRequest(PowderRequest(
        FC, "", template=template, sampling=PowderSampling(1, 50), grid=8)))
    with torch.no_grad():
        model = problem.spectra(torch.as_tensor(U_TRUE[None]))[0].numpy()
    return problem.params(U_TRUE), model, problem.data.use


def main():
    torch.set_num_threads(1)
    measured = read_histogram_h5("tests/data/Al-iqe.h5")
    truth, model, use = truth_map(measured)
    per_unit = 170 / model[use].mean()
    chunks = accumulating_chunks(np.where(measured.mask, 0.0, model * per_unit), 10,
                                 np.random.default_rng(1))
    previous = {}
    print("chunk  wall s  parameters (eV/A^2) +- errors, chi^2/dof")
    for k, counts in enumerate(chunks):
        chunk = counts_histogram(measured, counts, per_unit * (k + 1) / len(chunks))
        start = time.perf_counter()
        out = run_algorithm("InvertForceConstants", InputWorkspace=chunk, OutputWorkspace="fit",
                            OutputParameterTable="params", **SETTINGS, **previous)
        seconds = time.perf_counter() - start
        table = out["OutputParameterTable"]
        previous = {"InitialParameterTable": table}
        values, errors = np.array(table.column("Value")[:5]), np.array(table.column("Error")[:5])
        print(f"{k + 1:5d} {seconds:7.2f}  {np.round(values, 4)} +- {np.round(errors, 4)}  "
              f"{table.column('Value')[-1]:.3f}")
    print(f"truth         {np.round(truth, 4)}")


if __name__ == "__main__":
    main()
