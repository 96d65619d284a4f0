r"""Training-data engine speed: Su & Li (2024) Al maps on ARCS (prints figures; not a test).

Setting: Al (tests/data/Al_phonopy), 2-shell parameter basis (5 parameters) sampled in
0.5-1.5 x reference, ARCS Ei = 50 meV, 101 |Q| bins (0-9.09 1/Angstrom) x 70 E bins
(-7 to 49 meV), coherent one-phonon + incoherent multiphonon to order 10, energy resolution,
kinematic mask, 300 K, 16^3 mesh. Anchor: Su & Li needed about 2 days on one core for 10,000
such maps (phonopy + OCLIMAX).

Usage::

    python benchmarks/bench_datagen.py [--batches 1 64 512] [--directions 200] [--threads 1] \\
        [--end-to-end 512 --workers 2] [--profile]
"""

import argparse
import cProfile
import pstats
import resource
import time
from pathlib import Path

import numpy as np
import torch

from inslib.datagen.config import DEFAULT_DIRECTIONS, DatagenConfig, TemplateSpec
from inslib.datagen.engine import BATCH, build_engine, shard_parameters, spectra
from inslib.scattering.powder import convergence

AL = Path(__file__).resolve().parent.parent / "tests" / "data" / "Al_phonopy" / "phonopy.yaml"
SU_LI_DAYS = 2.0


def su_li(n_spectra: int, n_shells: int, n_directions: int) -> DatagenConfig:
    """Return the Su & Li (2024) setting with a chosen powder sampling."""
    return DatagenConfig(str(AL), n_spectra,
                         TemplateSpec("ARCS", 50.0, q_binning="0,0.09,9.09",
                                      e_binning="-7,0.8,49"),
                         grid=16, max_order=10, n_shells=n_shells, n_directions=n_directions,
                         shard_size=n_spectra)


def maps_per_second(engine, params) -> tuple[float, float]:
    """Return (maps/s, mean convergence) of ONE forward call on all ``params`` (B, n_params)."""
    start = time.perf_counter()
    with torch.no_grad():
        halves = engine.forward(engine.basis.to_force_constants(params)).halves.numpy()
    rate = len(params) / (time.perf_counter() - start)
    return rate, float(np.mean(convergence(halves, engine.template["mask"])))


def engine_rate(engine, params) -> float:
    """Return maps/s of the engine's own path (spectra(): batches of engine.BATCH sets)."""
    start = time.perf_counter()
    spectra(engine, params)
    return len(params) / (time.perf_counter() - start)


def eigh_per_matrix(n: int = 200_000) -> float:
    """Return torch.linalg.eigh time per complex128 3x3 Hermitian matrix, microseconds."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, 3, 3, dtype=torch.complex128, generator=gen)
    h = a + a.mH
    start = time.perf_counter()
    torch.linalg.eigh(h)
    return (time.perf_counter() - start) / n * 1e6


def profile(engine, params, top: int = 14) -> None:
    """Print the functions with the most own time for one batch."""
    prof = cProfile.Profile()
    prof.enable()
    spectra(engine, params)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def end_to_end(n: int, n_directions: int, workers: int) -> None:
    """Print the rate of a full run (shards written) on a LocalCluster of ``workers``."""
    import tempfile
    from dataclasses import replace

    from inslib.datagen.run import generate

    config = replace(su_li(n, 1, n_directions), shard_size=64)
    with tempfile.TemporaryDirectory() as folder:
        summary = generate(config, folder, scheduler="local", n_workers=workers)
    print(f"\nend to end, {workers} dask workers, {n_directions} directions: {summary.text()}; "
          f"10,000 maps: {1e4 / summary.rate / 60:.1f} min")


def main() -> None:
    """Print maps per second for each batch size and powder sampling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 512])
    parser.add_argument("--directions", type=int, nargs="+", default=[DEFAULT_DIRECTIONS])
    parser.add_argument("--shells", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N",
                        help="also write N maps with generate() on a LocalCluster")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}; eigh 3x3 complex128: {eigh_per_matrix():.2f} us")
    for n_dir in args.directions:
        config = su_li(max(args.batches), args.shells, n_dir)
        start = time.perf_counter()
        engine = build_engine(config)
        params, rejected, _ = shard_parameters(engine, 0)
        print(f"\n{args.shells} shell(s) x {n_dir} directions per |Q| bin "
              f"({101 * args.shells * n_dir} q-points per map); set-up "
              f"{time.perf_counter() - start:.1f} s; {rejected} unstable draws rejected")
        for batch in args.batches:
            rate, conv = maps_per_second(engine, params[:batch])
            print(f"  B={batch:4d}: {rate:6.2f} maps/s, convergence {conv:.3f}; 10,000 maps: "
                  f"{1e4 / rate / 60:5.1f} min ({SU_LI_DAYS * 86400 * rate / 1e4:,.0f}x Su & Li)"
                  f"; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
        n = min(64, len(params))
        print(f"  engine path (batches of {BATCH}), {n} maps: "
              f"{engine_rate(engine, params[:n]):.2f} maps/s")
        if args.profile:
            profile(engine, params[:16])
    if args.end_to_end:
        end_to_end(args.end_to_end, args.directions[0], args.workers)


if __name__ == "__main__":
    main()
