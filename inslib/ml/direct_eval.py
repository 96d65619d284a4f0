"""Figures of merit of a Direct ensemble against its labels (the ForceField route's spectra).

Spectra are compared as the issue asks: the mean squared error of normalised spectra (each
divided by its maximum, so 0 is perfect and about 0.1 is a wrong shape) and the position of
the highest peak. A baseline that ignores the structure (the training set's mean DOS) shows
what the network adds.
"""

import numpy as np


def element_fractions(member_atoms: np.ndarray, sample, width: float) -> np.ndarray:
    """Per-element fractions of the 3 N modes per bin, shape (n_elements, n_bins).

    Parameters
    ----------
    member_atoms : numpy.ndarray, shape (n_atoms, n_bins)
        Partial DOS per atom, states/meV.
    sample : inslib.ml.direct_data.Sample
    width : float
        Bin width, meV.
    """
    rows = np.zeros_like(sample.target)
    np.add.at(rows, sample.element_of_atom, member_atoms * width / (3.0 * len(member_atoms)))
    return rows


def normalised_mse(predicted: np.ndarray, true: np.ndarray) -> float:
    """Mean over bins of (p / max p - t / max t)^2 (1-D spectra of the same bins)."""
    return float(np.mean((predicted / predicted.max() - true / true.max()) ** 2))


def predict_samples(ensemble, samples: list) -> np.ndarray:
    """Ensemble-mean element fractions of each sample: list of (n_elements, n_bins) arrays."""
    import torch

    from inslib.ml.graph import batch

    width = ensemble.config.e_max / ensemble.config.n_bins
    out = []
    with torch.no_grad():
        for sample in samples:
            graphs = batch([sample.graph])
            atoms = np.mean([m(graphs).double().numpy() for m in ensemble.members], axis=0)
            out.append(element_fractions(atoms, sample, width))
    return out


def evaluate(ensemble, samples: list, part: str = "test") -> dict:
    """DOS and partial DOS errors on one part of the samples, with the mean-DOS baseline.

    Returns
    -------
    dict
        ``n``; ``dos_mse`` and ``baseline_dos_mse`` (median and mean of the per-structure
        normalised MSE of the total DOS); ``pdos_mse`` (median over structures of the mean
        per-element normalised MSE); ``peak_shift_mev`` (median and 90th percentile of
        |highest-peak energy difference|); ``mean_energy_error`` (median relative error of
        the first moment of the DOS).
    """
    chosen = [s for s in samples if s.part == part]
    baseline = np.mean([s.target.sum(axis=0) for s in samples if s.part == "train"], axis=0)
    predicted = predict_samples(ensemble, chosen)
    centres = 0.5 * (ensemble.edges()[1:] + ensemble.edges()[:-1])
    dos, base, pdos, shift, moment = [], [], [], [], []
    for sample, rows in zip(chosen, predicted, strict=True):
        p, t = rows.sum(axis=0), sample.target.sum(axis=0)
        dos.append(normalised_mse(p, t))
        base.append(normalised_mse(baseline, t))
        pdos.append(np.mean([normalised_mse(a, b) for a, b in zip(rows, sample.target,
                                                                    strict=True)]))
        shift.append(abs(centres[p.argmax()] - centres[t.argmax()]))
        moment.append(abs(p @ centres / p.sum() / (t @ centres / t.sum()) - 1.0))
    return {"part": part, "n": len(chosen),
            "dos_mse": {"median": float(np.median(dos)), "mean": float(np.mean(dos))},
            "baseline_dos_mse": {"median": float(np.median(base)), "mean": float(np.mean(base))},
            "pdos_mse": {"median": float(np.median(pdos))},
            "peak_shift_mev": {"median": float(np.median(shift)),
                               "p90": float(np.percentile(shift, 90))},
            "mean_energy_error": {"median": float(np.median(moment))}}
