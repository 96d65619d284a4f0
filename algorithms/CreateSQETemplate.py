"""CreateSQETemplate: the empty S(|Q|,E) grid of an instrument setting, for planning and models.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run CreateSQETemplate ...``).
"""

from inslib.instruments import available_instruments
from inslib.mantid_compat import (
    AlgorithmFactory,
    Direction,
    FloatBoundedValidator,
    MatrixWorkspaceProperty,
    Progress,
    PropertyMode,
    PythonAlgorithm,
    StringListValidator,
    WorkspaceUnitValidator,
    from_workspace,
    to_workspace,
)
from inslib.templates import TemplateRequest, create_sqe_template, validate_request
from inslib.units import energy_units


class CreateSQETemplate(PythonAlgorithm):
    """Empty S(|Q|,E) histogram with kinematic mask, resolution and metadata."""

    def category(self):
        return "Inelastic\\Simulation;Inelastic\\Planning"

    def name(self):
        return "CreateSQETemplate"

    def summary(self):
        return ("Creates an empty S(|Q|,E) workspace for an instrument setting (or on the bins "
                "of a measured workspace) with the kinematically uncovered bins masked and the "
                "energy resolution FWHM per energy bin.")

    def seeAlso(self):
        return ["SofQW", "SimulatePowderSQE"]

    def PyInit(self):
        self.declareProperty(MatrixWorkspaceProperty(
            "InputWorkspace", "", Direction.Input, PropertyMode.Optional,
            validator=WorkspaceUnitValidator("DeltaE"),
            doc="Measured powder S(|Q|,E) (SofQW output): its bins, mask and logs are used."))
        self.declareProperty("Instrument", "", StringListValidator(["", *available_instruments()]),
                             doc="Instrument; empty = the InputWorkspace's.")
        self.declareProperty("Ei", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Incident energy (meV), direct geometry; 0 = the "
                                 "InputWorkspace's Ei log.")
        self.declareProperty("EFixed", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Final energy (meV), indirect geometry; 0 = the instrument's.")
        self.declareProperty("ChopperPackage", "",
                             doc="Chopper package (monochromator on Lagrange); empty = default.")
        self.declareProperty("ChopperFrequency", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Resolution chopper frequency (Hz); 0 = the default.")
        self.declareProperty("QBinning", "", doc="|Q| bins 'start,step,end' in 1/Angstrom; "
                                                 "empty = 0 to the largest reachable |Q|.")
        self.declareProperty("EBinning", "", doc="Energy-transfer bins 'start,step,end' in "
                                                 "EnergyUnit; empty = -0.25 Ei to 0.95 Ei.")
        self.declareProperty("EnergyUnit", "meV", StringListValidator(energy_units()),
                             doc="Unit of EBinning; the output is always in meV.")
        self.declareProperty("Temperature", -1.0, doc="Sample temperature (K); -1 = unknown "
                                                      "(or the InputWorkspace's).")
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputWorkspace", "", Direction.Output, doc="The template."))
        for name in ("Ei", "EFixed", "ChopperPackage", "ChopperFrequency"):
            self.setPropertyGroup(name, "Instrument setting")
        for name in ("QBinning", "EBinning", "EnergyUnit"):
            self.setPropertyGroup(name, "Binning")

    def _request(self):
        workspace = self.getProperty("InputWorkspace").value
        temperature = self.getProperty("Temperature").value
        return TemplateRequest(
            instrument=self.getProperty("Instrument").value,
            ei=self.getProperty("Ei").value or None,
            efixed=self.getProperty("EFixed").value or None,
            q_binning=self.getProperty("QBinning").value,
            e_binning=self.getProperty("EBinning").value,
            energy_unit=self.getProperty("EnergyUnit").value,
            settings={"ChopperPackage": self.getProperty("ChopperPackage").value,
                      "ChopperFrequency": self.getProperty("ChopperFrequency").value},
            temperature=temperature if temperature >= 0 else None,
            template=from_workspace(workspace) if workspace is not None else None,
        )

    def validateInputs(self):
        temperature = self.getProperty("Temperature").value
        if temperature < 0 and temperature != -1.0:
            return {"Temperature": "must be >= 0 K, or -1 for unknown."}
        return validate_request(self._request())

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=2)
        template = create_sqe_template(self._request(), progress=progress.report)
        self.setProperty("OutputWorkspace", to_workspace(template))


AlgorithmFactory.subscribe(CreateSQETemplate)
