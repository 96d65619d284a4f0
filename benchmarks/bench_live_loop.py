"""Live-reduction loop: SimulatePowderSQE called again and again on the Al ARCS template.

Issue 10, point 15: an unchanged call and a call whose only change is the temperature (the
set-up cache misses, the mesh is recomputed); target < 0.3 s per changed call. Prints the
median time per call and the process's peak memory after each phase (flat = no leak).

    python benchmarks/bench_live_loop.py [--calls 50]
"""

import argparse
import resource
import statistics
import time
from pathlib import Path

import torch

from inslib.io.histogram_h5 import read_histogram_h5
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

ROOT = Path(__file__).resolve().parent.parent
AL = ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml"
MEASURED = ROOT / "tests" / "data" / "Al-iqe.h5"


def _call(measured, temperature: float) -> float:
    request = PowderRequest(str(AL), template=TemplateRequest(
        instrument="ARCS", ei=80.0, temperature=temperature, template=measured))
    start = time.perf_counter()
    simulate_powder(request)
    return time.perf_counter() - start


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    measured = read_histogram_h5(MEASURED)
    first = _call(measured, 300.0)
    print(f"{args.threads} torch threads; first call (set-up, sample points): {first:.2f} s, "
          f"peak {_peak_mb():.0f} MB")
    same = [_call(measured, 300.0) for _ in range(args.calls)]
    print(f"unchanged: median {statistics.median(same):.3f} s per call, "
          f"peak {_peak_mb():.0f} MB")
    changed = [_call(measured, 300.0 + 0.5 * (k + 1)) for k in range(args.calls)]
    print(f"temperature changed every call: median {statistics.median(changed):.3f} s per "
          f"call (target < 0.3 s), peak {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
