"""Energy resolution (FWHM) of an instrument setting.

Chopper spectrometers and TOSCA/Lagrange use the models of the ``resins`` package (PyChop
fits, AbINS polynomials). Where resins 0.1.0 fails (VISION), the instrument file names an
in-house model implemented here.
"""

import functools
import warnings

import numpy as np

from inslib.instruments import Instrument

#: FWHM / sigma of a Gaussian.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def resolved_settings(instrument: Instrument, values: dict | None = None) -> dict:
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
    dict
        Setting name (as the resolution model names it) -> value.

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


def _settings(instrument: Instrument, values: dict) -> tuple[dict, dict]:
    settings, errors = {}, {}
    for name, setting in instrument.settings.items():
        prop = setting["property"] or name
        value = values.get(setting["property"]) if setting["property"] else None
        if value in (None, "", 0):
            value = setting["default"]
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
    return settings, errors


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
        FWHM in meV; NaN where the energy transfer is not reachable (E >= Ei).
    """
    energy = np.asarray(energy, dtype=float)
    settings = resolved_settings(instrument) if settings is None else settings
    model = instrument.resolution
    if model["provider"] == "inslib":
        return _inslib_model(instrument, energy)
    reachable = energy < ei if instrument.geometry == "direct" else np.ones(energy.shape, bool)
    fwhm = np.full(energy.shape, np.nan)
    if reachable.any():
        sigma = _resins_sigma(instrument, energy[reachable], ei, settings)
        fwhm[reachable] = FWHM_PER_SIGMA * sigma
    return fwhm


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


def _resins_sigma(instrument, energy, ei, settings) -> np.ndarray:
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
            function = resins_instrument.get_resolution_function(model["model"], **kwargs)
        except NoTransmissionError:
            msg = (
                f"The {instrument.name} chopper transmits no neutrons at Ei={ei:g} meV with "
                f"{settings}: choose another ChopperFrequency or ChopperPackage."
            )
            raise ValueError(
                msg
            ) from None
        except InvalidInputError as err:
            msg = f"The {instrument.name} resolution model rejects Ei={ei} meV, {settings}: {err}"
            raise ValueError(
                msg
            ) from None
        sigma = function.get_characteristics(energy[:, None])["sigma"]
    return np.asarray(sigma, dtype=float).reshape(energy.shape)
