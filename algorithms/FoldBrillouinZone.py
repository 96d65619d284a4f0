"""FoldBrillouinZone: symmetry-fold a 4D S(Q,E) volume onto a high-symmetry q-path I(q,E).

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run FoldBrillouinZone ...``).
"""

from inslib.folding.run import FoldRequest, run_fold, validate_fold
from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    FileAction,
    FileProperty,
    FloatArrayProperty,
    FloatBoundedValidator,
    IMDHistoWorkspaceProperty,
    MatrixWorkspaceProperty,
    Progress,
    PropertyMode,
    PythonAlgorithm,
    from_workspace,
    to_workspace,
)
from inslib.runtime.progress import fraction_reporter
from inslib.runtime.properties import STRUCTURE_EXTENSIONS, ValidatedRequest


class FoldBrillouinZone(PythonAlgorithm):
    """Fold every symmetry-equivalent copy of a q-path, from every zone, onto one path."""

    def category(self):
        return "Inelastic\\SingleCrystal;MDAlgorithms\\Normalisation"

    def name(self):
        return "FoldBrillouinZone"

    def summary(self):
        return ("Folds a 4D S(Q,E) (MDNorm output, a SaveMD file or SimulateSingleCrystalSQE "
                "output) with the crystal's point group onto a high-symmetry q-path: I(q,E) "
                "with errors and the number of contributing voxels per bin.")

    def seeAlso(self):
        return ["MDNorm", "SimulateSingleCrystalSQE"]

    def PyInit(self):
        for name, doc in (
                ("InputWorkspace", "Normalised 4D S(Q,E): three HKL dimensions + DeltaE."),
                ("DataWorkspace", "MDNorm's OutputDataWorkspace (with NormalizationWorkspace)."),
                ("NormalizationWorkspace", "MDNorm's OutputNormalizationWorkspace.")):
            self.declareProperty(IMDHistoWorkspaceProperty(name, "", Direction.Input,
                                                           PropertyMode.Optional), doc=doc)
        self.declareProperty(FileProperty("InputFile", "", FileAction.OptionalLoad, [".nxs"]),
                                          doc="SaveMD file instead of InputWorkspace (streamed "
                                              "one energy slab at a time).")
        self.declareProperty(FileProperty("StructureFile", "", FileAction.OptionalLoad,
                                          STRUCTURE_EXTENSIONS),
                             doc="Crystal structure giving the symmetry.")
        self.declareProperty("SpaceGroup", "", doc="Space group number or symbol (with Lattice) "
                                                   "when there is no StructureFile.")
        self.declareProperty(FloatArrayProperty("Lattice", []),
                             doc="a, b, c (Angstrom), alpha, beta, gamma (deg); default the "
                                 "input's oriented lattice.")
        self.declareProperty("QPath", "auto", doc="'auto' (seekpath), labels 'G-X-U|K-G-L' or "
                                                  "points '[0,0,0]-[0.5,0,0.5]' (hkl).")
        self.declareProperty(FloatArrayProperty("PerpendicularHalfWidth", [0.1]),
                             doc="Integration around the path (1/A): one value = cylinder "
                                 "radius; two = box half-widths (along c* made perpendicular "
                                 "to the segment, then the third direction).")
        self.declareProperty("PathStep", 0.05, FloatBoundedValidator(lower=0.0),
                             doc="Bin width along the path (1/Angstrom).")
        self.declareProperty("Zones", "", doc="Zones to use: empty = all, or 'h,k,l;h,k,l' "
                                              "(reciprocal lattice vectors, conventional hkl).")
        self.declareProperty("MinZoneCoverage", 0.0, FloatBoundedValidator(lower=0.0, upper=1.0),
                             doc="Leave out zones whose contributing voxels are covered less.")
        self.declareProperty("TimeReversal", True, doc="Add Q -> -Q to the point group.")
        self.declareProperty(MatrixWorkspaceProperty("OutputWorkspace", "", Direction.Output),
                                                     doc="I(q,E) with propagated errors.")
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputCountsWorkspace", "", Direction.Output, PropertyMode.Optional),
            doc="Contributing voxels per (q, E) bin.")
        self._requests = ValidatedRequest(self._request, validate_fold)

    def _request(self):
        def volume(name):
            value = self.getProperty(name).value
            return from_workspace(value) if value is not None else None

        lattice = list(self.getProperty("Lattice").value)
        return FoldRequest(
            volume=volume("InputWorkspace"), input_file=self.getProperty("InputFile").value,
            data=volume("DataWorkspace"), normalization=volume("NormalizationWorkspace"),
            structure=self.getProperty("StructureFile").value,
            space_group=self.getProperty("SpaceGroup").value,
            lattice=tuple(lattice) if lattice else None,
            path=self.getProperty("QPath").value,
            half_width=tuple(self.getProperty("PerpendicularHalfWidth").value),
            step=self.getProperty("PathStep").value,
            zones=self.getProperty("Zones").value,
            min_coverage=self.getProperty("MinZoneCoverage").value,
            time_reversal=bool(self.getProperty("TimeReversal").value))

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=20)
        folded, counts = run_fold(self._requests.take(), progress=fraction_reporter(progress, 20))
        self.setProperty("OutputWorkspace", to_workspace(folded))
        if self.getPropertyValue("OutputCountsWorkspace"):
            self.setProperty("OutputCountsWorkspace", to_workspace(counts))


AlgorithmFactory.subscribe(FoldBrillouinZone)
