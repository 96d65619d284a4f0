"""Energy bins and resolution of each SimulateMDSQE output, from the harmonic route's templates.

``PowderSQE``: CreateSQETemplate's map and SimulatePowderSQE's resolution; ``IndirectSE``:
SimulatePowderSQE's indirect setting (TOSCA, VISION: bins, final energy, resolution);
``QPath``: the instrument's energy resolution at Ei as SimulateSingleCrystalSQE's q-path uses,
on EBinning (default -0.25 Ei to 0.95 Ei); without an Instrument, EnergyResolution's constant
FWHM on EBinning, as SimulateSingleCrystalSQE's q-path without an Instrument.
"""

from dataclasses import dataclass

import numpy as np

from inslib.histogram import Histogram
from inslib.instruments.resolution import fwhm_function, resolved_settings
from inslib.scattering.binning import Resolution

OUTPUTS = ("PowderSQE", "IndirectSE", "QPath")


@dataclass(frozen=True)
class EnergySetting:
    """What an output needs of the instrument.

    Attributes
    ----------
    instrument : Instrument or None
        None for a q-path with a constant resolution (no Instrument).
    fixed : float or None
        Ei (direct geometry) or Ef (indirect), meV; None without an Instrument.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV.
    resolution : Resolution
        Gaussian sigma (meV) as a function of energy transfer (meV).
    template : Histogram or None
        The powder map's template (PowderSQE only).
    """

    instrument: object
    fixed: float
    e_edges: np.ndarray
    resolution: Resolution
    template: Histogram | None = None

    def sigma(self, energy: np.ndarray) -> np.ndarray:
        """Resolution sigma (meV) at energies (meV), numpy, shape of ``energy``."""
        return np.interp(energy, self.resolution.energy, self.resolution.sigma)


def energy_setting(template_request, output: str, fwhm: float = 0.0) -> EnergySetting:
    """Build the setting of ``output`` (one of :data:`OUTPUTS`) from a valid TemplateRequest.

    ``fwhm`` (meV): EnergyResolution, the constant resolution of a QPath without an
    Instrument (validation allows it there only); the setting's instrument and fixed energy
    are then None.
    """
    from inslib.axes import parse_binning
    from inslib.instruments.templates import create_sqe_template
    from inslib.simulation.indirect import indirect_setting
    from inslib.simulation.powder import template_resolution
    from inslib.simulation.requests import energy_edges, fixed_energy, template_instrument
    from inslib.units import to_mev

    if output == "IndirectSE":
        return EnergySetting(*indirect_setting(template_request))
    if output == "PowderSQE":
        template = create_sqe_template(template_request)
        meta = template.metadata
        return EnergySetting(template_instrument(template_request), meta.ei or meta.efixed,
                             template.axes[1].edges,
                             template_resolution(template_request, template), template)
    if fwhm:
        e_edges = to_mev(parse_binning(template_request.e_binning, "EBinning",
                                       template_request.energy_unit), template_request.energy_unit)
        return EnergySetting(None, None, e_edges, Resolution.of(float(fwhm), e_edges))
    instrument = template_instrument(template_request)
    fixed = fixed_energy(template_request, instrument)
    e_edges = energy_edges(template_request, instrument)
    settings = resolved_settings(instrument, template_request.settings)
    return EnergySetting(instrument, fixed, e_edges,
                         Resolution.of(fwhm_function(instrument, fixed, settings), e_edges))
