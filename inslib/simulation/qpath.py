"""q-paths: parse "G-X-U|K-G-L", "[0,0,0]-[0.5,0,0.5]" or "auto" and sample points along them.

The one QPath parser of inslib (SimulateSingleCrystalSQE and FoldBrillouinZone). Labels are
seekpath's high-symmetry points of the crystal (G = Gamma) and explicit points are [h,k,l],
both in fractional coordinates of the crystal's own cell; labels and points may be mixed.
The path coordinate is the cumulative distance in 1/Angstrom, with a tick at every labelled
point ("U|K" where the path jumps).
"""

from itertools import pairwise

import numpy as np

from inslib.axes import Axis, energy_axis
from inslib.histogram import Histogram, Metadata
from inslib.structure import seekpath_path


class PathError(ValueError):
    """A QPath that cannot be built; the message names the property."""


def parse_path(spec: str, crystal) -> list:
    """Segments of a path as (label_a, label_b, frac_a, frac_b).

    Parameters
    ----------
    spec : str
        "auto" for seekpath's path, or labels / points [h,k,l] joined by "-", with "|" between
        pieces.
    crystal : Crystal
        Gives the high-symmetry points (seekpath).

    Returns
    -------
    list of (str, str, numpy.ndarray, numpy.ndarray)
        Labels and fractional coordinates (shape (3,)) of the ends of every segment.
    """
    known = seekpath_path(crystal)
    pairs = known.segments if spec.strip().lower() == "auto" else path_pairs(spec)
    unknown = sorted({t for pair in pairs for t in pair
                      if not t.startswith("[") and t not in known.points})
    if unknown:
        msg = (f"QPath={spec!r}: unknown label(s) {unknown} for this crystal; known: "
               f"{sorted(known.points)}")
        raise PathError(msg)
    segments = [(a, b, _coordinates(a, known.points), _coordinates(b, known.points))
                for a, b in pairs]
    for a, b, qa, qb in segments:
        if np.allclose(qa, qb):
            msg = (f"QPath={spec!r}: segment {a}-{b} has zero length (both ends are "
                   f"{np.round(qa, 6).tolist()}); join two different points")
            raise PathError(msg)
    return segments


def path_pairs(spec: str) -> list:
    """Return the (start, end) tokens of each segment of a path other than "auto" (syntax only).

    Raises
    ------
    PathError
        For a piece with fewer than two points, an unclosed bracket or a point that is not
        [h,k,l].
    """
    pairs = []
    for piece in spec.replace(" ", "").split("|"):
        if piece.count("[") != piece.count("]"):
            msg = (f"QPath={spec!r}: piece {piece!r} has an unclosed '[': write points as "
                   "[h,k,l], e.g. '[0,0,0]-[0.5,0,0.5]'")
            raise PathError(msg)
        tokens = split_piece(piece)
        if len(tokens) < 2:
            msg = (f"QPath={spec!r}: piece {piece!r} needs at least two labels or points "
                   "[h,k,l] joined by '-', e.g. 'G-X' or '[0,0,0]-[0.5,0,0.5]'")
            raise PathError(msg)
        for token in tokens:
            if token.startswith("["):
                _coordinates(token, {})
        pairs += list(pairwise(tokens))
    return pairs


def split_piece(piece: str) -> list:
    """Tokens of a path piece split at '-' outside brackets ("[0,0,0]-X" -> ["[0,0,0]", "X"])."""
    tokens, depth, current = [], 0, ""
    for char in piece:
        depth += char == "["
        depth -= char == "]"
        if char == "-" and depth == 0:
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
    return [*tokens, current] if current else tokens


def _coordinates(token: str, known: dict) -> np.ndarray:
    if not token.startswith("["):
        return known[token]
    try:
        values = np.array([float(v) for v in token.strip("[]").split(",")])
    except ValueError:
        values = np.array([])
    if values.shape != (3,) or not token.endswith("]") or not np.all(np.isfinite(values)):
        msg = (f"QPath: {token!r} is not a point [h,k,l]: give three numbers in brackets, "
               "e.g. [0.5,0,0.5]")
        raise PathError(msg)
    return values


def path_samples(segments, reciprocal, step: float, samples: int, rng):
    """Stratified sample points along the path and their bins.

    Parameters
    ----------
    segments : list
        From :func:`parse_path`.
    reciprocal : numpy.ndarray, shape (3, 3)
        Reciprocal lattice vectors (rows, 1/Angstrom, 2 pi included).
    step : float
        Bin width along the path, 1/Angstrom.
    samples : int
        Random points per bin.
    rng : numpy.random.Generator

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


def path_axis(distance_edges, ticks) -> Axis:
    """Axis along a q-path: cumulative distance (1/Angstrom) with labelled ticks."""
    return Axis(distance_edges, "Path", "Q-path", ticks=tuple(ticks))


def path_histogram(edges, ticks, e_edges, signal, temperature) -> Histogram:
    """Wrap S(q, E) on a path as a Workspace2D-like histogram.

    Parameters
    ----------
    edges : numpy.ndarray, shape (n_q + 1,)
        Path coordinate of the bin edges, 1/Angstrom.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV.
    signal : numpy.ndarray, shape (n_q, n_e)
        mbarn/meV per atom.
    temperature : float
        K.
    """
    meta = Metadata(temperature=temperature, title="Simulated S(q,E) along a q-path")
    return Histogram((path_axis(edges, ticks), energy_axis(e_edges)), signal,
                     np.zeros(signal.shape), np.zeros(signal.shape, bool), meta,
                     y_unit_label="mbarn/meV per atom")
