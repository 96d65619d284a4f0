"""q-paths: parse "G-X-U|K-G-L" (or seekpath's standard path) and simulate S(q, E) along it.

Labels are seekpath's high-symmetry points of the crystal (G = Gamma), in fractional
coordinates of the model's cell; the path coordinate is the cumulative distance in
1/Angstrom, with a tick at every labelled point ("U|K" where the path jumps).
"""

from itertools import pairwise

import numpy as np

from inslib.axes import parse_binning
from inslib.structure import seekpath_path


class PathError(ValueError):
    """A QPath that cannot be built; the message names the property."""


def parse_path(spec: str, crystal) -> list:
    """Segments of a path as (label_a, label_b, frac_a, frac_b).

    Parameters
    ----------
    spec : str
        "auto" for seekpath's path, or labels joined by "-" with "|" between pieces.
    crystal : Crystal
        Gives the high-symmetry points (seekpath).
    """
    known = seekpath_path(crystal)
    if spec.strip().lower() == "auto":
        pairs = known.segments
    else:
        pairs = []
        for piece in spec.replace(" ", "").split("|"):
            labels = [label for label in piece.split("-") if label]
            if len(labels) < 2:
                msg = f"QPath: piece {piece!r} needs at least two labels joined by '-'"
                raise PathError(msg)
            pairs += list(pairwise(labels))
    unknown = sorted({lab for pair in pairs for lab in pair} - set(known.points))
    if unknown:
        msg = (f"QPath: unknown label(s) {unknown} for this crystal; known: "
               f"{sorted(known.points)}")
        raise PathError(msg)
    return [(a, b, known.points[a], known.points[b]) for a, b in pairs]


def path_samples(segments, reciprocal, step: float, samples: int, rng):
    """Stratified sample points along the path and their bins.

    Returns
    -------
    q : numpy.ndarray, shape (n_points, 3)
        Fractional q of the points.
    bin_index : numpy.ndarray of int, shape (n_points,)
    edges : numpy.ndarray, shape (n_bins + 1,)
        Path coordinate of the bin edges, 1/Angstrom.
    ticks : list of (float, str)
    """
    q_all, bins, edges, ticks = [], [], [0.0], []
    position = 0.0
    for k, (a, b, qa, qb) in enumerate(segments):
        length = float(np.linalg.norm((qb - qa) @ reciprocal))
        n = max(1, round(length / step))
        start_label = a if k == 0 or segments[k - 1][1] == a else f"{segments[k - 1][1]}|{a}"
        if not ticks or ticks[-1][0] != position:
            ticks.append((position, start_label))
        else:
            ticks[-1] = (position, start_label)
        t = (np.repeat(np.arange(n), samples) + rng.random(n * samples)) / n
        q_all.append(qa + t[:, None] * (qb - qa))
        bins.append(len(edges) - 1 + np.repeat(np.arange(n), samples))
        edges.extend(position + length * np.arange(1, n + 1) / n)
        position += length
        ticks.append((position, b))
    return np.concatenate(q_all), np.concatenate(bins), np.array(edges), ticks


def simulate_path(setup, request, fwhm, progress=None):
    """S(q, E) along the requested path: Histogram (path distance, DeltaE)."""
    import torch

    from inslib.simulate_crystal import path_histogram
    from inslib.single_crystal import CHUNK, mode_spectra

    model = setup.model
    segments = parse_path(request.path, model.crystal)
    rng = np.random.default_rng(request.seed)
    q, bins, edges, ticks = path_samples(segments, model.crystal.reciprocal, request.path_step,
                                         request.samples, rng)
    e_edges = parse_binning(request.e_binning, "Dimension3Binning", "meV")
    signal = torch.zeros((len(edges) - 1, len(e_edges) - 1), dtype=torch.float64)
    for start in range(0, len(q), CHUNK):
        stop = min(start + CHUNK, len(q))
        spectra = mode_spectra(model, q[start:stop], e_edges, fwhm, float(request.temperature),
                               setup.dw)
        signal.index_add_(0, torch.as_tensor(bins[start:stop]), spectra)
        if progress is not None:
            progress(stop / len(q))
    return path_histogram(edges, ticks, e_edges, signal.numpy() / request.samples,
                          float(request.temperature))
