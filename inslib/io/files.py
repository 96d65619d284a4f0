"""One entry point to load and save workspaces whatever their file layout."""

from pathlib import Path

from inslib.histogram import MDHISTO, Histogram
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.io.nexus_md import ENTRY as MD_ENTRY
from inslib.io.nexus_md import read_md, write_md
from inslib.io.nexus_processed import (
    NexusFormatError,
    open_nexus,
    read_processed,
    write_workspace2d,
)


def load_workspace(path) -> Histogram:
    """Load a histogram from a Mantid .nxs (Workspace2D or MDHisto) or a multiphonon .h5 file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    Histogram
        The first histogram workspace in the file.
    """
    with open_nexus(path) as f:
        layout = ("md" if MD_ENTRY in f else
                  "processed" if any(k.startswith("mantid_workspace_") for k in f) else "h5")
    if layout == "md":
        return read_md(path)
    if layout == "h5":
        return read_histogram_h5(path)
    histograms = [item for item in read_processed(path) if isinstance(item, Histogram)]
    if not histograms:
        msg = f"{path} holds only TableWorkspaces, no histogram workspace."
        raise NexusFormatError(msg)
    return histograms[0]


def save_workspace(hist: Histogram, path) -> Path:
    """Save a histogram as a Mantid-loadable .nxs (SaveNexusProcessed or SaveMD layout).

    Parameters
    ----------
    hist : Histogram
        The workspace.
    path : str or pathlib.Path
        Output file; written atomically.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if hist.kind == MDHISTO:
        return write_md(hist, path)
    return write_workspace2d(hist, path)
