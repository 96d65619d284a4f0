"""PredictSQE: INS spectra from a crystal structure alone (force fields) or a phonon folder.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run PredictSQE ...``).
"""

from inslib.ml.predict import (
    METHODS,
    OUTPUTS,
    PredictRequest,
    run_predict,
    validate_predict,
)
from inslib.phonons.mlff import DEFAULT_FORCE_FIELD, DEFAULT_MIN_LENGTH, FORCE_FIELDS, RELAX_MODES
from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    FileAction,
    FileProperty,
    FloatBoundedValidator,
    IntBoundedValidator,
    MatrixWorkspaceProperty,
    Progress,
    PythonAlgorithm,
    StringListValidator,
)
from inslib.runtime.progress import fraction_reporter
from inslib.runtime.properties import (
    STRUCTURE_EXTENSIONS,
    ValidatedRequest,
    declare_device_property,
    declare_mesh_property,
    declare_supercell_property,
    declare_template_properties,
    set_output,
    template_request,
)


class PredictSQE(PythonAlgorithm):
    """Phonon spectra predicted from a structure (universal force fields) or a phonon folder."""

    def category(self):
        return "Inelastic\\Simulation"

    def name(self):
        return "PredictSQE"

    def summary(self):
        return ("Predicts the phonon DOS, partial DOS, indirect-geometry S(E), powder "
                "S(|Q|,E) or S(q,E) along a q-path of a crystal from its structure alone "
                "(force constants from an offline universal force field, or an ensemble of "
                "them whose spread gives the errors) or from a phonon folder, on an instrument "
                "setting or the bins of a measured workspace.")

    def seeAlso(self):
        return ["SimulatePowderSQE", "SimulateSingleCrystalSQE", "InvertForceConstants"]

    def PyInit(self):
        self.declareProperty(FileProperty("StructureFile", "", FileAction.OptionalLoad,
                                          STRUCTURE_EXTENSIONS),
                             doc="Crystal structure (CIF, POSCAR or any ASE-readable file), "
                                 "ordered (no partial occupancy); Method=ForceField.")
        self.declareProperty("Method", "ForceField", StringListValidator(list(METHODS)),
                             doc="ForceField: force constants from offline universal force "
                                 "fields; Folder: a phonon folder; Direct: the partial DOS of "
                                 "e3nn networks (DOS, PartialDOS, IndirectSE; about a second).")
        self.declareProperty("ForceField", DEFAULT_FORCE_FIELD,
                             doc=f"One of {', '.join(FORCE_FIELDS)} (sevenn, MIT); several "
                                 "comma-separated = an ensemble (errors = spread).")
        self.declareProperty("Relax", "Positions", StringListValidator(list(RELAX_MODES)),
                             doc="Relax the structure with the force field first, space group "
                                 "kept.")
        declare_supercell_property(
            self, "Supercell of the finite displacements: '3,3,3' (diagonal) or 9 integers "
                  "(phonopy's supercell_matrix: the supercell vectors are its columns, in "
                  "StructureFile's cell); empty = from MinSupercellLength.")
        self.declareProperty("MinSupercellLength", DEFAULT_MIN_LENGTH,
                             FloatBoundedValidator(lower=0.0),
                             doc="Smallest face-to-face width (Angstrom) of the automatic "
                                 "supercell.")
        self.declareProperty("PhononFolder", "",
                             doc="Method=Folder: phonopy folder (phonopy.yaml / FORCE_SETS / "
                                 "BORN / POSCAR-unitcell).")
        self.declareProperty("DirectModel", "",
                             doc="Method=Direct: folder of a trained ensemble (card.json, "
                                 "member-K.pt); empty = the one shipped in models/direct.")
        self.declareProperty("Output", "PowderSQE", StringListValidator(list(OUTPUTS)),
                             doc="PowderSQE (direct geometry), IndirectSE (TOSCA, VISION), "
                                 "QPath, DOS or PartialDOS (per element).")
        self.declareProperty("Coherent", True,
                             doc="Output=PowderSQE: the coherent one-phonon term (powder "
                                 "average; Method=Direct: the map networks of "
                                 "DirectModel/map). False = incoherent approximation with the "
                                 "total cross-section for every term.")
        for name in ("StructureFile", "Method", "ForceField", "Relax", "SupercellMatrix",
                     "MinSupercellLength", "PhononFolder", "DirectModel"):
            self.setPropertyGroup(name, "Model")
        declare_template_properties(self, simulation=True)
        self._declare_sampling()
        self.declareProperty(FileProperty("OutputForceConstantsFile", "",
                                          FileAction.OptionalSave, [".yaml"]),
                             doc="phonopy.yaml of the force constants used (one per member "
                                 "of an ensemble: name-<force field>.yaml).")
        self.declareProperty(MatrixWorkspaceProperty("OutputWorkspace", "", Direction.Output),
                             doc="The prediction; errors = spread of the ensemble.")
        self._requests = ValidatedRequest(self._request, validate_predict)

    def _declare_sampling(self):
        declare_mesh_property(self, "n of the n x n x n mesh for DOS and Debye-Waller.")
        self.declareProperty("DirectionsPerShell", 500, IntBoundedValidator(lower=2),
                             doc="Directions on each |Q| shell of the powder average (even).")
        self.declareProperty("Seed", 0, IntBoundedValidator(lower=0),
                             doc="Seed of the random shell orientations.")
        self.declareProperty("QPath", "auto",
                             doc="Output=QPath: 'auto' (seekpath) or labels / [h,k,l] joined "
                                 "by '-', '|' between pieces, in the primitive cell.")
        self.declareProperty("PathStep", 0.02, FloatBoundedValidator(lower=1e-4),
                             doc="Bin width along the q-path, 1/Angstrom.")
        declare_device_property(self)
        for name in ("MeshSize", "DirectionsPerShell", "Seed", "QPath", "PathStep", "Device"):
            self.setPropertyGroup(name, "Sampling")

    def _request(self):
        from inslib.scattering.powder import PowderSampling

        get = self.getProperty
        return PredictRequest(
            structure=get("StructureFile").value, method=get("Method").value,
            force_fields=get("ForceField").value, relax=get("Relax").value,
            supercell=get("SupercellMatrix").value,
            min_length=float(get("MinSupercellLength").value),
            folder=get("PhononFolder").value, output=get("Output").value,
            template=template_request(self), grid=int(get("MeshSize").value),
            sampling=PowderSampling(n_directions=int(get("DirectionsPerShell").value),
                                    seed=int(get("Seed").value)),
            q_path=get("QPath").value, path_step=float(get("PathStep").value),
            device=get("Device").value, save_to=self.getPropertyValue("OutputForceConstantsFile"),
            direct_model=get("DirectModel").value, coherent=bool(get("Coherent").value))

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=40)
        result = run_predict(self._requests.take(), progress=fraction_reporter(progress, 40))
        set_output(self, result)


AlgorithmFactory.subscribe(PredictSQE)
