"""Names of the sample logs inslib writes and reads, in one place.

A log is a named value on :class:`inslib.histogram.Metadata` (``metadata.logs[NAME]``); inside
Mantid it is a sample log of the workspace's run. Code uses these constants, never the literal.
"""

# Written by the simulations
POWDER_CONVERGENCE = "PowderConvergence"  # relative sampling error of the powder average
IMAGINARY_MODES = "ImaginaryModes"  # number of imaginary modes on the set-up mesh
DEVICE = "Device"  # where the phonon modes were computed (cpu, cuda)
WARNINGS = "Warnings"  # "; "-joined notes a user should read before trusting the result
LOWEST_MODE_ENERGY = "LowestModeEnergy"  # meV, lowest mode on the mesh (negative: imaginary)
MULTIPHONON_ORDER = "MultiphononOrder"  # highest n-phonon term included
RESOLUTION_FWHM = "ResolutionFWHM"  # meV per energy bin (templates, indirect spectra)
RESOLUTION_WIDTH_FACTOR = "ResolutionWidthFactor"  # calibrated factor in that FWHM (ARCS.yaml)
KINEMATIC_MASK = "KinematicMask"  # instrument and fixed energy of a single-crystal mask
SAMPLES_PER_BIN = "SamplesPerBin"  # random points per bin and Q dimension (grids)
Q_RESOLUTION = "QResolution"  # 1/Angstrom, Gaussian Q FWHM (grids)
PATH_HALF_WIDTH = "PathHalfWidth"  # 1/Angstrom, integration around a folded q-path
PREDICT_METHOD = "PredictMethod"  # ForceField, Folder or Direct (PredictSQE)
FORCE_FIELDS_USED = "ForceFields"  # comma-separated force fields of a prediction's ensemble
DIRECT_MODEL = "DirectModel"  # the Direct ensemble (card name, training-data hash) used
DIRECT_MAP_MODEL = "DirectMapModel"  # the Direct map networks (card name, data hash) used
MD_Q_POINTS_PER_BIN = "MDQPointsPerBin"  # commensurate q-points averaged per |Q| bin (MD)
MD_CORRELATION_WINDOW = "MDCorrelationWindow"  # fs, longest time lag of the MD correlations
MD_ENERGY_SPACING = "MDEnergySpacing"  # meV, energy grid of the MD spectra
MD_FRAMES = "MDFrames"  # trajectory frames read
MD_BRAGG_Q_POINTS = "MDBraggQPoints"  # q-points at Bragg peaks (left out of the inelastic map)
QUANTUM_CORRECTION = "QuantumCorrection"  # StokesRaman, DetailedBalance or None (MD)

# Mantid's own log names (processed NeXus, MD files)
EI = "Ei"  # meV
EFIXED = "EFixed"  # meV
DELTAE_MODE = "deltaE-mode"  # Direct / Indirect
TEMPERATURE = "temperature"  # K
TEMPERATURE_ALIASES = (TEMPERATURE, "SampleTemp", "sample_temperature")
INSTRUMENT = "instrument"
W_MATRIX = "W_MATRIX"  # 9 numbers, row-major projection matrix
Q_CONVENTION = "QConvention"  # Inelastic / Crystallography (SaveMD attribute)
PATH_TICK_POSITIONS = "PathTickPositions"  # 1/Angstrom, q-path tick positions
PATH_TICK_LABELS = "PathTickLabels"  # space-separated q-path tick labels
