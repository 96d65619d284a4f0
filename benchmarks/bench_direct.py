"""PredictSQE Method=Direct on the held-out test prototypes: DOS and VISION S(E) errors, speed.

Powder maps: benchmarks/bench_direct_maps.py.

Run with OMP_NUM_THREADS=1 (one thread, as the networks were trained):
``.venv/bin/python benchmarks/bench_direct.py [--figure docs/figures/direct_test.png]``.

The shipped ensemble (models/direct) is compared with its labels, the ForceField route's own
spectra (7net-0), on the test part of its card's records (no prototype shared with training):

- total DOS: median and mean normalised MSE (spectra divided by their maximum), against a
  structure-blind baseline (the training part's mean DOS); highest-peak shift; first-moment
  error; partial DOS per element;
- VISION S(E) per bank at 10 K on the labels' grid (0-150 meV, 1.25 meV bins, multiphonon
  order 10): the Direct route's S(E) (the indirect forward model on the members' mean DOS,
  regularised as PredictSQE does) against the labels' (the same forward model on the force
  constants);
- seconds per structure: the networks alone and the whole PredictSQE DOS call, after a first.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from inslib.ml.direct_data import load_samples
from inslib.ml.direct_eval import evaluate, normalised_mse, predict_samples
from inslib.ml.direct_model import load_ensemble
from inslib.ml.records import LabelFolder, load_record

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "data" / "predict" / "structures.jsonl"
LABELS = ROOT / "data" / "predict" / "7net-0"


def labelled(record_id: str):
    """Load a structure's record from the label folder (inslib.ml.records.Record)."""
    return load_record(LabelFolder(LABELS).record_path(record_id))


def figure_parser(doc: str) -> argparse.ArgumentParser:
    """Command line of the Direct benchmarks: --figure PATH; torch at one thread."""
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--figure", type=Path, help="save the test-set figure here")
    return parser


def indirect_errors(ensemble, samples: list) -> list:
    """Per test structure and bank: normalised MSE and peak shift (meV) of the Direct S(E)."""
    from inslib.ml.direct_predict import PredictedModel, predicted_mesh, regularised
    from inslib.simulation.indirect import indirect_histogram
    from inslib.simulation.requests import TemplateRequest

    template = TemplateRequest(instrument="VISION", temperature=10.0, e_binning="0,1.25,150")
    rows = []
    for sample in samples:
        record = labelled(sample.id)
        crystal = record.crystal
        partial, fine = regularised(ensemble.predict(crystal), ensemble.edges())
        mesh = predicted_mesh(partial.mean(axis=0), fine, crystal.masses, 10.0)
        direct = indirect_histogram(PredictedModel.of(crystal), mesh, template, 10.0, 10, False,
                                    "bench", {}).signal
        centres = 0.5 * (record.edges[1:] + record.edges[:-1])
        for bank in range(len(direct)):
            p, t = direct[bank], record.indirect[bank]
            rows.append((normalised_mse(p, t), abs(centres[p.argmax()] - centres[t.argmax()])))
    return rows


def speed(ensemble) -> tuple[float, float]:
    """Seconds per structure (networks; PredictSQE DOS call), the median of 5 after a first."""
    import tempfile

    import ase.io
    from ase.build import bulk

    from inslib.runtime.host import run_algorithm

    crystal_atoms = bulk("NaCl", "rocksalt", a=5.64)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "NaCl.cif"
        ase.io.write(path, crystal_atoms)
        times = {"net": [], "call": []}
        from inslib.structure import load_structure

        crystal = load_structure(path)
        for _ in range(6):
            start = time.perf_counter()
            ensemble.predict(crystal)
            times["net"].append(time.perf_counter() - start)
            start = time.perf_counter()
            run_algorithm("PredictSQE", StructureFile=str(path), Method="Direct", Output="DOS",
                          OutputWorkspace="bench")
            times["call"].append(time.perf_counter() - start)
    return float(np.median(times["net"][1:])), float(np.median(times["call"][1:]))


def figure(ensemble, samples: list, path: Path) -> None:
    """Per-structure DOS errors against the baseline, and the best, median and worst cases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = [s for s in samples if s.part == "test"]
    predicted = [rows.sum(axis=0) for rows in predict_samples(ensemble, test)]
    baseline = np.mean([s.target.sum(axis=0) for s in samples if s.part == "train"], axis=0)
    errors = np.array([normalised_mse(p, s.target.sum(axis=0))
                       for p, s in zip(predicted, test, strict=True)])
    base = np.array([normalised_mse(baseline, s.target.sum(axis=0)) for s in test])
    order = np.argsort(errors)
    picks = {"best": order[0], "median": order[len(order) // 2], "worst": order[-1]}
    centres = 0.5 * (ensemble.edges()[1:] + ensemble.edges()[:-1])
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    bins = np.linspace(0, max(errors.max(), base.max()), 20)
    axes[0].hist([errors, base], bins=bins, label=["Direct", "mean DOS"])
    axes[0].set(xlabel="normalised MSE of the DOS", ylabel="test structures")
    axes[0].legend()
    for ax, (name, k) in zip(axes[1:], picks.items(), strict=True):
        truth = test[k].target.sum(axis=0)
        ax.plot(centres, truth / truth.max(), label="ForceField (7net-0)")
        ax.plot(centres, predicted[k] / predicted[k].max(), label="Direct")
        ax.set(title=f"{name}: {test[k].id[:8]} (MSE {errors[k]:.3f})", xlabel="E (meV)")
        ax.set_xlim(0, centres[truth > 1e-3 * truth.max()].max() * 1.2)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Print the figures (and save the plot when asked)."""
    args = figure_parser(__doc__).parse_args()
    ensemble = load_ensemble()
    samples, _ = load_samples(MANIFEST, LABELS, ensemble.config.cutoff,
                              ids=ensemble.card["training_data"]["records"])
    for part in ("val", "test"):
        print(part, evaluate(ensemble, samples, part))
    rows = np.array(indirect_errors(ensemble, [s for s in samples if s.part == "test"]))
    print(f"VISION S(E), test banks {len(rows)}: normalised MSE median {np.median(rows[:, 0]):.4f}"
          f" mean {rows[:, 0].mean():.4f}; peak shift median {np.median(rows[:, 1]):.2f} meV, "
          f"90th percentile {np.percentile(rows[:, 1], 90):.2f} meV")
    net, call = speed(ensemble)
    print(f"seconds per structure after the first: networks {net:.4f}, PredictSQE DOS {call:.3f}")
    if args.figure:
        figure(ensemble, samples, args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
