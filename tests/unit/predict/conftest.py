"""Shared inputs of the prediction tests: fcc Al at the DFT reference's lattice constant."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
AL_FOLDER = ROOT / "tests" / "data" / "Al_phonopy"
AL_PRIMITIVE_BOHR = 3.821343698739  # tests/data/Al_phonopy: primitive vectors (0, a/2, a/2)


def al_lattice() -> float:
    """Conventional fcc lattice constant of the DFT reference, Angstrom (4.0443)."""
    from ase.units import Bohr

    return 2 * AL_PRIMITIVE_BOHR * Bohr


@pytest.fixture(scope="session")
def al_cif(tmp_path_factory) -> Path:
    """Conventional 4-atom fcc Al cell (CIF) at the DFT lattice constant."""
    import ase.io
    from ase.build import bulk

    path = tmp_path_factory.mktemp("structures") / "Al.cif"
    ase.io.write(path, bulk("Al", "fcc", a=al_lattice(), cubic=True))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """Point INSLIB_CACHE at an empty folder; return its force-field cache folder."""
    monkeypatch.setenv("INSLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "force_fields"
