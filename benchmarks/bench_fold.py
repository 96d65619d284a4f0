"""FoldBrillouinZone speed and memory on a 121 x 121 x 121 x 100 volume (`make bench`).

Issue target: 177 M voxels folded onto an 8-segment fcc path with the 48 operations of m-3m in
<= 30 s on 2 cores, peak memory <= 2x the input, streamed from the .nxs file. The volume (a
smooth synthetic S(Q,E) on Ge's lattice, 7 % masked) is written once in the SaveMD layout to
$TMPDIR (about 4.4 GB with errors, events and mask); the fold runs in a child process whose
peak memory (VmHWM) is compared with the size of the signal array.

    python benchmarks/bench_fold.py
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
POSCAR = ROOT / "tests" / "data" / "shared" / "force_constants" / "pathSQE_Ge_ARCS" / "POSCAR"
N_Q, N_E = 121, 100
FILE = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "inslib_fold_bench_121.nxs"
PATH = "G-X-U|K-G-L-W-X"  # 8 segments of fcc Ge


def make_volume() -> Path:
    """Write the synthetic volume once (H, K, L in [-6, 6], E in [0, 50) meV)."""
    from inslib.axes import Axis
    from inslib.histogram import MDHISTO, Histogram, Metadata
    from inslib.io.nexus_md import write_md

    if FILE.is_file():
        return FILE
    edges = np.linspace(-6.05, 6.05, N_Q + 1)
    axes = [Axis(edges, "r.l.u.", name, frame="HKL", projection=p)
            for name, p in (("[H,0,0]", (1.0, 0.0, 0.0)), ("[0,K,0]", (0.0, 1.0, 0.0)),
                            ("[0,0,L]", (0.0, 0.0, 1.0)))]
    axes.append(Axis(np.linspace(0.0, 50.0, N_E + 1), "DeltaE", "DeltaE"))
    c = 0.5 * (edges[1:] + edges[:-1])
    h, k, l_ = np.meshgrid(c, c, c, indexing="ij")
    # an acoustic-like periodic dispersion (period 2 in hkl) and a flat optical band
    omega = 30.0 * np.sqrt(np.sin(np.pi * h / 2) ** 2 + np.sin(np.pi * k / 2) ** 2
                           + np.sin(np.pi * l_ / 2) ** 2) / np.sqrt(3)
    energy = 0.5 * (axes[3].edges[1:] + axes[3].edges[:-1])
    signal = np.exp(-((energy - omega[..., None]) ** 2) / 4.0)
    signal += 0.5 * np.exp(-((energy - 36.0) ** 2) / 2.0)
    mask = np.random.default_rng(0).random(signal.shape) < 0.07
    hist = Histogram(axes, signal, 0.01 * signal + 1e-4, mask,
                     Metadata(lattice=(5.6575,) * 3 + (90.0,) * 3), kind=MDHISTO)
    return write_md(hist, FILE)


def fold_child() -> None:
    """Fold the file (streamed) and print seconds and peak memory as JSON."""
    from inslib.folding.run import FoldRequest, run_fold

    start = time.perf_counter()
    folded, counts = run_fold(FoldRequest(str(FILE), structure=str(POSCAR), path=PATH,
                                          half_width=0.1, step=0.05))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_gb": _high_water_gb(),
                      "shape": list(folded.shape), "voxels": float(counts.signal.sum())}))


def _high_water_gb() -> float:
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss is inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        fold_child()
        return
    start = time.perf_counter()
    make_volume()
    made = time.perf_counter() - start
    out = subprocess.run([sys.executable, __file__, "--child"], check=True, capture_output=True,
                         text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    voxels = N_Q**3 * N_E
    input_gb = voxels * 8 / 1e9
    print(f"FoldBrillouinZone {N_Q}^3 x {N_E} = {voxels / 1e6:.0f} M voxels, path {PATH}, "
          f"m-3m (48 operations) (volume file ready in {made:.0f} s)")
    print(f"  {result['seconds']:.1f} s ({voxels / result['seconds'] / 1e6:.1f} M voxels/s), "
          f"peak {result['peak_gb']:.2f} GB = {result['peak_gb'] / input_gb:.2f} x the "
          f"{input_gb:.2f} GB signal; output {result['shape']}, "
          f"{result['voxels']:.0f} voxel-energy contributions (targets 30 s, 2x)")


if __name__ == "__main__":
    main()
