"""PredictSQE Method=Direct powder maps on the map networks' held-out test prototypes.

Run with OMP_NUM_THREADS=1 (about 10 CPU-min):
``.venv/bin/python benchmarks/bench_direct_maps.py [--figure docs/figures/direct_maps.png]``.

On the test part of models/direct/map/card.json's records (no prototype shared with training),
against the labels' force constants (7net-0, the ForceField route):

- intrinsic maps (coherent one-phonon, 0 K, the networks' own grid): Pearson r of the
  ensemble's predicted map, of the autoencoder's reconstruction of the true map (the ceiling of
  the latent code) and of the training mean map (a structure-blind baseline);
- instrument maps: on an ARCS Ei = 80 meV, 300 K template, the Pearson r (E > 8 meV, scale +
  flat background) against the ForceField route's full map (coherent + incoherent) of the
  Direct map with the predicted coherent term (Coherent=True), of the Direct map in the
  incoherent approximation of the predicted DOS (Coherent=False), and of the ForceField route's
  own incoherent map (the ceiling of any incoherent-approximation map);
- seconds per structure of the map networks after the first.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from bench_direct import LABELS, MANIFEST, ROOT, figure_parser, labelled

from inslib.inversion.metrics import pearson_r
from inslib.ml.direct_data import load_samples
from inslib.ml.map_model import load_map_ensemble
from inslib.ml.map_training import map_samples

SETTING = {"Instrument": "ARCS", "Ei": 80, "Temperature": 300, "QBinning": "0.5,0.1,10",
           "EBinning": "-5,0.5,75"}


def instrument_correlations(ids: list, folder: Path) -> np.ndarray:
    """Per test structure, r against the full map: Direct coherent, Direct incoherent, FF inc.

    Returns
    -------
    numpy.ndarray, shape (n_structures, 3)
    """
    import ase.io
    from ase import Atoms

    from inslib.compare import compare
    from inslib.runtime.host import run_algorithm

    fast = {"MeshSize": 8, "DirectionsPerShell": 100}
    rows = []
    for record_id in ids:
        record = labelled(record_id)
        crystal = record.crystal
        fcs_file = record.force_constants.save_phonopy_yaml(folder / f"{record_id}.yaml")
        cif = folder / f"{record_id}.cif"
        ase.io.write(cif, Atoms(crystal.symbols, scaled_positions=crystal.positions,
                                cell=crystal.cell, pbc=True))
        full, incoherent = (run_algorithm("SimulatePowderSQE", ForceConstantsFile=str(fcs_file),
                                          Coherent=coherent, OutputWorkspace="ff", **SETTING,
                                          **fast)["OutputWorkspace"]
                            for coherent in (True, False))
        direct = [run_algorithm("PredictSQE", StructureFile=str(cif), Method="Direct",
                                Coherent=coherent, OutputWorkspace="direct",
                                **SETTING)["OutputWorkspace"] for coherent in (True, False)]
        rows.append([compare(m, full, 8.0).pearson_r for m in (*direct, incoherent)])
    return np.array(rows)


def intrinsic_rows(maps, samples: list) -> tuple[list, list, np.ndarray]:
    """Test MapSamples, their predicted mean shapes and r (predicted, baseline) per structure."""
    test = [s for s in samples if s.part == "test"]
    baseline = np.mean([s.shape for s in samples if s.part == "train"], axis=0)
    predicted = [maps.shapes(s.graph).mean(axis=0) for s in test]
    r = np.array([[pearson_r(p, s.shape), pearson_r(baseline, s.shape)]
                  for p, s in zip(predicted, test, strict=True)])
    return test, predicted, r


def speed(maps, samples: list) -> float:
    """Median seconds of MapEnsemble.predict per structure after the first."""
    times = []
    for sample in samples[:11]:
        record = labelled(sample.id)
        start = time.perf_counter()
        maps.predict(record.crystal, 1.0)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def figure(maps, test: list, predicted: list, r: np.ndarray, path: Path) -> None:
    """Draw the histogram of r and the best, median and worst test structures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q_edges, e_edges = maps.edges()
    order = np.argsort(r[:, 0])
    picks = {"worst": order[0], "median": order[len(order) // 2], "best": order[-1]}
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.4))
    gs = axes[0, 0].get_gridspec()
    for ax in axes[:, 0]:
        ax.remove()
    hist = fig.add_subplot(gs[:, 0])
    hist.hist([r[:, 0], r[:, 1]], bins=np.linspace(min(r.min(), 0), 1, 21),
              label=["Direct", "training mean map"])
    hist.set(xlabel="r against the true intrinsic map", ylabel="test structures")
    hist.legend()
    for column, (name, k) in enumerate(picks.items(), start=1):
        for row, (label, image) in enumerate((("ForceField", test[k].shape),
                                              ("Direct", predicted[k]))):
            ax = axes[row, column]
            ax.pcolormesh(q_edges, e_edges, np.sqrt(image.T), shading="flat", cmap="viridis")
            ax.set(title=f"{name} {test[k].id[:8]}: {label}" + (f" (r {r[k, 0]:.2f})" if row
                                                                 else ""),
                   xlabel="|Q| (1/A)", ylabel="E (meV)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    """Print the figures (and save the plot when asked)."""
    parser = figure_parser(__doc__)
    parser.add_argument("--skip-instrument", action="store_true",
                        help="only the intrinsic-map figures (seconds instead of minutes)")
    args = parser.parse_args()
    maps = load_map_ensemble(ROOT / "models" / "direct")
    samples, _ = load_samples(MANIFEST, LABELS, maps.config.backbone().cutoff,
                              ids=maps.card["training_data"]["records"], log=lambda _: None)
    chosen = map_samples(samples, LABELS, log=lambda _: None)
    test, predicted, r = intrinsic_rows(maps, chosen)
    print(f"intrinsic maps, {len(test)} test structures: r median {np.median(r[:, 0]):.3f} "
          f"(10th percentile {np.percentile(r[:, 0], 10):.3f}); training mean map "
          f"{np.median(r[:, 1]):.3f}; card: {maps.card['metrics']['r']}")
    print(f"seconds per structure after the first (map networks): {speed(maps, test):.4f}")
    if args.figure:
        figure(maps, test, predicted, r, args.figure)
        print(f"figure: {args.figure}")
    if args.skip_instrument:
        return
    with tempfile.TemporaryDirectory() as folder:
        rows = instrument_correlations([s.id for s in test], Path(folder))
    print(f"ARCS maps, {len(rows)} test structures, r against the ForceField full map:")
    for name, column in zip(("Direct, Coherent=True", "Direct, Coherent=False",
                             "ForceField incoherent"), rows.T, strict=True):
        print(f"  {name}: median {np.median(column):.3f}, 10th percentile "
              f"{np.percentile(column, 10):.3f}, mean {column.mean():.3f}")
    print(f"  Coherent=True above Coherent=False on {100 * np.mean(rows[:, 0] > rows[:, 1]):.0f} %"
          " of the structures")


if __name__ == "__main__":
    main()
