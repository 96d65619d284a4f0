"""CreateSQETemplate: the empty S(|Q|,E) grid of an instrument setting, for planning and models.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run CreateSQETemplate ...``).
"""

from inslib.instruments.templates import create_sqe_template
from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    MatrixWorkspaceProperty,
    Progress,
    PythonAlgorithm,
    to_workspace,
)
from inslib.runtime.properties import (
    ValidatedRequest,
    declare_template_properties,
    template_request,
)
from inslib.simulation.requests import validate_template


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
        declare_template_properties(self, simulation=False)
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputWorkspace", "", Direction.Output), doc="The template.")
        self._requests = ValidatedRequest(lambda: template_request(self), validate_template)

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=2)
        template = create_sqe_template(self._requests.take(), progress=progress.report)
        self.setProperty("OutputWorkspace", to_workspace(template))


AlgorithmFactory.subscribe(CreateSQETemplate)
