"""The shared data model: histograms with named axes, variance, mask and metadata.

Axis order: a powder map is ``(|Q| axis, DeltaE axis)`` with signal shape (nQ, nE), the
layout of a Mantid Workspace2D (vertical axis, X axis). An MD histogram keeps Mantid's
dimension order D0, D1, ... with signal shape (n0, n1, ...).
"""

from dataclasses import dataclass, field, replace

import numpy as np

from inslib.axes import Axis

WORKSPACE2D = "Workspace2D"
MDHISTO = "MDHistoWorkspace"


@dataclass
class Log:
    """A run log: a value (scalar, string or 1D array) with its unit."""

    value: object
    unit: str = ""


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

    @classmethod
    def empty(cls, axes, metadata=None, **kwargs) -> "Histogram":
        """Return a zero histogram (zero variance, nothing masked) on ``axes``.

        Parameters
        ----------
        axes : sequence of Axis
            The axes.
        metadata : Metadata, optional
            Experiment description.
        **kwargs
            Other :class:`Histogram` fields (kind, distribution, y_unit_label).

        Returns
        -------
        Histogram
            The empty histogram.
        """
        shape = tuple(axis.size for axis in axes)
        return cls(axes, np.zeros(shape), np.zeros(shape), np.zeros(shape, bool),
                   metadata or Metadata(), **kwargs)

    @property
    def shape(self) -> tuple:
        """Signal shape (n0, n1, ...)."""
        return self.signal.shape

    @property
    def errors(self) -> np.ndarray:
        """Standard deviation of each bin, shape as ``signal``."""
        return np.sqrt(self.variance)

    def axis(self, unit: str) -> Axis:
        """Return the first axis with Mantid unit ID ``unit``.

        Parameters
        ----------
        unit : str
            Unit ID such as "DeltaE" or "MomentumTransfer".

        Returns
        -------
        Axis
            The axis.
        """
        for candidate in self.axes:
            if candidate.unit == unit:
                return candidate
        units = [a.unit for a in self.axes]
        msg = f"This histogram has no {unit} axis (its axes are in {units})."
        raise KeyError(msg)

    def with_signal(self, signal, variance=None, provenance: str = "") -> "Histogram":
        """Return a copy on identical axes, mask and metadata with new values.

        Masked bins of the copy are NaN, as Mantid shows uncovered bins.

        Parameters
        ----------
        signal : numpy.ndarray, shape as ``self.signal``
            New values.
        variance : numpy.ndarray, optional, shape as ``self.signal``
            New variances (zero when omitted).
        provenance : str
            Line appended to the metadata provenance.

        Returns
        -------
        Histogram
            The new histogram.
        """
        signal = np.where(self.mask, np.nan, signal)
        variance = np.zeros(self.shape) if variance is None else np.asarray(variance, float)
        metadata = replace(self.metadata, provenance=[*self.metadata.provenance, provenance]
                           if provenance else list(self.metadata.provenance),
                           logs=dict(self.metadata.logs))
        return replace(self, signal=signal, variance=np.where(self.mask, np.nan, variance),
                       metadata=metadata)
