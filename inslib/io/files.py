"""One entry point to load and save workspaces whatever their file layout."""

from pathlib import Path

from inslib.histogram import MDHISTO, Histogram
from inslib.io.histogram_h5 import read_histogram_h5
from inslib.io.horace import is_horace_file, load_horace
from inslib.io.nexus_md import ENTRY as MD_ENTRY
from inslib.io.nexus_md import read_md, write_md
from inslib.io.nexus_processed import (
    NexusFormatError,
    Table,
    open_nexus,
    read_processed,
    write_workspace2d,
)
from inslib.io.nexus_table import write_table


def load_workspace(path) -> Histogram:
    """Load a histogram from a Mantid .nxs, a multiphonon .h5 or a Horace .sqw/dnd file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file: Workspace2D or MDHisto NeXus, .h5, or Horace sqw/dnd (format 2-4.x, its
        image as an MD histogram with npix = 0 bins masked, :func:`inslib.io.horace.load_horace`).

    Returns
    -------
    Histogram
        The first histogram workspace in the file.
    """
    if Path(path).is_file() and is_horace_file(path):
        return load_horace(path)
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


def load_table(path) -> Table:
    """Load the first TableWorkspace of a Mantid processed .nxs file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    Table
        Its name and columns {name: values, shape (n_rows,)}.
    """
    tables = [item for item in read_processed(path) if isinstance(item, Table)]
    if not tables:
        msg = f"{path} holds no TableWorkspace."
        raise NexusFormatError(msg)
    return tables[0]


def save_workspace(workspace, path) -> Path:
    """Save a workspace as a Mantid-loadable .nxs (SaveNexusProcessed or SaveMD layout).

    Parameters
    ----------
    workspace : Histogram or table workspace
        A histogram (Workspace2D or MDHisto) or a table (host TableWorkspace or anything
        with ``getColumnNames``, ``columnTypes`` and ``column``).
    path : str or pathlib.Path
        Output file; written atomically.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if not isinstance(workspace, Histogram):
        return write_table(workspace, path)
    if workspace.kind == MDHISTO:
        return write_md(workspace, path)
    return write_workspace2d(workspace, path)
