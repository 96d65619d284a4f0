"""SimulateSingleCrystalSQE: single-crystal S(Q,E) on MDNorm-style projections or a q-path.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run SimulateSingleCrystalSQE ...``).
"""

from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    FloatBoundedValidator,
    IMDHistoWorkspaceProperty,
    IntBoundedValidator,
    Progress,
    PropertyMode,
    PythonAlgorithm,
    StringListValidator,
    from_workspace,
    to_workspace,
)
from inslib.runtime.progress import fraction_reporter
from inslib.runtime.properties import (
    ValidatedRequest,
    chopper_settings,
    declare_chopper_properties,
    declare_device_property,
    declare_ei_property,
    declare_force_constants_properties,
    declare_goniometer_properties,
    declare_instrument_property,
    declare_mesh_property,
    declare_q_resolution_property,
    declare_supercell_property,
    declare_temperature_property,
    goniometer_settings,
    temperature_value,
)
from inslib.simulation.requests import SingleCrystalRequest, validate_single_crystal
from inslib.simulation.single_crystal import run_single_crystal

DEFAULT_BINNING = ("-2,0.05,2", "-0.05,0.05", "-0.05,0.05", "0,0.5,40")


class SimulateSingleCrystalSQE(PythonAlgorithm):
    """Coherent one-phonon S(Q,E) of a single crystal: cuts, slices, 3D/4D grids, q-paths."""

    def category(self):
        return "Inelastic\\Simulation;MDAlgorithms\\Normalisation"

    def name(self):
        return "SimulateSingleCrystalSQE"

    def summary(self):
        return ("Simulates the coherent one-phonon S(Q,E) of a single crystal (Debye-Waller, "
                "Bose factor, energy resolution) from force constants, binned like MDNorm "
                "(projections u, v, w; binned or integrated dimensions) or along a q-path.")

    def seeAlso(self):
        return ["MDNorm", "SimulatePowderSQE", "FoldBrillouinZone"]

    def PyInit(self):
        declare_force_constants_properties(
            self, "phonopy .yaml (with FORCE_SETS/FORCE_CONSTANTS/BORN), FORCE_CONSTANTS "
                  "(+ StructureFile), CASTEP .castep_bin or euphonic .json.",
            "Crystal structure for a bare FORCE_CONSTANTS.")
        declare_supercell_property(self)
        self.declareProperty(IMDHistoWorkspaceProperty(
            "InputWorkspace", "", Direction.Input, PropertyMode.Optional),
            doc="MDNorm output (4D: three HKL dimensions + DeltaE): its dimensions, bins and "
                "mask are used instead of the projection properties.")
        declare_temperature_property(self, needed=True)
        for index, vector in enumerate(("1,0,0", "0,1,0", "0,0,1")):
            self.declareProperty(f"QDimension{index}", vector,
                                 doc=f"HKL vector of Q dimension {index} (r.l.u.).")
        for index, binning in enumerate(DEFAULT_BINNING):
            forms = "'min,step,max', meV" if index == 3 else \
                "'min,step,max' or 'min,max' (integrated), r.l.u."
            self.declareProperty(f"Dimension{index}Binning", binning, doc=f"{forms}.")
        self.declareProperty("HKLCell", "Conventional",
                             StringListValidator(["Conventional", "Primitive"]),
                             doc="Cell whose r.l.u. the Q dimensions use.")
        self.declareProperty("QPath", "", doc="Instead of a grid: 'auto' (seekpath) or labels "
                                              "such as 'G-X-U|K-G-L'.")
        self.declareProperty("PathStep", 0.02, FloatBoundedValidator(lower=1e-4),
                             doc="Bin width along the q-path (1/Angstrom).")
        declare_instrument_property(self, "Instrument for the energy resolution; empty = "
                                          "EnergyResolution.")
        declare_ei_property(self, "Incident energy (meV) for a direct-geometry Instrument.")
        declare_chopper_properties(self)
        self.declareProperty("EnergyResolution", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Constant energy FWHM (meV) when no Instrument is given.")
        declare_goniometer_properties(self)
        declare_q_resolution_property(
            self, "Isotropic Gaussian Q resolution FWHM (1/Angstrom) on grids; 0 = none. Raise "
                  "SamplesPerBin with it: it is sampled (SamplesPerBin^3 points per bin).")
        self.declareProperty("QEResolution", "Energy",
                             StringListValidator(["Energy", "Covariance"]),
                             doc="Energy: the instrument's energy FWHM at each sample point "
                                 "(plus QResolution). Covariance: the direct-geometry (Q, E) "
                                 "resolution covariance (moderator, chopper, aperture, sample, "
                                 "detector), by Monte Carlo; Instrument and Ei of a Fermi-chopper "
                                 "instrument needed, about 6x the mode calculations. With Psi, "
                                 "each point takes the beam orientation the scan measures.")
        self.declareProperty("SamplesPerBin", 1, IntBoundedValidator(lower=1, upper=1024),
                             doc="Random points per bin and binned Q dimension (bin average): "
                                 "SamplesPerBin^k per bin, k the binned Q dimensions (at least "
                                 "1); integrated dimensions share those points (a lattice). "
                                 "Along a q-path: points per path bin.")
        self.declareProperty("Seed", 0, IntBoundedValidator(lower=0), doc="Sampling seed.")
        declare_mesh_property(self, "n of the n x n x n mesh for the Debye-Waller factor.")
        declare_device_property(self)
        self.declareProperty(IMDHistoWorkspaceProperty(
            "OutputWorkspace", "", Direction.Output),
            doc="MD histogram (mbarn/meV per atom); Workspace2D-like for a q-path.")
        self._groups_of_properties()
        self._requests = ValidatedRequest(self._request, validate_single_crystal)

    def _groups_of_properties(self):
        groups = {"Binning": [f"QDimension{i}" for i in range(3)]
                  + [f"Dimension{i}Binning" for i in range(4)] + ["HKLCell"],
                  "Q-path": ["QPath", "PathStep"],
                  "Resolution": ["Instrument", "Ei", "ChopperPackage", "ChopperFrequency",
                                 "EnergyResolution", "QResolution", "QEResolution"],
                  "Sampling": ["SamplesPerBin", "Seed", "MeshSize", "Device"]}
        for group, names in groups.items():
            for name in names:
                self.setPropertyGroup(name, group)

    def _request(self):
        workspace = self.getProperty("InputWorkspace").value
        return SingleCrystalRequest(
            force_constants=self.getProperty("ForceConstantsFile").value,
            structure=self.getProperty("StructureFile").value,
            supercell=self.getProperty("SupercellMatrix").value,
            projections=tuple(self.getProperty(f"QDimension{i}").value for i in range(3)),
            q_binning=[self.getProperty(f"Dimension{i}Binning").value for i in range(3)],
            e_binning=self.getProperty("Dimension3Binning").value,
            temperature=temperature_value(self),
            instrument=self.getProperty("Instrument").value,
            ei=self.getProperty("Ei").value or None,
            settings=chopper_settings(self),
            fwhm=self.getProperty("EnergyResolution").value,
            q_resolution=float(self.getProperty("QResolution").value),
            qe_resolution=self.getProperty("QEResolution").value,
            hkl=self.getProperty("HKLCell").value,
            samples=int(self.getProperty("SamplesPerBin").value),
            seed=int(self.getProperty("Seed").value),
            grid=int(self.getProperty("MeshSize").value),
            path=self.getProperty("QPath").value,
            path_step=float(self.getProperty("PathStep").value),
            template=from_workspace(workspace) if workspace is not None else None,
            device=self.getProperty("Device").value,
            **goniometer_settings(self))

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=20)
        result = run_single_crystal(self._requests.take(), progress=fraction_reporter(progress, 20))
        self.setProperty("OutputWorkspace", to_workspace(result))


AlgorithmFactory.subscribe(SimulateSingleCrystalSQE)
