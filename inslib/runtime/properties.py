"""Property declarations shared by the algorithms, and reading them back into requests.

One declaration per property name: ForceConstantsFile, StructureFile, SupercellMatrix,
Instrument, Ei, Temperature, MeshSize, QResolution and Device mean the same thing in every
algorithm that has them (only the doc line may say what the algorithm does with it). The
template properties of CreateSQETemplate and SimulatePowderSQE (and later PredictSQE) are
declared together and read back into a :class:`inslib.simulation.requests.TemplateRequest`.
Only the Mantid API subset of :mod:`inslib.runtime.compat` is used, and torch is not imported,
so the algorithms load fast and run inside Mantid unchanged.
"""

from inslib.instruments import available_instruments
from inslib.logs import WARNINGS
from inslib.phonons.model import DEVICES
from inslib.runtime.compat import (
    Direction,
    FileAction,
    FileProperty,
    FloatBoundedValidator,
    IntBoundedValidator,
    MatrixWorkspaceProperty,
    PropertyMode,
    StringListValidator,
    WorkspaceUnitValidator,
    from_workspace,
    to_workspace,
)
from inslib.simulation.requests import (
    DEFAULT_GONIOMETER_AXIS,
    MAX_TEMPERATURE,
    UNKNOWN_TEMPERATURE,
    TemplateRequest,
)
from inslib.units import energy_units

FORCE_CONSTANTS_EXTENSIONS = [".yaml", ".yml", ".castep_bin", ".json", ".hdf5",
                              "FORCE_CONSTANTS"]
STRUCTURE_EXTENSIONS = [".cif", ".vasp", "POSCAR", "CONTCAR", ".cell", ".xsf", ".xyz"]


def declare_force_constants_properties(algorithm, fc_doc: str, structure_doc: str) -> None:
    """Declare ForceConstantsFile (required) and StructureFile (optional)."""
    algorithm.declareProperty(FileProperty("ForceConstantsFile", "", FileAction.Load,
                                           FORCE_CONSTANTS_EXTENSIONS), doc=fc_doc)
    algorithm.declareProperty(FileProperty("StructureFile", "", FileAction.OptionalLoad,
                                           STRUCTURE_EXTENSIONS), doc=structure_doc)
    for name in ("ForceConstantsFile", "StructureFile"):
        algorithm.setPropertyGroup(name, "Model")


SUPERCELL_DOC = ("Supercell of a bare FORCE_CONSTANTS file (phonopy's DIM): '2,2,2' (diagonal) "
                 "or 9 integers (phonopy's order: the supercell vectors are the columns); empty = "
                 "from SPOSCAR beside it, else the cube root of "
                 "the atom-count ratio.")


def declare_supercell_property(algorithm, doc: str = SUPERCELL_DOC) -> None:
    """Declare SupercellMatrix: a supercell (phonopy's DIM); ``doc`` says which one."""
    algorithm.declareProperty("SupercellMatrix", "", doc=doc)
    algorithm.setPropertyGroup("SupercellMatrix", "Model")


def declare_instrument_property(algorithm, doc: str) -> None:
    """Declare Instrument: one of the instrument files, or empty (``doc`` says what empty means)."""
    algorithm.declareProperty("Instrument", "",
                              StringListValidator(["", *available_instruments()]), doc=doc)


def declare_ei_property(algorithm, doc: str) -> None:
    """Declare Ei: incident energy in meV (0 = not given)."""
    algorithm.declareProperty("Ei", 0.0, FloatBoundedValidator(lower=0.0), doc=doc)


def declare_temperature_property(algorithm, needed: bool = True) -> None:
    """Declare Temperature in K; -1 = unknown (the same rule in every algorithm).

    ``needed``: the algorithm cannot run without a temperature (a simulation), so -1 means
    the InputWorkspace's, and without one is refused.
    """
    unknown = ("-1 = the InputWorkspace's (required without one)" if needed
               else "-1 = unknown (or the InputWorkspace's)")
    algorithm.declareProperty("Temperature", UNKNOWN_TEMPERATURE,
                              doc=f"Sample temperature (K), 0 to {MAX_TEMPERATURE:g}; {unknown}.")


def temperature_value(algorithm):
    """Return the Temperature property in K, or None for -1 (unknown); negatives are kept."""
    temperature = algorithm.getProperty("Temperature").value
    return None if temperature == UNKNOWN_TEMPERATURE else temperature


def declare_mesh_property(algorithm, doc: str) -> None:
    """Declare MeshSize: n of the n x n x n mesh of the model set-up."""
    algorithm.declareProperty("MeshSize", 16, IntBoundedValidator(lower=2, upper=64), doc=doc)


def declare_q_resolution_property(algorithm, doc: str) -> None:
    """Declare QResolution: Gaussian Q FWHM in 1/Angstrom, 0 = none."""
    algorithm.declareProperty("QResolution", 0.0, FloatBoundedValidator(lower=0.0), doc=doc)


def declare_device_property(algorithm) -> None:
    """Declare the Device property (Auto, CPU, GPU)."""
    algorithm.declareProperty(
        "Device", "Auto", StringListValidator(list(DEVICES)),
        doc="Where the phonon modes are computed: Auto (a CUDA GPU where torch sees one, else "
            "the CPU), CPU or GPU. Histogramming runs on the CPU either way.")


def declare_goniometer_properties(algorithm) -> None:
    """Declare Psi, GoniometerAxis, UVector, VVector: the settings of a single-crystal scan."""
    algorithm.declareProperty(
        "Psi", "", doc="Goniometer angles measured, 'from,to,step' in degrees (both ends "
                       "included); the kinematic mask keeps the bins these settings reach, "
                       "and QEResolution=Covariance the beam orientation they measure. "
                       "Empty = every orientation (|Q| and E only).")
    algorithm.declareProperty(
        "GoniometerAxis", DEFAULT_GONIOMETER_AXIS,
        doc="Axis of Psi, 'x,y,z,sense' as Mantid's SetGoniometer (z beam, y up; sense 1 "
            "counter-clockwise, -1 clockwise).")
    algorithm.declareProperty(
        "UVector", "", doc="HKL vector along the incident beam at Psi = 0 (SetUB's u); "
                           "empty = QDimension0.")
    algorithm.declareProperty(
        "VVector", "", doc="Second HKL vector of the horizontal scattering plane (SetUB's v); "
                           "empty = QDimension1.")
    for name in ("Psi", "GoniometerAxis", "UVector", "VVector"):
        algorithm.setPropertyGroup(name, "Goniometer")


def goniometer_settings(algorithm) -> dict:
    """Return the goniometer properties as SingleCrystalRequest fields."""
    return {"psi": algorithm.getProperty("Psi").value.strip(),
            "goniometer_axis": algorithm.getProperty("GoniometerAxis").value,
            "u_vector": algorithm.getProperty("UVector").value.strip(),
            "v_vector": algorithm.getProperty("VVector").value.strip()}


def declare_chopper_properties(algorithm) -> None:
    """Declare ChopperPackage and ChopperFrequency (empty / 0 = a transmitting default)."""
    algorithm.declareProperty("ChopperPackage", "",
                              doc="Chopper package (monochromator on Lagrange); empty = default.")
    algorithm.declareProperty("ChopperFrequency", 0.0, FloatBoundedValidator(lower=0.0),
                              doc="Resolution chopper frequency (Hz); 0 = the default.")


def chopper_settings(algorithm) -> dict:
    """Return the instrument settings of the chopper properties, {property: value}."""
    return {name: algorithm.getProperty(name).value
            for name in ("ChopperPackage", "ChopperFrequency")}


def declare_template_properties(algorithm, simulation: bool) -> None:
    """Declare InputWorkspace, Instrument, Ei, EFixed, chopper settings, binning, Temperature.

    ``simulation``: the algorithm needs a temperature (see :func:`declare_temperature_property`).
    """
    algorithm.declareProperty(MatrixWorkspaceProperty(
        "InputWorkspace", "", Direction.Input, PropertyMode.Optional,
        validator=WorkspaceUnitValidator("DeltaE")),
        doc="Measured powder S(|Q|,E) (SofQW output): its bins, mask and logs are used.")
    declare_instrument_property(algorithm, "Instrument; empty = the InputWorkspace's (required "
                                           "without one).")
    declare_ei_property(algorithm, "Incident energy (meV), direct geometry; 0 = the "
                                   "InputWorkspace's Ei log.")
    algorithm.declareProperty("EFixed", 0.0, FloatBoundedValidator(lower=0.0),
                              doc="Final energy (meV), indirect geometry; 0 = the instrument's.")
    declare_chopper_properties(algorithm)
    algorithm.declareProperty("QBinning", "", doc="|Q| bins 'start,step,end' in 1/Angstrom; "
                                                  "empty = 0 to the largest reachable |Q|.")
    algorithm.declareProperty("EBinning", "", doc="Energy-transfer bins 'start,step,end' in "
                                                  "EnergyUnit; empty = -0.25 Ei to 0.95 Ei.")
    algorithm.declareProperty("EnergyUnit", "meV", StringListValidator(energy_units()),
                              doc="Unit of EBinning; the output is always in meV.")
    declare_temperature_property(algorithm, needed=simulation)
    for name in ("Ei", "EFixed", "ChopperPackage", "ChopperFrequency"):
        algorithm.setPropertyGroup(name, "Instrument setting")
    for name in ("QBinning", "EBinning", "EnergyUnit"):
        algorithm.setPropertyGroup(name, "Binning")


def template_request(algorithm) -> TemplateRequest:
    """Read the template properties back as a request."""
    workspace = algorithm.getProperty("InputWorkspace").value
    return TemplateRequest(
        instrument=algorithm.getProperty("Instrument").value,
        ei=algorithm.getProperty("Ei").value or None,
        efixed=algorithm.getProperty("EFixed").value or None,
        q_binning=algorithm.getProperty("QBinning").value,
        e_binning=algorithm.getProperty("EBinning").value,
        energy_unit=algorithm.getProperty("EnergyUnit").value,
        settings=chopper_settings(algorithm),
        temperature=temperature_value(algorithm),
        template=from_workspace(workspace) if workspace is not None else None,
    )


class ValidatedRequest:
    """The request validateInputs checked, handed to the PyExec that follows it.

    The host (and Mantid's Algorithm::execute) calls validateInputs and then PyExec on the same
    algorithm with the same property values: PyExec takes the request validateInputs built (and
    whose check result it carries) instead of building and checking a new one. A PyExec without
    a preceding validateInputs builds its own request, which the run function checks once.
    """

    def __init__(self, build, validate):
        self._build, self._validate, self._last = build, validate, None

    def errors(self) -> dict:
        """Build the request, check it (once) and keep it for PyExec; {property: message}."""
        self._last = self._build()
        return self._validate(self._last)

    def take(self):
        """Return the request validateInputs checked (a new one without it); forget it."""
        request, self._last = self._last, None
        return request if request is not None else self._build()


def set_output(algorithm, result, name: str = "OutputWorkspace") -> None:
    """Log the notes of a result's Warnings log as a warning and set it as output ``name``."""
    warnings = result.metadata.logs.get(WARNINGS)
    if warnings is not None and warnings.value:
        algorithm.log().warning(f"{algorithm.name()}: {warnings.value}")
    algorithm.setProperty(name, to_workspace(result))
