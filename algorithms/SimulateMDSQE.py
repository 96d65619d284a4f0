"""SimulateMDSQE: S(Q,E) from molecular dynamics (dynasor), on the simulation templates.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run SimulateMDSQE ...``). Needs the ``md`` extra
(``pip install 'inslib[md]'``: dynasor, ASE).
"""

from inslib.md.quantum import CORRECTIONS
from inslib.md.request import MDRequest, validate_md
from inslib.md.run import ENSEMBLES, THERMOSTATS
from inslib.md.setting import OUTPUTS
from inslib.md.simulate import simulate_md
from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    FileAction,
    FileProperty,
    FloatBoundedValidator,
    MatrixWorkspaceProperty,
    Progress,
    PythonAlgorithm,
    StringListValidator,
)
from inslib.runtime.progress import fraction_reporter
from inslib.runtime.properties import (
    STRUCTURE_EXTENSIONS,
    ValidatedRequest,
    declare_template_properties,
    set_output,
    template_request,
)

TRAJECTORY_EXTENSIONS = [".traj", ".xyz", ".extxyz", ".lammpstrj", ".dump", "XDATCAR"]
MD_RUN = ("PotentialFile", "SupercellMatrix", "MDTimeStep", "MDSteps", "ThermalisationSteps",
          "ThermalisationEnsemble", "FrameInterval", "Thermostat", "OutputTrajectoryFile")


class SimulateMDSQE(PythonAlgorithm):
    """S(Q,E) from an MD trajectory (powder map, indirect S(E) or q-path): anharmonic."""

    def category(self):
        return "Inelastic\\Simulation"

    def name(self):
        return "SimulateMDSQE"

    def summary(self):
        return ("Simulates S(Q,E) from molecular dynamics: coherent and incoherent dynamic "
                "structure factors of a trajectory (dynasor) at q-points commensurate with the "
                "supercell, weighted by neutron scattering lengths, quantum-corrected, with the "
                "instrument's resolution: a powder map on a template (PowderSQE), the S(E) of "
                "each analyser bank of TOSCA/VISION (IndirectSE) or a single crystal along a "
                "q-path (QPath). The trajectory is read, or run here with ASE's EMT potential.")

    def seeAlso(self):
        return ["SimulatePowderSQE", "SimulateSingleCrystalSQE", "CreateSQETemplate",
                "CompareWithSimulation"]

    def PyInit(self):
        self.declareProperty(FileProperty("TrajectoryFile", "", FileAction.OptionalLoad,
                                          TRAJECTORY_EXTENSIONS),
                             doc="MD trajectory ASE reads (.traj, extended XYZ, LAMMPS dump, "
                                 "XDATCAR) at constant cell; empty = run the MD here.")
        self.declareProperty("TimeStep", 0.0, doc="Time between the trajectory's frames (fs).")
        self._declare_md_run()
        declare_template_properties(self, simulation=True)
        self.declareProperty("Output", "PowderSQE", StringListValidator(list(OUTPUTS)),
                             doc="PowderSQE: S(|Q|,E) map (direct geometry); IndirectSE: S(E) "
                                 "per analyser bank (TOSCA, VISION; QBinning = |Q| bins along "
                                 "the banks); QPath: single crystal along QPath.")
        self.declareProperty("QPath", "", doc="Output=QPath: 'auto' (seekpath) or labels / "
                                              "points [h,k,l] of StructureFile's cell, e.g. "
                                              "'G-X-W-L-G'.")
        self.declareProperty("PathStep", 0.02, doc="Bin width along the q-path (1/Angstrom); "
                                                   "bins without a commensurate q-point are "
                                                   "masked.")
        self.declareProperty("EnergyResolution", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Output=QPath without an Instrument: constant energy FWHM "
                                 "(meV) on EBinning, as SimulateSingleCrystalSQE's q-path.")
        self.declareProperty("Coherent", True, doc="Coherent S(Q,E) (all phonon orders).")
        self.declareProperty("Incoherent", True, doc="Incoherent (self) S(Q,E); with Coherent "
                                                      "off the incoherent approximation (self "
                                                      "part, total cross-section), as "
                                                      "SimulatePowderSQE.")
        self.declareProperty("QuantumCorrection", "StokesRaman", StringListValidator(
            list(CORRECTIONS)), doc="Correction of the classical spectrum: StokesRaman "
                                    "(beta E / (1 - exp(-beta E))), DetailedBalance "
                                    "(exp(beta E / 2)) or None.")
        self.declareProperty("Elastic", False, doc="Keep the elastic line (Bragg peaks, "
                                                   "incoherent elastic); off = inelastic only.")
        self.declareProperty("QPointsPerBin", 200, doc="Most commensurate q-points averaged "
                                                       "per |Q| bin (log MDQPointsPerBin).")
        self.declareProperty("WindowStep", 0, doc="Frames between correlation windows; 0 = a "
                                                  "quarter of the window.")
        self.declareProperty("Seed", 0, doc="Seed of the q-point choice and of the MD run.")
        self.declareProperty(MatrixWorkspaceProperty("OutputWorkspace", "", Direction.Output),
                             doc="S(|Q|,E), S(E) per bank or S(q,E) along the path, mbarn/meV "
                                 "per atom.")
        for name in ("TrajectoryFile", "TimeStep"):
            self.setPropertyGroup(name, "Trajectory")
        for name in ("Output", "QPath", "PathStep"):
            self.setPropertyGroup(name, "Output")
        for name in ("Coherent", "Incoherent", "QuantumCorrection", "Elastic"):
            self.setPropertyGroup(name, "Terms")
        for name in ("QPointsPerBin", "WindowStep", "Seed"):
            self.setPropertyGroup(name, "Sampling")
        self._requests = ValidatedRequest(self._request, validate_md)

    def _declare_md_run(self):
        self.declareProperty(FileProperty("StructureFile", "", FileAction.OptionalLoad,
                                          STRUCTURE_EXTENSIONS),
                             doc="Crystal structure to run the MD here (ASE's EMT: Al, Cu, Ag, "
                                 "Au, Ni, Pd, Pt; or PotentialFile's elements); with a "
                                 "TrajectoryFile only for Output=QPath (the cell of the path).")
        self.declareProperty(FileProperty("PotentialFile", "", FileAction.OptionalLoad,
                                          [".txt"]),
                             doc="NEP model file (GPUMD nep.txt) for the MD run here, through "
                                 "calorine's CPU calculator (pip install calorine); empty = "
                                 "ASE's EMT.")
        self.declareProperty("SupercellMatrix", "", doc="MD supercell of StructureFile: "
                                                        "'6,6,6' (diagonal) or 9 integers.")
        self.declareProperty("MDTimeStep", 5.0, doc="MD integration time step (fs).")
        self.declareProperty("MDSteps", 2000, doc="Production MD steps.")
        self.declareProperty("ThermalisationSteps", 500,
                             doc="Thermalisation steps at Temperature before production.")
        self.declareProperty("ThermalisationEnsemble", "NVT", StringListValidator(
            list(ENSEMBLES)), doc="NVT (Langevin, the structure's cell) or NPT (Berendsen at "
                                  "zero pressure; production at the mean cell: thermal "
                                  "expansion).")
        self.declareProperty("FrameInterval", 2, doc="MD steps between the frames analysed.")
        self.declareProperty("Thermostat", "VelocityVerlet", StringListValidator(
            list(THERMOSTATS)), doc="Production dynamics: VelocityVerlet (NVE) or Langevin.")
        self.declareProperty(FileProperty("OutputTrajectoryFile", "", FileAction.OptionalSave,
                                          [".traj"]),
                             doc="Where the MD run here writes its frames (ASE .traj); empty "
                                 "= a temporary file.")
        for name in ("StructureFile", *MD_RUN):
            self.setPropertyGroup(name, "MD run here")

    def _request(self):
        value = {name: self.getProperty(name).value for name in (
            "TrajectoryFile", "TimeStep", "Coherent", "Incoherent", "QuantumCorrection",
            "Elastic", "QPointsPerBin", "WindowStep", "Seed", "StructureFile", "Output", "QPath",
            "PathStep", "EnergyResolution", *MD_RUN)}
        return MDRequest(
            trajectory=value["TrajectoryFile"], time_step=float(value["TimeStep"]),
            template=template_request(self), output=value["Output"], path=value["QPath"],
            path_step=float(value["PathStep"]), fwhm=float(value["EnergyResolution"]),
            coherent=bool(value["Coherent"]),
            incoherent=bool(value["Incoherent"]), correction=value["QuantumCorrection"],
            elastic=bool(value["Elastic"]),
            q_points_per_bin=int(value["QPointsPerBin"]), window_step=int(value["WindowStep"]),
            seed=int(value["Seed"]), structure=value["StructureFile"],
            supercell=value["SupercellMatrix"], md_time_step=float(value["MDTimeStep"]),
            md_steps=int(value["MDSteps"]),
            thermalisation_steps=int(value["ThermalisationSteps"]),
            frame_interval=int(value["FrameInterval"]), thermostat=value["Thermostat"],
            ensemble=value["ThermalisationEnsemble"],
            output_trajectory=value["OutputTrajectoryFile"], potential=value["PotentialFile"])

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=20)
        set_output(self, simulate_md(self._requests.take(),
                                     progress=fraction_reporter(progress, 20)))


AlgorithmFactory.subscribe(SimulateMDSQE)
