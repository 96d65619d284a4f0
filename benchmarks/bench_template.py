"""Time CreateSQETemplate on typical grids (run with `make bench`); prints the figures."""

import time
import tracemalloc

from inslib.runtime.host import run_algorithm

CASES = [
    ("ARCS Ei=80, 240 x 196", dict(Instrument="ARCS", Ei=80, QBinning="0,0.05,12",
                                   EBinning="-20,0.5,78")),
    ("MAPS Ei=500, 600 x 950", dict(Instrument="MAPS", Ei=500, QBinning="0,0.05,30",
                                    EBinning="-25,0.5,450")),
    ("TOSCA, 400 x 1000", dict(Instrument="TOSCA", QBinning="0,0.05,20", EBinning="0,0.5,500")),
]


def main():
    run_algorithm("CreateSQETemplate", OutputWorkspace="warm", **CASES[0][1])  # imports
    for label, properties in CASES:
        tracemalloc.start()
        start = time.perf_counter()
        run_algorithm("CreateSQETemplate", OutputWorkspace="t", **properties)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{label:28s} {elapsed * 1e3:8.1f} ms   peak Python memory {peak / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()
