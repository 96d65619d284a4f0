"""Properties shared by the algorithms that work on an instrument template.

CreateSQETemplate, SimulatePowderSQE (and later PredictSQE) all take an instrument setting or
a measured workspace as template; this module declares those properties once and reads them
back into a :class:`inslib.templates.TemplateRequest`. It uses only the Mantid API subset of
:mod:`inslib.mantid_compat`, so it runs inside Mantid unchanged.
"""

from inslib.instruments import available_instruments
from inslib.mantid_compat import (
    Direction,
    FloatBoundedValidator,
    MatrixWorkspaceProperty,
    PropertyMode,
    StringListValidator,
    WorkspaceUnitValidator,
    from_workspace,
)
from inslib.templates import TemplateRequest
from inslib.units import energy_units


def declare_template_properties(algorithm) -> None:
    """Declare InputWorkspace, Instrument, Ei, EFixed, chopper settings, binning, Temperature."""
    algorithm.declareProperty(MatrixWorkspaceProperty(
        "InputWorkspace", "", Direction.Input, PropertyMode.Optional,
        validator=WorkspaceUnitValidator("DeltaE"),
        doc="Measured powder S(|Q|,E) (SofQW output): its bins, mask and logs are used."))
    algorithm.declareProperty(
        "Instrument", "", StringListValidator(["", *available_instruments()]),
        doc="Instrument; empty = the InputWorkspace's.")
    algorithm.declareProperty("Ei", 0.0, FloatBoundedValidator(lower=0.0),
                              doc="Incident energy (meV), direct geometry; 0 = the "
                                  "InputWorkspace's Ei log.")
    algorithm.declareProperty("EFixed", 0.0, FloatBoundedValidator(lower=0.0),
                              doc="Final energy (meV), indirect geometry; 0 = the instrument's.")
    algorithm.declareProperty("ChopperPackage", "",
                              doc="Chopper package (monochromator on Lagrange); empty = default.")
    algorithm.declareProperty("ChopperFrequency", 0.0, FloatBoundedValidator(lower=0.0),
                              doc="Resolution chopper frequency (Hz); 0 = the default.")
    algorithm.declareProperty("QBinning", "", doc="|Q| bins 'start,step,end' in 1/Angstrom; "
                                                  "empty = 0 to the largest reachable |Q|.")
    algorithm.declareProperty("EBinning", "", doc="Energy-transfer bins 'start,step,end' in "
                                                  "EnergyUnit; empty = -0.25 Ei to 0.95 Ei.")
    algorithm.declareProperty("EnergyUnit", "meV", StringListValidator(energy_units()),
                              doc="Unit of EBinning; the output is always in meV.")
    algorithm.declareProperty("Temperature", -1.0, doc="Sample temperature (K); -1 = unknown "
                                                       "(or the InputWorkspace's).")
    for name in ("Ei", "EFixed", "ChopperPackage", "ChopperFrequency"):
        algorithm.setPropertyGroup(name, "Instrument setting")
    for name in ("QBinning", "EBinning", "EnergyUnit"):
        algorithm.setPropertyGroup(name, "Binning")


def template_request(algorithm) -> TemplateRequest:
    """Read the template properties back as a request."""
    workspace = algorithm.getProperty("InputWorkspace").value
    temperature = algorithm.getProperty("Temperature").value
    return TemplateRequest(
        instrument=algorithm.getProperty("Instrument").value,
        ei=algorithm.getProperty("Ei").value or None,
        efixed=algorithm.getProperty("EFixed").value or None,
        q_binning=algorithm.getProperty("QBinning").value,
        e_binning=algorithm.getProperty("EBinning").value,
        energy_unit=algorithm.getProperty("EnergyUnit").value,
        settings={"ChopperPackage": algorithm.getProperty("ChopperPackage").value,
                  "ChopperFrequency": algorithm.getProperty("ChopperFrequency").value},
        temperature=temperature if temperature >= 0 else None,
        template=from_workspace(workspace) if workspace is not None else None,
    )


def temperature_error(algorithm) -> dict:
    """{'Temperature': message} for a negative temperature other than the -1 'unknown' flag."""
    temperature = algorithm.getProperty("Temperature").value
    if temperature < 0 and temperature != -1.0:
        return {"Temperature": f"must be >= 0 K, or -1 for unknown; got {temperature}"}
    return {}
