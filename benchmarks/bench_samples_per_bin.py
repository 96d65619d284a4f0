"""Time and peak memory of SamplesPerBin on 11 x 81-bin quartz grids (issue 13, point 9).

Two 11 x 81 cases on alpha-quartz (euphonic's CASTEP force constants, 27 modes) at 300 K,
1 meV FWHM, SamplesPerBin 8 and 16, each in its own process on one thread:

- "cut": (-1 + x, -4, 0), x in 11 bins of 0.01 r.l.u., K and L integrated over +-0.05, and 81
  energy bins from 3 to 43.5 meV: the issue's cut (one binned Q dimension: 8 or 16 points per
  bin now, 8^3 or 16^3 before).
- "slice": H in 11 bins and K in 81 bins of 0.01 r.l.u. about (-1, -4, 0), L integrated over
  +-0.05, energies 3 to 40 meV in 0.5 meV bins (two binned Q dimensions: 8^2 or 16^2 points
  per bin, 8^3 or 16^3 before).

Peak memory is the process's resident high-water mark (VmHWM; torch's allocations are not
seen by tracemalloc), reset (/proc/self/clear_refs, Linux) after the imports and the model
set-up. The bound asserted is on the working set of the grid: that mark after the grid minus
the resident memory just before it, at most MEMORY_BOUND: the batch budget
:data:`inslib.simulation.grid.BATCH_BYTES` (256 MiB; its per-point estimate is twice the
measured footprint or more) plus 128 MiB for the output arrays and the allocator's slack.

    OMP_NUM_THREADS=1 python benchmarks/bench_samples_per_bin.py
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUARTZ = (ROOT / "tests" / "data" / "shared" / "reference_outputs" / "euphonic"
          / "force_constants" / "quartz_force_constants.json")
CASES = {
    "cut": (["-1.055,0.01,-0.945", "-4.05,-3.95", "-0.05,0.05"], "3,0.5,43.5"),
    "slice": (["-1.055,0.01,-0.945", "-4.405,0.01,-3.595", "-0.05,0.05"], "3,0.5,40"),
}
SAMPLES = (8, 16)
MEMORY_BOUND = 384 * 2**20  # bytes: the grid's working set


def _status_bytes(field: str) -> int:
    """Return a memory figure of this process from /proc/self/status (VmRSS, VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    msg = f"no {field} in /proc/self/status (Linux only)"
    raise RuntimeError(msg)


def run_case(case: str, samples: int) -> dict:
    """Simulate one case in this process: time, peak memory, the grid's working set."""
    import torch

    from inslib.simulation.requests import SingleCrystalRequest
    from inslib.simulation.setup import cached_setup
    from inslib.simulation.single_crystal import run_single_crystal

    torch.set_num_threads(1)
    q_binning, e_binning = CASES[case]
    request = SingleCrystalRequest(str(QUARTZ), q_binning=q_binning, e_binning=e_binning,
                                   temperature=300.0, fwhm=1.0, samples=samples, grid=8,
                                   device="CPU")
    cached_setup(str(QUARTZ), "", 300.0, 8, "CPU")  # the model set-up, cached: not timed
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_bytes("VmRSS")
    start = time.perf_counter()
    result = run_single_crystal(request)
    elapsed = time.perf_counter() - start
    return {"case": case, "samples": samples, "shape": list(result.shape),
            "seconds": elapsed, "peak_bytes": _status_bytes("VmHWM"),
            "working_bytes": _status_bytes("VmHWM") - before}


def main() -> None:
    if len(sys.argv) == 3:  # child process: one case
        print(json.dumps(run_case(sys.argv[1], int(sys.argv[2]))))
        return
    for case in CASES:
        for samples in SAMPLES:
            line = subprocess.run([sys.executable, __file__, case, str(samples)], check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()
            figures = json.loads(line[-1])
            shape = " x ".join(map(str, figures["shape"]))
            print(f"{case:5s} {shape} SamplesPerBin={samples:2d}: {figures['seconds']:7.2f} s, "
                  f"peak {figures['peak_bytes'] / 1e9:.2f} GB, working set of the grid "
                  f"{figures['working_bytes'] / 1e6:6.1f} MB (bound {MEMORY_BOUND / 1e6:.0f})")
            assert figures["working_bytes"] <= MEMORY_BOUND, figures


if __name__ == "__main__":
    main()
