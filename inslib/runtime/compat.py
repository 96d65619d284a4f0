"""The one place algorithm files get their Mantid API from.

Inside Mantid these are Mantid's own classes; without Mantid they come from the built-in
host (:mod:`inslib.runtime.host`), which implements the same subset. ``to_workspace`` and
``from_workspace`` translate between inslib histograms and the host's workspace type at the
edge of each algorithm.
"""

try:  # pragma: no cover - Mantid is not installable from PyPI; exercised inside Mantid only
    from mantid.api import (
        AlgorithmFactory,
        FileAction,
        FileProperty,
        IMDHistoWorkspaceProperty,
        ITableWorkspaceProperty,
        MatrixWorkspaceProperty,
        Progress,
        PropertyMode,
        PythonAlgorithm,
        WorkspaceFactory,
        WorkspaceProperty,
        WorkspaceUnitValidator,
    )
    from mantid.kernel import (
        Direction,
        FloatArrayLengthValidator,
        FloatArrayProperty,
        FloatBoundedValidator,
        IntBoundedValidator,
        StringListValidator,
    )

    from inslib.runtime.mantid_convert import from_workspace, to_workspace

    IN_MANTID = True
except ImportError:
    from inslib.runtime.host import (
        AlgorithmFactory,
        Direction,
        FileAction,
        FileProperty,
        FloatArrayProperty,
        IMDHistoWorkspaceProperty,
        MatrixWorkspaceProperty,
        Progress,
        PropertyMode,
        PythonAlgorithm,
        WorkspaceProperty,
    )
    from inslib.runtime.table import ITableWorkspaceProperty, WorkspaceFactory
    from inslib.runtime.validators import (
        FloatArrayLengthValidator,
        FloatBoundedValidator,
        IntBoundedValidator,
        StringListValidator,
        WorkspaceUnitValidator,
    )

    def to_workspace(hist):
        """Return the host's workspace for a histogram (the histogram itself here)."""
        return hist

    def from_workspace(workspace):
        """Return the histogram for a host workspace (the workspace itself here)."""
        return workspace

    IN_MANTID = False

__all__ = [
    "IN_MANTID",
    "AlgorithmFactory",
    "Direction",
    "FileAction",
    "FileProperty",
    "FloatArrayLengthValidator",
    "FloatArrayProperty",
    "FloatBoundedValidator",
    "IMDHistoWorkspaceProperty",
    "ITableWorkspaceProperty",
    "IntBoundedValidator",
    "MatrixWorkspaceProperty",
    "Progress",
    "PropertyMode",
    "PythonAlgorithm",
    "StringListValidator",
    "WorkspaceFactory",
    "WorkspaceProperty",
    "WorkspaceUnitValidator",
    "from_workspace",
    "to_workspace",
]
