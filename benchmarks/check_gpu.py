"""On a machine with a CUDA GPU: the forward model on the GPU against the CPU, and their speed.

    .venv/bin/python benchmarks/check_gpu.py

For quartz (Born charges: Ewald sums, LO-TO at Gamma) and Ge it computes, on both devices,
frequencies and coherent structure factors at 20k random q-points (Debye-Waller from a 6^3
mesh, 300 K) and prints the largest differences (meV; fraction of the largest intensity) and
the time of each. Both runs are float64, so differences should be rounding (< 1e-6). The
test suite checks device consistency on torch's "meta" device only (tests/unit/phonons/
test_device.py); this script is how a GPU run gets checked. Without CUDA it says so and exits.
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"
CASES = {
    "quartz": (SHARED / "reference_outputs" / "euphonic" / "force_constants"
               / "quartz_force_constants.json", None),
    "Ge": (SHARED / "force_constants" / "pathSQE_Ge_ARCS" / "FORCE_CONSTANTS",
           SHARED / "force_constants" / "pathSQE_Ge_ARCS" / "POSCAR"),
}


def _run(fcs, device, q):
    """Frequencies (meV) and structure factors (mbarn) on ``device``, and the seconds taken."""
    import torch

    from inslib.phonons.model import PhononModel
    from inslib.scattering.coherent import coherent_structure_factor
    from inslib.scattering.thermal import debye_waller

    start = time.perf_counter()
    model = PhononModel(fcs, device=device)
    dw = debye_waller(model, 300.0)
    modes = model.modes(q)
    sf = coherent_structure_factor(model, modes, dw)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return modes.frequencies[0].cpu().numpy(), sf[0].cpu().numpy(), seconds


def main() -> int:
    import torch

    from inslib.phonons.force_constants import load_force_constants, to_primitive

    if not torch.cuda.is_available():
        print(f"no CUDA GPU visible to torch {torch.__version__}: nothing to check")
        return 0
    q = np.random.default_rng(0).uniform(-3, 3, size=(20_000, 3))
    for name, (fc_file, structure) in CASES.items():
        fcs = to_primitive(load_force_constants(fc_file, structure=structure))
        f_cpu, s_cpu, t_cpu = _run(fcs, "cpu", q)
        f_gpu, s_gpu, t_gpu = _run(fcs, "cuda", q)
        print(f"{name}: frequencies max |GPU - CPU| {np.abs(f_gpu - f_cpu).max():.2e} meV, "
              f"structure factors {np.abs(s_gpu - s_cpu).max() / s_cpu.max():.2e} of the max; "
              f"CPU {t_cpu:.2f} s, GPU {t_gpu:.2f} s ({torch.cuda.get_device_name()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
