"""Histogram <-> Mantid workspace translation, imported only inside Mantid.

Mantid cannot be installed from PyPI, so this module is not run by the test-suite; it uses
only documented simpleapi calls (CreateWorkspace, CreateMDHistoWorkspace) and workspace
accessors, and is the single place that would need changing if Mantid's API moved.
"""

import numpy as np
from mantid.simpleapi import CreateMDHistoWorkspace, CreateWorkspace

from inslib.axes import Axis, parse_hkl_name
from inslib.histogram import MDHISTO, Histogram, Metadata
from inslib.io.nexus_processed import PATH_UNIT, with_path_ticks


def to_workspace(hist: Histogram):
    """Return a MatrixWorkspace or MDHistoWorkspace holding ``hist``."""
    if hist.kind == MDHISTO:
        return _to_md(hist)
    vertical, x_axis = hist.axes
    signal = np.where(hist.mask, np.nan, hist.signal)
    # a q-path axis goes to Mantid as MomentumTransfer with its ticks as logs (as on disk)
    unit = "MomentumTransfer" if vertical.unit == PATH_UNIT else vertical.unit
    workspace = CreateWorkspace(
        DataX=np.tile(x_axis.values, vertical.size), DataY=signal.ravel(),
        DataE=np.where(hist.mask, np.nan, hist.errors).ravel(), NSpec=vertical.size,
        UnitX=x_axis.unit, VerticalAxisUnit=unit, VerticalAxisValues=vertical.values,
        Distribution=hist.distribution, YUnitLabel=hist.y_unit_label,
        WorkspaceTitle=hist.metadata.title, StoreInADS=False)
    _add_logs(workspace.mutableRun(), with_path_ticks(hist))
    return workspace


def _to_md(hist: Histogram):
    extents = [v for axis in hist.axes for v in (axis.edges[0], axis.edges[-1])]
    workspace = CreateMDHistoWorkspace(
        Dimensionality=len(hist.axes), Extents=extents,
        NumberOfBins=[axis.size for axis in hist.axes], Names=[a.name for a in hist.axes],
        Units=[a.unit for a in hist.axes], Frames=[a.frame for a in hist.axes],
        SignalInput=np.where(hist.mask, np.nan, hist.signal).ravel("F"),
        ErrorInput=np.where(hist.mask, np.nan, hist.errors).ravel("F"), StoreInADS=False)
    _add_logs(workspace.getExperimentInfo(0).mutableRun(), hist.metadata)
    return workspace


def _add_logs(run, metadata: Metadata) -> None:
    from inslib.io.nexus_processed import all_logs

    for key, log in all_logs(metadata).items():
        value = log.value.tolist() if isinstance(log.value, np.ndarray) else log.value
        run.addProperty(key, value, log.unit, True)


def from_workspace(workspace) -> Histogram:
    """Return the histogram of a MatrixWorkspace (vertical axis, X) or MDHistoWorkspace."""
    if hasattr(workspace, "getSignalArray"):
        axes = [_md_axis(workspace.getDimension(i)) for i in range(workspace.getNumDims())]
        signal = np.array(workspace.getSignalArray())
        return Histogram(axes, signal, np.array(workspace.getErrorSquaredArray()),
                         ~np.isfinite(signal), _md_metadata(workspace), kind=MDHISTO)
    x_unit = workspace.getAxis(0).getUnit().unitID()
    vertical = workspace.getAxis(1)
    values = np.array(vertical.extractValues(), float)
    signal = workspace.extractY()
    axes = (Axis(values, vertical.getUnit().unitID(), is_edges=values.size == signal.shape[0] + 1),
            Axis(workspace.readX(0), x_unit))
    run = workspace.run()
    metadata = Metadata(ei=run.getProperty("Ei").value if run.hasProperty("Ei") else None,
                        title=workspace.getTitle())
    return Histogram(axes, signal, workspace.extractE() ** 2, ~np.isfinite(signal), metadata,
                     distribution=workspace.isDistribution())


def _md_axis(dimension) -> Axis:
    edges = np.linspace(dimension.getMinimum(), dimension.getMaximum(), dimension.getNBins() + 1)
    frame = dimension.getMDFrame().name()
    projection = parse_hkl_name(dimension.name) if frame == "HKL" else None
    return Axis(edges, dimension.getUnits(), dimension.name, frame=frame, projection=projection)


def _md_metadata(workspace) -> Metadata:
    """Return the oriented lattice of an MD workspace's first experiment info, if any."""
    if workspace.getNumExperimentInfo() == 0:
        return Metadata()
    sample = workspace.getExperimentInfo(0).sample()
    if not sample.hasOrientedLattice():
        return Metadata()
    cell = sample.getOrientedLattice()
    return Metadata(lattice=(cell.a(), cell.b(), cell.c(), cell.alpha(), cell.beta(),
                             cell.gamma()))
