"""Amortized inversion in Su & Li's (2024) setting: data generation, training, inference, R^2.

Al (5 parameters, 2 shells, each uniform in 0.5-1.5 x the DFT reference), ARCS Ei = 50 meV,
101 |Q| (0-9.09 1/A) x 70 E (-7 to 49 meV) bins, S(|Q|,E) at 300 K. The dataset folder is
kept between runs (a rerun reuses its shards: the data-generation time is then ~0); the model
is trained afresh into a temporary folder. 10 % of the maps are held out.

    .venv/bin/python benchmarks/bench_amortized.py -n 10000 --threads 1
"""

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import torch

from inslib.datagen.config import DatagenConfig, TemplateSpec
from inslib.datagen.noise import poisson_noise
from inslib.inversion.amortized import TrainingSpec, network_inputs
from inslib.inversion.metrics import r_squared
from inslib.inversion.training import TrainingConfig, split, train

ROOT = Path(__file__).resolve().parent.parent
AL = str(ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml")
INFERENCE_MAPS = 50  # held-out maps timed through predict (1000 latent samples each)
NOISE_COUNTS = (1e5, 1e6, 1e7)  # total counts per map of the noisy held-out copies
BACKGROUND = 0.1  # constant background / mean signal per bin


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10000, help="maps (default 10000, Su & Li)")
    p.add_argument("--dataset", type=Path, default=Path(tempfile.gettempdir()) / "bench_amortized",
                   help="dataset folder (kept; a subfolder per map count)")
    p.add_argument("--scheduler", default="none", help='datagen: "none", "local" or an address')
    p.add_argument("--workers", type=int, help="datagen LocalCluster workers")
    p.add_argument("--threads", type=int, default=1, help="torch threads for training")
    p.add_argument("--latent", type=int, default=TrainingSpec.latent)
    p.add_argument("--vae-hidden", type=int, nargs="+", default=list(TrainingSpec.vae_hidden))
    p.add_argument("--regressor-hidden", type=int, nargs="+",
                   default=list(TrainingSpec.regressor_hidden))
    p.add_argument("--vae-epochs", type=int, default=TrainingSpec.vae_epochs)
    p.add_argument("--regressor-epochs", type=int, default=TrainingSpec.regressor_epochs)
    p.add_argument("--beta", type=float, default=TrainingSpec.beta)
    p.add_argument("--e-min", type=float, default=TrainingSpec.e_min,
                   help="input bins above this energy, meV")
    p.add_argument("--noise-counts", type=float, nargs="*", default=[],
                   help="train on Poisson-noisy maps at these total counts (background 0, 0.1)")
    p.add_argument("--quiet", action="store_true", help="no line per epoch")
    return p.parse_args()


def held_out(folder: Path, covered: np.ndarray, validation: float, seed: int):
    """Held-out maps of fit()'s split (NaN where not covered) and their parameters."""
    maps, params = [], []
    for path in sorted(folder.glob("shard_*.h5")):
        with h5py.File(path, "r") as f:
            maps.append(f["spectra"][()])
            params.append(f["parameters"][()])
    maps, params = np.concatenate(maps), np.concatenate(params)
    rows = split(len(maps), validation, seed)[1]
    return np.where(covered, maps[rows], np.nan), params[rows]


def noisy_r2(inverter, maps: np.ndarray, truth: np.ndarray, counts: float) -> np.ndarray:
    """R^2 per parameter of point estimates from Poisson-noisy maps (background 0.1)."""
    covered = inverter.covered
    clean = torch.as_tensor(np.nan_to_num(maps))
    noisy = poisson_noise(clean, counts, BACKGROUND, torch.Generator().manual_seed(0),
                          torch.as_tensor(~covered)).numpy()
    return r_squared(inverter.point_estimates(network_inputs(noisy, covered, covered)), truth)


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    datagen = DatagenConfig(force_constants=AL, n_spectra=args.n, template=TemplateSpec(
        "ARCS", 50.0, q_binning="0,0.09,9.09", e_binning="-7,0.8,49"), shard_size=250, seed=0)
    dataset = args.dataset / f"n{args.n}"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output:
        spec = replace(TrainingSpec(), latent=args.latent, vae_hidden=tuple(args.vae_hidden),
                       regressor_hidden=tuple(args.regressor_hidden), vae_epochs=args.vae_epochs,
                       regressor_epochs=args.regressor_epochs, beta=args.beta,
                       e_min=args.e_min, noise_counts=tuple(args.noise_counts),
                       noise_backgrounds=(0.0, BACKGROUND) if args.noise_counts else (0.0,),
                       output=output,
                       dataset=str(dataset), scheduler=args.scheduler, workers=args.workers)

        def progress(line: str) -> None:
            if not args.quiet or "epoch" not in line:
                print(f"{time.perf_counter() - start:8.1f} s  {line}", flush=True)

        inverter = train(TrainingConfig(datagen, spec), progress)
        size = (Path(output) / f"{inverter.key}.pt").stat().st_size
    report(inverter, dataset, size, args)


def report(inverter, dataset: Path, size: int, args) -> None:
    figures = inverter.metadata["training"]
    maps, truth = held_out(dataset, inverter.covered, TrainingSpec.validation, TrainingSpec.seed)
    start = time.perf_counter()
    for signal in maps[:INFERENCE_MAPS]:
        inverter.predict(signal, np.isfinite(signal), n_samples=1000)
    per_map = (time.perf_counter() - start) / min(INFERENCE_MAPS, len(maps))
    print(f"\nmaps {args.n} (train {figures['n_train']}, held out {figures['n_validation']}), "
          f"{inverter.covered.sum()} covered bins, torch threads {args.threads}")
    print(f"training: VAE {figures['seconds']['vae']:.1f} s, regressor "
          f"{figures['seconds']['regressor']:.1f} s; {figures['n_weights']} weights, "
          f"file {size / 1e6:.2f} MB")
    print(f"inference (predict, 1000 latent samples): {1e3 * per_map:.1f} ms per map")
    validation = figures["validation"]
    noisy = {c: noisy_r2(inverter, maps, truth, c) for c in NOISE_COUNTS}
    print(f"{'parameter':10s} {'R^2':>7s} {'RMSE/ref':>9s} {'sigma/ref':>9s} {'1-sigma cov':>11s}"
          + "".join(f" {f'R^2 {c:.0e}':>11s}" for c in NOISE_COUNTS))
    for i, name in enumerate(inverter.names):
        print(f"{name:10s} {validation['r2'][name]:7.3f} {validation['rmse_relative'][name]:9.3f}"
              f" {validation['sigma_relative'][name]:9.3f} "
              f"{validation['coverage_1sigma'][name]:11.2f}"
              + "".join(f" {noisy[c][i]:11.3f}" for c in NOISE_COUNTS))
    print(f"(R^2 1e+05...: held-out maps with Poisson noise at that many counts per map and a "
          f"background of {BACKGROUND} x the mean signal per bin)")
    print(json.dumps({"architecture": inverter.metadata["architecture"]}))


if __name__ == "__main__":
    main()
