"""SimulatePowderSQE: powder S(|Q|,E) maps and indirect-geometry S(E) from force constants.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run SimulatePowderSQE ...``).
"""

from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    IntBoundedValidator,
    MatrixWorkspaceProperty,
    Progress,
    PythonAlgorithm,
    StringListValidator,
)
from inslib.runtime.progress import fraction_reporter
from inslib.runtime.properties import (
    ValidatedRequest,
    declare_device_property,
    declare_force_constants_properties,
    declare_mesh_property,
    declare_q_resolution_property,
    declare_supercell_property,
    declare_template_properties,
    set_output,
    template_request,
)
from inslib.scattering.powder import PowderSampling
from inslib.simulation.powder import run_powder
from inslib.simulation.requests import PowderRequest, validate_powder


class SimulatePowderSQE(PythonAlgorithm):
    """Powder S(|Q|,E) (direct geometry) or S(E) per bank (TOSCA, VISION) from phonons."""

    def category(self):
        return "Inelastic\\Simulation"

    def name(self):
        return "SimulatePowderSQE"

    def summary(self):
        return ("Simulates the powder S(|Q|,E) (coherent one-phonon, incoherent and multiphonon "
                "terms, Debye-Waller, Bose factor, resolution, kinematic mask) from force "
                "constants, on an instrument setting or on the bins of a measured workspace; "
                "for TOSCA/VISION the S(E) of each analyser bank.")

    def seeAlso(self):
        return ["CreateSQETemplate", "SimulateSingleCrystalSQE", "SofQW"]

    def PyInit(self):
        declare_force_constants_properties(
            self, "phonopy_params.yaml / phonopy.yaml / phonopy_disp.yaml (FORCE_SETS, "
                  "FORCE_CONSTANTS, BORN beside it), FORCE_CONSTANTS (+ StructureFile), "
                  "CASTEP .castep_bin or euphonic .json.",
            "Crystal structure (CIF, POSCAR...): needed with a bare FORCE_CONSTANTS file, "
            "otherwise checked against the force constants.")
        declare_supercell_property(self)
        declare_template_properties(self, simulation=True)
        self.declareProperty("Coherent", True, doc="Coherent one-phonon term (powder average).")
        self.declareProperty("Incoherent", True, doc="Incoherent one-phonon and multiphonon "
                                                     "terms (incoherent approximation).")
        self.declareProperty("MultiphononOrder", 10, IntBoundedValidator(lower=1, upper=20),
                             doc="Highest n-phonon term of the incoherent approximation.")
        self.declareProperty("MultiphononMode", "Complete",
                             StringListValidator(["Complete", "CreationOnly"]),
                             doc="n >= 2 phonon terms: Complete (creation and annihilation of "
                                 "thermal phonons; OCLIMAX with its energy window from below 0) "
                                 "or CreationOnly (OCLIMAX with its window from 0 up).")
        declare_mesh_property(self, "n of the n x n x n mesh for DOS and Debye-Waller.")
        self.declareProperty("ShellsPerBin", 2, IntBoundedValidator(lower=1, upper=64),
                             doc="|Q| shells sampled in each |Q| bin (bin average).")
        self.declareProperty("DirectionsPerShell", 500, IntBoundedValidator(lower=2),
                             doc="Directions on each |Q| shell (even); the log PowderConvergence "
                                 "estimates the resulting sampling error.")
        self.declareProperty("Seed", 0, IntBoundedValidator(lower=0),
                             doc="Seed of the random shell orientations.")
        declare_q_resolution_property(self, "Gaussian |Q| resolution FWHM (1/Angstrom); 0 = none.")
        declare_device_property(self)
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputWorkspace", "", Direction.Output),
            doc="S(|Q|,E) in mbarn/meV per atom (S(E) per bank for TOSCA/VISION).")
        for name in ("Coherent", "Incoherent", "MultiphononOrder", "MultiphononMode"):
            self.setPropertyGroup(name, "Terms")
        for name in ("MeshSize", "ShellsPerBin", "DirectionsPerShell", "Seed", "QResolution",
                     "Device"):
            self.setPropertyGroup(name, "Sampling")
        self._requests = ValidatedRequest(self._request, validate_powder)

    def _request(self):
        return PowderRequest(
            force_constants=self.getProperty("ForceConstantsFile").value,
            structure=self.getProperty("StructureFile").value,
            supercell=self.getProperty("SupercellMatrix").value,
            template=template_request(self),
            coherent=bool(self.getProperty("Coherent").value),
            incoherent=bool(self.getProperty("Incoherent").value),
            multiphonon_order=int(self.getProperty("MultiphononOrder").value),
            creation_only=self.getProperty("MultiphononMode").value == "CreationOnly",
            grid=int(self.getProperty("MeshSize").value),
            sampling=PowderSampling(int(self.getProperty("ShellsPerBin").value),
                                    int(self.getProperty("DirectionsPerShell").value),
                                    int(self.getProperty("Seed").value)),
            q_resolution=float(self.getProperty("QResolution").value),
            device=self.getProperty("Device").value)

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=20)
        result = run_powder(self._requests.take(), progress=fraction_reporter(progress, 20))
        set_output(self, result)


AlgorithmFactory.subscribe(SimulatePowderSQE)
