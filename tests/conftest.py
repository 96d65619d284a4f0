from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared() -> Path:
    """Return the team's reference data (../shared/data beside the checkout); CI has it too."""
    assert SHARED.is_dir(), f"reference data missing: expected {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def ge_files(shared) -> dict:
    """Ge force constants (pathSQE, 4x4x4 supercell) as algorithm properties: file paths."""
    base = shared / "force_constants" / "pathSQE_Ge_ARCS"
    return {"ForceConstantsFile": str(base / "FORCE_CONSTANTS"),
            "StructureFile": str(base / "POSCAR")}
