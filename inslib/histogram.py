"""The shared data model: histograms with named axes, variance, mask and metadata.

Axis order: a powder map is ``(|Q| axis, DeltaE axis)`` with signal shape (nQ, nE), the
layout of a Mantid Workspace2D (vertical axis, X axis). An MD histogram keeps Mantid's
dimension order D0, D1, ... with signal shape (n0, n1, ...).
"""

from dataclasses import dataclass, field

import numpy as np

WORKSPACE2D = "Workspace2D"
MDHISTO = "MDHistoWorkspace"


@dataclass
class Log:
    """A run log: a value (scalar, string, 1D array or list of strings) with its unit.

    A time-series log (Mantid's TimeSeriesProperty) also has ``times``: numpy.ndarray, shape
    (n,), seconds after ``start`` (ISO 8601), one per value.
    """

    value: object
    unit: str = ""
    times: np.ndarray | None = None
    start: str = ""


@dataclass
class Metadata:
    """What a measured or simulated histogram knows about its experiment.

    Parameters
    ----------
    instrument : str
        Instrument name ("" when unknown).
    emode : str
        "Direct", "Indirect" or "" (unknown).
    ei : float or None
        Incident energy in meV (direct geometry).
    efixed : float or None
        Final energy in meV (indirect geometry).
    temperature : float or None
        Sample temperature in K.
    lattice : tuple of float or None
        (a, b, c) in Angstrom and (alpha, beta, gamma) in degrees.
    ub : numpy.ndarray or None, shape (3, 3)
        UB matrix (1/Angstrom, Busing-Levy convention, no 2 pi).
    w_matrix : numpy.ndarray or None, shape (3, 3)
        Projection matrix: columns are the HKL directions of the Q dimensions.
    title : str
        Workspace title.
    provenance : list of str
        One line per processing step, oldest first.
    logs : dict of str to Log
        Other run logs, written to and read from the Mantid file's logs.
    """

    instrument: str = ""
    emode: str = ""
    ei: float | None = None
    efixed: float | None = None
    temperature: float | None = None
    lattice: tuple | None = None
    ub: np.ndarray | None = None
    w_matrix: np.ndarray | None = None
    title: str = ""
    provenance: list = field(default_factory=list)
    logs: dict = field(default_factory=dict)


@dataclass
class Histogram:
    """Signal with variance and mask on named axes.

    Parameters
    ----------
    axes : tuple of Axis
        One axis per signal dimension.
    signal : numpy.ndarray, shape (n0, n1, ...)
        Bin values (densities for distribution data); NaN where masked.
    variance : numpy.ndarray, shape (n0, n1, ...)
        Variance (sigma squared) of each bin.
    mask : numpy.ndarray of bool, shape (n0, n1, ...)
        True where a bin is not covered (no data / no model).
    metadata : Metadata
        Experiment description.
    kind : str
        "Workspace2D" (vertical axis, X axis) or "MDHistoWorkspace".
    distribution : bool
        True when the signal is a density per unit of the X axis (per meV).
    y_unit_label : str
        Label of the signal ("Intensity", "Counts per meV"...).
    """

    axes: tuple
    signal: np.ndarray
    variance: np.ndarray
    mask: np.ndarray
    metadata: Metadata = field(default_factory=Metadata)
    kind: str = WORKSPACE2D
    distribution: bool = True
    y_unit_label: str = "Intensity"

    def __post_init__(self):
        self.axes = tuple(self.axes)
        shape = tuple(axis.size for axis in self.axes)
        for name in ("signal", "variance", "mask"):
            array = np.asarray(getattr(self, name), dtype=bool if name == "mask" else float)
            if array.shape != shape:
                msg = f"{name} has shape {array.shape}, the axes need {shape}."
                raise ValueError(msg)
            setattr(self, name, array)
        if self.kind == WORKSPACE2D and len(self.axes) != 2:
            msg = f"A Workspace2D has 2 axes, got {len(self.axes)}."
            raise ValueError(msg)

    @property
    def shape(self) -> tuple:
        """Signal shape (n0, n1, ...)."""
        return self.signal.shape

    @property
    def errors(self) -> np.ndarray:
        """Standard deviation of each bin, shape as ``signal``."""
        return np.sqrt(self.variance)
