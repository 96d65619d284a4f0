from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared() -> Path:
    """Return the team's reference data (../shared/data beside the checkout); CI has it too."""
    assert SHARED.is_dir(), f"reference data missing: expected {SHARED}"
    return SHARED
