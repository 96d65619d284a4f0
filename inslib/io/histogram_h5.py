"""Reader for the "histogram" HDF5 files of the SNS multiphonon package (measured data).

Layout: ``/<group>/data`` and ``/<group>/errors`` (the VARIANCE, not sigma) with
``/<group>/grid/<axis>/bin boundaries``; the grid units are SI-scaled strings
("1e+10*m**-1" is 1/Angstrom, "1.60218e-22*m**2*kg*s**-2" is meV). NaN marks bins outside
the detector coverage.
"""

import numpy as np

from inslib.axes import Axis, energy_axis, q_axis
from inslib.histogram import Histogram, Metadata
from inslib.io.hdf import read_text
from inslib.io.nexus_processed import NexusFormatError, open_nexus

_Q_UNIT = "1e+10*m**-1"
_E_UNIT = "1.60218e-22*m**2*kg*s**-2"


def _grid_axis(group, path) -> Axis:
    unit = read_text(group.attrs.get("unit", b""))
    edges = group["bin boundaries"][()]
    if unit == _Q_UNIT:
        return q_axis(edges)
    if unit == _E_UNIT:
        return energy_axis(edges)
    msg = (
        f"{path}: grid axis {group.name} has unit {unit!r}; expected "
                           f"|Q| ({_Q_UNIT}) or energy ({_E_UNIT})."
    )
    raise NexusFormatError(msg)


def read_histogram_h5(path, metadata: Metadata | None = None) -> Histogram:
    """Read a multiphonon "histogram" HDF5 file (I(Q,E) map or 1D DOS).

    Parameters
    ----------
    path : str or pathlib.Path
        The .h5 file.
    metadata : Metadata, optional
        Experiment description (the files themselves record none).

    Returns
    -------
    Histogram
        For a map: axes (|Q|, DeltaE), signal shape (nQ, nE). For a 1D file: one spectrum,
        axes (spectrum number, DeltaE). Variance is read as stored; NaN bins are masked.
    """
    with open_nexus(path) as f:
        groups = [key for key in f if "data" in f[key] and "grid" in f[key]]
        if len(groups) != 1:
            msg = (
                f"{path} is not a multiphonon histogram file "
                                   f"(found {len(groups)} data+grid groups, need one)."
            )
            raise NexusFormatError(msg)
        group = f[groups[0]]
        grid = group["grid"]
        names = sorted(grid, key=lambda k: int(grid[k].attrs.get("index", 0)))
        axes = [_grid_axis(grid[name], path) for name in names]
        signal, variance = group["data"][()], group["errors"][()]
    if len(axes) == 1:
        axes = [Axis(np.array([1.0]), "spectraNumber", "Spectrum", is_edges=False), axes[0]]
        signal, variance = signal[None, :], variance[None, :]
    mask = ~np.isfinite(signal)
    return Histogram(axes, signal, variance, mask, metadata or Metadata())
