"""Instruments as data: one YAML file per instrument, validated against a JSON schema.

The files live in the project's ``instruments/`` folder (or a folder named by the
``INSLIB_INSTRUMENTS_DIR`` environment variable).
"""

import copy
import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import yaml

from inslib import PROJECT_ROOT


@dataclass(frozen=True)
class Instrument:
    """A validated instrument description.

    Parameters
    ----------
    name : str
        Instrument name, as Mantid spells it.
    geometry : str
        "direct" (fixed Ei) or "indirect" (fixed Ef).
    banks_deg : numpy.ndarray, shape (n_banks, 2)
        Scattering-angle range [low, high] of each detector bank, in degrees.
    incident_energy_range : tuple of float or None
        Allowed incident energies (meV), direct geometry.
    final_energy : float or None
        Fixed final energy (meV), indirect geometry.
    settings : dict
        Instrument settings the resolution model takes: name -> {property, default, allowed}.
    resolution : dict
        Resolution model description ("provider", "model", ...).
    source : str
        File the description was read from.
    """

    name: str
    geometry: str
    banks_deg: np.ndarray
    incident_energy_range: tuple | None
    final_energy: float | None
    settings: dict
    resolution: dict
    source: str


class InstrumentFileError(ValueError):
    """An instrument file is missing, unreadable or fails the schema."""


def instruments_dir() -> Path:
    """Return the folder holding the instrument YAML files."""
    return Path(os.environ.get("INSLIB_INSTRUMENTS_DIR", PROJECT_ROOT / "instruments"))


@cache
def _schema() -> dict:
    return json.loads(resources.files("inslib.instruments").joinpath("schema.json").read_text())


def available_instruments() -> list[str]:
    """Return the names of the instruments with a YAML file, sorted."""
    return sorted(p.stem for p in instruments_dir().glob("*.yaml"))


def read_instrument_file(path) -> Instrument:
    """Read and validate one instrument YAML file.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML file.

    Returns
    -------
    Instrument
        The validated description.
    """
    path = Path(path)
    if not path.is_file():
        return _read_instrument_file(path)  # reports the missing file
    stamp = (path.stat().st_mtime_ns, path.stat().st_size)
    name = str(path.resolve())
    if name not in _READ or _READ[name][0] != stamp:  # live loops read it again and again
        _READ[name] = (stamp, _read_instrument_file(path))
    return copy.deepcopy(_READ[name][1])


_READ: dict = {}  # resolved path -> ((mtime, size), Instrument)


def _read_instrument_file(path: Path) -> Instrument:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        msg = f"Cannot read instrument file {path}: {err}"
        raise InstrumentFileError(msg) from err
    try:
        jsonschema.validate(data, _schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        msg = (
            f"Instrument file {path} is invalid at {where}: {err.message}. "
            f"The schema is inslib/instruments/schema.json."
        )
        raise InstrumentFileError(
            msg
        ) from None
    return Instrument(
        name=data["name"],
        geometry=data["geometry"],
        banks_deg=np.asarray(data["detector_banks_deg"], dtype=float),
        incident_energy_range=tuple(data["incident_energy_meV"])
        if "incident_energy_meV" in data else None,
        final_energy=data.get("final_energy_meV"),
        settings=data["settings"],
        resolution=data["resolution"],
        source=str(path),
    )


def load_instrument(name: str) -> Instrument:
    """Load an instrument by name (case-insensitive).

    Parameters
    ----------
    name : str
        Instrument name, e.g. "ARCS".

    Returns
    -------
    Instrument
        The validated description.
    """
    known = {n.upper(): n for n in available_instruments()}
    if str(name).upper() not in known:
        msg = (
            f"Unknown instrument {name!r}: known instruments are "
            f"{', '.join(sorted(known.values()))}"
            f" (files in {instruments_dir()})."
        )
        raise InstrumentFileError(
            msg
        )
    return read_instrument_file(instruments_dir() / f"{known[str(name).upper()]}.yaml")
