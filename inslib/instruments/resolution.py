"""Energy resolution (FWHM) of an instrument setting.

Chopper spectrometers and TOSCA/Lagrange use the models of the ``resins`` package (PyChop
fits, AbINS polynomials). Where resins 0.1.0 fails (VISION), the instrument file names an
in-house model implemented here.

Where the user leaves a chopper setting empty and the instrument's default transmits nothing at
the incident energy, :func:`transmitting_settings` picks the nearest setting that does (the
order of preference is in its docstring).
"""

import functools
import itertools
import warnings

import numpy as np

from inslib.instruments import Instrument
from inslib.instruments.calibration import table_factor

#: FWHM / sigma of a Gaussian.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


class Settings(dict):
    """Setting name (as the resolution model names it) -> value; :func:`resolved_settings`.

    Parameters
    ----------
    values : dict or iterable of (str, object)
        The settings.
    unset : iterable of str
        Settings whose algorithm property the user left empty (they hold the instrument
        default): :func:`transmitting_settings` may replace them by other allowed values.
    """

    def __init__(self, values=(), unset=()):
        super().__init__(values)
        self.unset = frozenset(unset)


def resolved_settings(instrument: Instrument, values: dict | None = None) -> Settings:
    """Complete and check the instrument settings given by algorithm property.

    Parameters
    ----------
    instrument : Instrument
        The instrument.
    values : dict, optional
        Algorithm property name -> value (e.g. {"ChopperFrequency": 420}); a None or empty
        value takes the instrument default.

    Returns
    -------
    Settings
        Setting name (as the resolution model names it) -> value, with the settings the user
        left empty in ``unset``.

    Raises
    ------
    ValueError
        Naming every property whose value the instrument does not offer.
    """
    settings, errors = _settings(instrument, values or {})
    if errors:
        raise ValueError("; ".join(errors.values()))
    return settings


def settings_errors(instrument: Instrument, values: dict | None = None) -> dict:
    """{algorithm property: message} for the settings the instrument does not offer."""
    return _settings(instrument, values or {})[1]


def _settings(instrument: Instrument, values: dict) -> tuple[Settings, dict]:
    settings, errors, left_empty = {}, {}, []
    for name, setting in instrument.settings.items():
        prop = setting["property"] or name
        value = values.get(setting["property"]) if setting["property"] else None
        if value in (None, "", 0):
            value = setting["default"]
            left_empty += [name] if setting["property"] else []
        if isinstance(setting["default"], int | float):
            value = int(value) if float(value).is_integer() else float(value)
        if value not in setting["allowed"]:
            unset = "0" if isinstance(setting["default"], int | float) else "empty"
            errors[prop] = (f"{prop}={value!r} is not available on {instrument.name}: allowed "
                            f"values are {setting['allowed']} ({unset} = the default "
                            f"{setting['default']!r}).")
        settings[name] = value
    offered = {setting["property"] for setting in instrument.settings.values()}
    for prop, value in values.items():
        if prop not in offered and value not in (None, "", 0):
            errors[prop] = (f"{prop}={value!r}: {instrument.name} has no such setting; leave "
                            f"{prop} empty (or 0).")
    return Settings(settings, left_empty), errors


def transmitting_settings(instrument: Instrument, ei, settings: dict) -> Settings:
    """Return settings whose chopper transmits at ``ei``: ``settings`` or, failing, the nearest.

    Only the settings the user left empty (``settings.unset``) change. The candidates are
    tried in this order of preference, the first that transmits is taken:

    * the settings as given (the instrument defaults where unset);
    * settings in the instrument file's order (chopper package before frequency), the
      earlier varying slowest: so the default package at every frequency comes before any
      other package;
    * for each setting, the default value first, then the other allowed values: numbers
      nearest the default first (the higher of two equally near), names in the file's order.

    Parameters
    ----------
    instrument : Instrument
        The instrument.
    ei : float or None
        Incident energy in meV (direct geometry; None for indirect).
    settings : dict
        Output of :func:`resolved_settings` (a plain dict counts as set by the user).

    Returns
    -------
    Settings
        The settings taken (equal to ``settings`` when they transmit).

    Raises
    ------
    ValueError
        When a setting the user gave transmits nothing (name the properties and the fix), or
        no allowed setting does (name Ei and the settings tried).
    """
    if instrument.resolution["provider"] != "resins":
        return settings
    return _transmitting(instrument, ei, settings)[0]


def _transmitting(instrument: Instrument, ei, settings: dict) -> tuple[Settings, object]:
    """Return (settings, resins resolution function) of the first transmitting candidate."""
    unset = getattr(settings, "unset", frozenset())
    candidates = itertools.product(*(
        _preference(setting) if name in unset else [settings[name]]
        for name, setting in instrument.settings.items()))
    for values in candidates:
        candidate = Settings(zip(instrument.settings, values, strict=True), unset)
        function = _resins_function(instrument, ei, candidate)
        if function is not None:
            return candidate, function
    given = _properties(instrument, settings)
    if not unset:
        msg = (f"The {instrument.name} chopper transmits no neutrons at Ei={ei:g} meV with "
               f"{given}: choose another ChopperFrequency or ChopperPackage (or leave them "
               "empty to take one that transmits).")
        raise ValueError(msg)
    tried = ", ".join(f"{setting['property']} in {_preference(setting)}"
                      for name, setting in instrument.settings.items() if name in unset)
    fixed = [setting["property"] for name, setting in instrument.settings.items()
             if setting["property"] and name not in unset]
    msg = (f"Ei={ei:g} meV: no {instrument.name} chopper setting transmits neutrons (tried "
           f"{tried}, from {given}): choose another {' or '.join(['Ei', *fixed])}.")
    raise ValueError(msg)


def transmission_note(instrument: Instrument, ei, given: dict, taken: dict) -> str:
    """Describe why ``taken`` replaces ``given`` (for logs and provenance)."""
    return (f"{instrument.name}: {_properties(instrument, given)} (the defaults where not "
            f"given) transmits no neutrons at Ei={ei:g} meV; took "
            f"{_properties(instrument, taken)}, the nearest setting that does (set "
            "ChopperPackage and ChopperFrequency to choose another).")


def _properties(instrument: Instrument, settings: dict) -> str:
    """Return 'Property=value, ...' (fixed settings under the resolution model's name)."""
    return ", ".join(f"{setting['property'] or name}={settings[name]!r}"
                     for name, setting in instrument.settings.items())


def _preference(setting: dict) -> list:
    """Return one setting's allowed values, most preferred first (transmitting_settings)."""
    default, allowed = setting["default"], setting["allowed"]
    if isinstance(default, int | float):
        return sorted(allowed, key=lambda value: (abs(value - default), -value))
    return [default, *(value for value in allowed if value != default)]


def resolution_fwhm(instrument: Instrument, energy, ei=None, settings=None) -> np.ndarray:
    """Return the energy resolution FWHM at each energy transfer.

    Parameters
    ----------
    instrument : Instrument
        The instrument.
    energy : array_like, shape (n,)
        Energy transfers in meV.
    ei : float, optional
        Incident energy in meV (direct geometry).
    settings : dict, optional
        Output of :func:`resolved_settings`; the defaults when omitted.

    Returns
    -------
    numpy.ndarray, shape (n,)
        FWHM in meV (the model's times :func:`width_factor` of the setting taken); NaN where
        the energy transfer is not reachable (E >= Ei).
    """
    fwhm, taken = _model_fwhm(instrument, energy, ei, settings)
    return width_factor(instrument, ei, taken) * fwhm


def bare_fwhm(instrument: Instrument, energy, ei=None, settings=None) -> np.ndarray:
    """Return the resolution model's FWHM (meV, shape (n,)) before the width factor.

    Parameters as :func:`resolution_fwhm`.
    """
    return _model_fwhm(instrument, energy, ei, settings)[0]


def _model_fwhm(instrument: Instrument, energy, ei, settings) -> tuple[np.ndarray, dict]:
    """Return (model FWHM in meV, shape (n,); the settings taken) before the width factor."""
    energy = np.asarray(energy, dtype=float)
    settings = resolved_settings(instrument) if settings is None else settings
    if instrument.resolution["provider"] == "inslib":
        return _inslib_model(instrument, energy), settings
    return _resins_fwhm(instrument, energy, ei, settings)


def width_factor(instrument: Instrument, ei=None, settings=None) -> float:
    """Return the instrument's calibrated factor on the model FWHM (1 where the file has none).

    The instrument file's ``resolution.width_factor``: where it has a ``table`` with rows for
    the setting's chopper package, the factor interpolated from it at (frequency, Ei)
    (:func:`inslib.instruments.calibration.table_factor`); otherwise its ``value``. Its
    ``source`` says how it was fitted to measured widths.

    Parameters
    ----------
    instrument : Instrument
        The instrument.
    ei : float, optional
        Incident energy in meV (needed for the table).
    settings : dict, optional
        The chopper setting taken (needed for the table).

    Returns
    -------
    float
        The factor.
    """
    calibration = instrument.resolution.get("width_factor", {"value": 1.0})
    table = calibration.get("table")
    if table and ei is not None and settings and "chopper_package" in settings:
        factor = table_factor(table["rows"], settings["chopper_package"],
                              settings["chopper_frequency"], float(ei))
        if factor is not None:
            return factor
    return float(calibration["value"])


def _resins_fwhm(instrument: Instrument, energy: np.ndarray, ei,
                 settings: dict) -> tuple[np.ndarray, dict]:
    """Return (resins model FWHM in meV, NaN where E >= Ei; the settings taken)."""
    reachable = energy < ei if instrument.geometry == "direct" else np.ones(energy.shape, bool)
    fwhm = np.full(energy.shape, np.nan)
    if not reachable.any():
        return fwhm, settings
    taken, function = _transmitting(instrument, ei, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sigma = function.get_characteristics(energy[reachable][:, None])["sigma"]
    fwhm[reachable] = FWHM_PER_SIGMA * np.asarray(sigma, dtype=float).ravel()
    return fwhm, taken


def fwhm_function(instrument: Instrument, fixed, settings=None):
    """``resolution_fwhm`` of one setting as a function of energy (meV array -> FWHM, meV).

    ``fixed``: Ei (direct) or Ef (indirect), meV; ``settings`` as :func:`resolution_fwhm`.
    """
    return functools.partial(resolution_fwhm, instrument, ei=fixed, settings=settings)


def _inslib_model(instrument: Instrument, energy: np.ndarray) -> np.ndarray:
    model = instrument.resolution
    if model["model"] == "relative":
        return model["fraction"] * np.abs(energy + instrument.final_energy)
    msg = f"{instrument.source}: unknown in-house resolution model {model['model']!r}."
    raise ValueError(msg)


@functools.lru_cache(maxsize=16)
def _resins_instrument(name: str):
    """Return the resins instrument description (its YAML parsed once per process)."""
    from resins import Instrument as ResinsInstrument

    return ResinsInstrument.from_default(name)


def _resins_function(instrument: Instrument, ei, settings: dict):
    """Return the resins resolution function of one setting (None: nothing transmitted)."""
    from resins.models.model_base import InvalidInputError
    from resins.models.pychop import NoTransmissionError

    model = instrument.resolution
    kwargs = dict(settings)
    if instrument.geometry == "direct":
        kwargs["e_init"] = float(ei)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resins_instrument = _resins_instrument(model["resins_instrument"])
        try:
            return resins_instrument.get_resolution_function(model["model"], **kwargs)
        except NoTransmissionError:
            return None
        except InvalidInputError as err:
            msg = (f"The {instrument.name} resolution model rejects Ei={ei} meV, "
                   f"{_properties(instrument, settings)}: {err}")
            raise ValueError(msg) from None
