"""Nothing a user opens may run code (issue 10, point 1)."""

import shutil
from pathlib import Path

import pytest

from inslib.phonons.force_constants import ForceConstantsError, load_force_constants

AL = Path(__file__).resolve().parents[2] / "data" / "Al_phonopy"


def test_phonopy_yaml_with_a_code_tag_is_refused_before_phonopy_reads_it(tmp_path):
    """A python/object/apply tag would run os.system under phonopy's full YAML loader."""
    marker = tmp_path / "pwned"
    folder = tmp_path / "evil"
    shutil.copytree(AL, folder)
    text = (folder / "phonopy.yaml").read_text()
    payload = f'exploit: !!python/object/apply:os.system ["touch {marker}"]\n'
    (folder / "phonopy.yaml").write_text(payload + text)
    with pytest.raises(ForceConstantsError, match=r"phonopy.yaml.*not plain YAML.*python"):
        load_force_constants(folder / "phonopy.yaml")
    assert not marker.exists()


def test_truncated_yaml_gets_a_clear_message(tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(AL, folder)
    text = (folder / "phonopy.yaml").read_text()
    (folder / "phonopy.yaml").write_text(text[: len(text) // 3] + "\n  - [ 0.1, \n")
    with pytest.raises(ForceConstantsError, match=r"phonopy.yaml.*not plain YAML.*malformed"):
        load_force_constants(folder / "phonopy.yaml")


def test_the_shipped_yaml_still_loads():
    assert load_force_constants(AL / "phonopy.yaml").fc.shape[-1] == 3
