from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "shared"  # copies of tests/data/shared: a clone is enough


@pytest.fixture(scope="session")
def shared() -> Path:
    """Return the reference data shipped in tests/data/shared (provenance in its README.md)."""
    assert SHARED.is_dir(), f"reference data missing: expected {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def ge_files(shared) -> dict:
    """Ge force constants (pathSQE, 4x4x4 supercell) as algorithm properties: file paths."""
    base = shared / "force_constants" / "pathSQE_Ge_ARCS"
    return {"ForceConstantsFile": str(base / "FORCE_CONSTANTS"),
            "StructureFile": str(base / "POSCAR")}


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` where torch sees no CUDA GPU (torch imported only then)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)
