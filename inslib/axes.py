"""Named axes shared by measurements, simulations and predictions.

An :class:`Axis` carries bin edges (or point values), its unit ID (Mantid's: ``DeltaE``,
``MomentumTransfer``, ``r.l.u.``...), a caption, an MD frame and, for HKL axes, the
projection vector; a q-path axis also carries tick labels.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from inslib.units import to_mev

#: Captions Mantid uses for the units this library writes.
CAPTIONS = {
    "DeltaE": "Energy transfer",
    "MomentumTransfer": "|Q|",
    "r.l.u.": "Q",
    "Path": "q along path",
}
#: Units printed next to captions on plots.
UNIT_SYMBOLS = {"DeltaE": "meV", "MomentumTransfer": "1/Å", "r.l.u.": "r.l.u.", "Path": "1/Å"}

_SMALLEST_LAST_BIN = 0.25  # Mantid's Rebin merges a last bin narrower than 25 % of the step


@dataclass(frozen=True)
class Axis:
    """One axis of a histogram.

    Parameters
    ----------
    values : numpy.ndarray, shape (n + 1,) or (n,)
        Bin edges (``is_edges``) or point values, in ``unit``; strictly increasing.
    unit : str
        Mantid unit ID: "DeltaE" (meV), "MomentumTransfer" (1/Angstrom), "r.l.u.", "Path"
        (1/Angstrom along a q-path), "spectraNumber", "Label" or "Empty".
    name : str
        Caption ("|Q|", "DeltaE", "[H,0,0]"...).
    is_edges : bool
        True when ``values`` are bin edges.
    frame : str
        MD frame: "HKL", "QSample", "QLab" or "General Frame".
    projection : tuple of float or None
        For HKL axes, the (h, k, l) direction of the axis in r.l.u.
    ticks : tuple of (float, str)
        Tick positions (in ``unit``) and labels, for q-path axes.
    """

    values: np.ndarray
    unit: str
    name: str = ""
    is_edges: bool = True
    frame: str = "General Frame"
    projection: tuple | None = None
    ticks: tuple = field(default_factory=tuple)

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 1 or values.size < (2 if self.is_edges else 1):
            msg = f"Axis {self.name!r} needs at least one bin, got {values.size} values."
            raise ValueError(msg)
        if values.size > 1 and not np.all(np.diff(values) > 0):
            msg = f"Axis {self.name!r} values must increase strictly."
            raise ValueError(msg)
        object.__setattr__(self, "values", values)

    @property
    def size(self) -> int:
        """Number of bins (or points)."""
        return self.values.size - 1 if self.is_edges else self.values.size

    @property
    def edges(self) -> np.ndarray:
        """Bin edges, shape (size + 1,); point axes get mid-point edges."""
        if self.is_edges:
            return self.values
        return points_to_edges(self.values)

    @property
    def centres(self) -> np.ndarray:
        """Bin centres (or the points), shape (size,), in ``unit``."""
        if self.is_edges:
            return 0.5 * (self.values[1:] + self.values[:-1])
        return self.values

    @property
    def label(self) -> str:
        """Plot label: caption with the unit symbol, e.g. "|Q| (1/Å)"."""
        symbol = UNIT_SYMBOLS.get(self.unit)
        caption = self.name or CAPTIONS.get(self.unit, self.unit)
        return f"{caption} ({symbol})" if symbol else caption


def points_to_edges(points: np.ndarray) -> np.ndarray:
    """Return bin edges half-way between points (outer edges mirrored).

    Parameters
    ----------
    points : numpy.ndarray, shape (n,)
        Increasing point positions.

    Returns
    -------
    numpy.ndarray, shape (n + 1,)
        Bin edges.
    """
    if points.size == 1:
        return np.array([points[0] - 0.5, points[0] + 0.5])
    mid = 0.5 * (points[1:] + points[:-1])
    return np.concatenate([[2 * points[0] - mid[0]], mid, [2 * points[-1] - mid[-1]]])


MAX_BINS = 1_000_000  # bins per axis a binning string may make (documented limit)


def parse_binning(text: str, prop: str = "Binning", unit: str = "") -> np.ndarray:
    """Turn a Mantid-style "start,step,end" string into bin edges.

    As Mantid's Rebin, the last bin ends exactly at ``end``; when it would be narrower than
    25 % of ``step`` it is merged into the previous bin.

    Parameters
    ----------
    text : str
        "start,step,end" (numbers in the axis unit).
    prop : str
        Property name, used in error messages.
    unit : str
        Unit of the numbers, used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n + 1,)
        Bin edges in the unit of the numbers.
    """
    parts = [p for p in re.split(r"[,\s]+", str(text).strip()) if p]
    try:
        start, step, end = (float(p) for p in parts)
    except ValueError:
        msg = (
            f"{prop}={text!r} is not 'start,step,end' "
            f"(three numbers{', in ' + unit if unit else ''}),"
            " e.g. '0,0.05,10'."
        )
        raise ValueError(
            msg
        ) from None
    if not all(np.isfinite([start, step, end])):
        msg = f"{prop}={text!r} contains a non-finite number."
        raise ValueError(msg)
    if step <= 0:
        msg = f"{prop}={text!r}: step {step:g} must be > 0 (logarithmic binning is not supported)."
        raise ValueError(
            msg
        )
    if end <= start:
        msg = f"{prop}={text!r}: end {end:g} must be greater than start {start:g}."
        raise ValueError(msg)
    count = int(np.floor((end - start) / step + 1e-9))
    if count > MAX_BINS:
        msg = (f"{prop}={text!r} makes {count:,} bins; at most {MAX_BINS:,} per axis (larger "
               "grids do not fit in memory with their resolution arrays): choose a larger step")
        raise ValueError(msg)
    edges = start + step * np.arange(count + 1)
    if end - edges[-1] > _SMALLEST_LAST_BIN * step or edges.size == 1:
        edges = np.append(edges, end)
    else:
        edges[-1] = end
    return edges


def energy_axis(edges, unit: str = "meV") -> Axis:
    """Build an energy-transfer axis, converting from cm^-1 or THz when asked.

    Parameters
    ----------
    edges : array_like, shape (n + 1,)
        Bin edges in ``unit``.
    unit : str
        "meV", "cm^-1" or "THz".

    Returns
    -------
    Axis
        DeltaE axis with edges in meV.
    """
    return Axis(to_mev(edges, unit), "DeltaE", "Energy transfer")


def q_axis(edges) -> Axis:
    """Build a |Q| axis.

    Parameters
    ----------
    edges : array_like, shape (n + 1,)
        Bin edges in 1/Angstrom.

    Returns
    -------
    Axis
        MomentumTransfer axis.
    """
    return Axis(np.asarray(edges, dtype=float), "MomentumTransfer", "|Q|")


_HKL_TERM = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)?(?:[eE][+-]?\d+)?)\*?([HKLhkl]?)$")


def parse_hkl_name(name: str) -> tuple[float, float, float] | None:
    """Read the projection vector from a Mantid HKL dimension name.

    Parameters
    ----------
    name : str
        Dimension name as MDNorm writes it, e.g. "[H,0,0]" or "[-0.5K,K,0]".

    Returns
    -------
    tuple of float or None
        The (h, k, l) direction, or None when the name is not of that form.
    """
    match = re.fullmatch(r"\s*\[(.*)\]\s*", name)
    if not match:
        return None
    terms = [t.strip() for t in match.group(1).split(",")]
    if len(terms) != 3:
        return None
    vector = []
    for term in terms:
        parsed = _HKL_TERM.match(term.replace(" ", ""))
        if not parsed:
            return None
        coefficient, letter = parsed.groups()
        if coefficient in ("", "+", "-"):
            coefficient += "1" if letter else "0"
        vector.append(float(coefficient) if letter or float(coefficient) == 0 else np.nan)
    return None if np.isnan(vector).any() else tuple(vector)
