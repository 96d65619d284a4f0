import os

import pytest
import yaml

from inslib.instruments import (
    InstrumentFileError,
    available_instruments,
    instruments_dir,
    load_instrument,
    read_instrument_file,
)

DIRECT = ["ARCS", "SEQUOIA", "CNCS", "HYSPEC", "MAPS", "MARI", "MERLIN", "LET"]
INDIRECT = ["TOSCA", "VISION"]


def _resins_version(name):
    import resins

    path = os.path.join(os.path.dirname(resins.__file__), "instrument_data", f"{name.lower()}.yaml")
    with open(path) as fh:
        data = yaml.safe_load(fh)
    return data["version"][data["default_version"]]


def test_required_instruments_are_present():
    assert set(DIRECT + INDIRECT) <= set(available_instruments())


@pytest.mark.parametrize("name", sorted(p.stem for p in instruments_dir().glob("*.yaml")))
def test_every_file_passes_the_schema(name):
    instrument = read_instrument_file(instruments_dir() / f"{name}.yaml")
    assert instrument.banks_deg.shape[1] == 2
    assert (instrument.banks_deg[:, 1] >= instrument.banks_deg[:, 0]).all()


@pytest.mark.parametrize("name", [n for n in DIRECT if n not in ("MARI", "MERLIN")])
def test_direct_limits_and_settings_agree_with_resins(name):
    instrument = load_instrument(name)
    constants = _resins_version(name)["constants"]
    assert list(instrument.incident_energy_range) == pytest.approx(
        constants["restrictions"]["e_init"])
    for setting_name, setting in instrument.settings.items():
        if setting_name == "chopper_package":
            packages = _resins_version(name)["configurations"]["chopper_package"]
            assert set(setting["allowed"]) == set(packages) - {"default_option"}
        else:
            start, stop, step = constants["restrictions"][setting_name]
            assert setting["allowed"] == list(range(start, stop, step))


def test_tosca_banks_and_final_energy_come_from_resins():
    tosca = load_instrument("TOSCA")
    banks = _resins_version("TOSCA")["configurations"]["detector_bank"]
    assert sorted(tosca.banks_deg[:, 0]) == pytest.approx(
        sorted([banks["Forward"]["angles"][0], banks["Backward"]["angles"][0]]))
    assert tosca.final_energy == pytest.approx(3.32)


def test_maps_keeps_the_gaps_between_banks():
    banks = load_instrument("MAPS").banks_deg
    assert len(banks) == 5
    assert (banks[1:, 0] > banks[:-1, 1]).all()


def test_unknown_instrument_lists_the_known_ones():
    with pytest.raises(InstrumentFileError, match=r"Unknown instrument 'FOO'.*ARCS"):
        load_instrument("FOO")


def test_missing_required_key_is_named(tmp_path):
    data = yaml.safe_load((instruments_dir() / "ARCS.yaml").read_text())
    del data["incident_energy_meV"]
    path = tmp_path / "BROKEN.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InstrumentFileError, match="incident_energy_meV"):
        read_instrument_file(path)


def test_unreadable_yaml_is_reported(tmp_path):
    path = tmp_path / "BAD.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(InstrumentFileError, match="Cannot read"):
        read_instrument_file(path)
