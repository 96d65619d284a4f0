"""InvertForceConstants: force constants, with uncertainties, from a measured S(|Q|,E) or fold.

Runs unchanged inside Mantid (put this folder in user.python.plugins.directories) and on
inslib's built-in host (``inslib run InvertForceConstants ...``).
"""

import math
from dataclasses import replace

from inslib.runtime.compat import (
    IN_MANTID,
    AlgorithmFactory,
    Direction,
    FileAction,
    FileProperty,
    FloatArrayProperty,
    FloatBoundedValidator,
    IntBoundedValidator,
    ITableWorkspaceProperty,
    MatrixWorkspaceProperty,
    Progress,
    PropertyMode,
    PythonAlgorithm,
    StringListValidator,
    WorkspaceFactory,
    WorkspaceUnitValidator,
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
    declare_instrument_property,
    declare_mesh_property,
    declare_q_resolution_property,
    declare_supercell_property,
    declare_temperature_property,
    temperature_value,
)

TABLE_COLUMNS = (("str", "Name"), ("double", "Distance"), ("double", "Value"),
                 ("double", "Error"), ("double", "Reference"))
FIT_SETTINGS = ("Shells", "FittedParameters", "Method", "AmortizedModel", "Starts", "EMin",
                "EMax", "ParameterRange", "SpectrumType", "FitBackground", "FitElasticTail",
                "FitResolution", "ErrorModel", "Seed", "InitialParameterTable")
SERIES_SETTINGS = ("SeriesWorkspaces", "SeriesTemperatures", "SeriesFit", "OutputSeriesTable")
PATH_SETTINGS = ("QPath", "Zones", "TimeReversal", "EnergyResolution", "SamplesPerBin")
SAMPLING = ("MeshSize", "ShellsPerBin", "DirectionsPerShell", "MultiphononOrder",
            "QResolution", "Device")


class InvertForceConstants(PythonAlgorithm):
    """Fit symmetry-reduced force constants to a measured powder S(|Q|,E)."""

    def category(self):
        return "Inelastic\\Simulation"

    def name(self):
        return "InvertForceConstants"

    def summary(self):
        return ("Recovers the symmetry-independent force constants of a crystal, with their "
                "uncertainties, from a measured powder S(|Q|,E) (or an indirect S(E), or a "
                "folded q-path map): a gradient fit of the "
                "differentiable forward model of SimulatePowderSQE (scale, background and "
                "optionally a resolution factor as nuisances), started from an amortized "
                "network estimate where one is trained.")

    def seeAlso(self):
        return ["SimulatePowderSQE", "CompareWithSimulation", "Fit"]

    def PyInit(self):
        self.declareProperty(MatrixWorkspaceProperty(
            "InputWorkspace", "", Direction.Input,
            validator=WorkspaceUnitValidator("DeltaE")),
            doc="Measured powder S(|Q|,E) (SofQW output), single-crystal q-path map "
                "(FoldBrillouinZone output) or indirect-geometry S(E) (TOSCA/VISION: one "
                "spectrum, banks summed, or one per bank); errors are the weights; its bins, "
                "mask and logs define the fit.")
        declare_force_constants_properties(
            self, "Reference force constants (phonopy, CASTEP, euphonic files as "
                  "SimulatePowderSQE): the crystal, the parameter basis and the start.",
            "Crystal structure (CIF, POSCAR...) with a bare FORCE_CONSTANTS file.")
        declare_supercell_property(self)
        declare_instrument_property(self, "Instrument; empty = the InputWorkspace's.")
        declare_ei_property(self, "Incident energy (meV); 0 = the InputWorkspace's Ei log.")
        declare_chopper_properties(self)
        declare_temperature_property(self, needed=True)
        self._declare_fit_settings()
        self._declare_path_settings()
        self._declare_sampling()
        self._declare_outputs()
        self._declare_series()
        self._requests = ValidatedRequest(self._series, _validate)

    def _declare_fit_settings(self):
        self.declareProperty("Shells", 2, IntBoundedValidator(lower=1, upper=10),
                             doc="Neighbour shells of force-constant parameters.")
        self.declareProperty("FittedParameters", "",
                             doc="Comma-separated parameter names to fit (e.g. '1NN xx,1NN xy');"
                                 " empty = all; the others stay at the reference.")
        self.declareProperty("Method", "Hybrid",
                             StringListValidator(["Hybrid", "Gradient", "Amortized"]),
                             doc="Gradient: fit from the reference; Amortized: trained networks "
                                 "alone; Hybrid: networks' estimate, then the gradient fit.")
        self.declareProperty(FileProperty("AmortizedModel", "", FileAction.OptionalLoad, [".pt"]),
                             doc="Trained networks (inslib train-inversion) for Hybrid or "
                                 "Amortized; empty = the cache's model for this crystal, shells, "
                                 "template and temperature, if any.")
        self.declareProperty("Starts", 3, IntBoundedValidator(lower=1, upper=50),
                             doc="Most gradient starts (stops once two agree).")
        self.declareProperty("EMin", 8.0, doc="Bins at or below this energy transfer (meV) are "
                                              "not fitted (elastic line).")
        self.declareProperty("EMax", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Bins at or above this energy (meV) are not fitted; 0 = 0.95 "
                                 "Ei (final energies near 0 carry reduction artefacts).")
        self.declareProperty("ParameterRange", 0.5, FloatBoundedValidator(lower=0.0, upper=1.0),
                             doc="Bounds: reference x (1 +- range) for each parameter.")
        self.declareProperty("SpectrumType", "SQE", StringListValidator(["SQE", "ChiPrime2"]),
                             doc="What InputWorkspace holds: S(|Q|,E), or the dynamic "
                                 "susceptibility chi''(|Q|,E) = S (1 - exp(-E/kT)).")
        self.declareProperty("FitBackground", True, doc="Fit a flat background.")
        self.declareProperty("FitElasticTail", False,
                             doc="Fit the amplitude of a Lorentzian tail of the elastic line "
                                 "(1 / (1 + (2E/FWHM)^2), the instrument's elastic FWHM).")
        self.declareProperty("FitResolution", False,
                             doc="Fit a factor 1-1.41 on the model's energy-resolution width.")
        self.declareProperty("ErrorModel", "Data", StringListValidator(["Data", "Poisson"]),
                             doc="Data: the workspace's errors weight the fit. Poisson: refit "
                                 "with the fitted model's Poisson variance (count-like data "
                                 "without subtraction: removes the bias of sqrt(observed "
                                 "counts) errors at low counts).")
        self.declareProperty("Seed", 0, IntBoundedValidator(lower=0),
                             doc="Seed of the random starts and the dispersion band samples.")
        self.declareProperty(ITableWorkspaceProperty(
            "InitialParameterTable", "", Direction.Input, PropertyMode.Optional),
            doc="Start from a previous fit's OutputParameterTable (e.g. the last chunk's in a "
                "live loop) instead of the reference force constants.")
        for name in FIT_SETTINGS:
            self.setPropertyGroup(name, "Fit")

    def _declare_path_settings(self):
        self.declareProperty("QPath", "auto",
                             doc="Q-path maps (FoldBrillouinZone output): the fold's QPath, "
                                 "e.g. 'G-X-U|K-G-L' or 'auto' (seekpath's).")
        self.declareProperty("Zones", "", doc="Q-path maps: the fold's Zones 'h,k,l;h,k,l'; "
                                              "empty = zone 0,0,0.")
        self.declareProperty("TimeReversal", True, doc="Q-path maps: the fold's TimeReversal.")
        self.declareProperty("EnergyResolution", 0.0, FloatBoundedValidator(lower=0.0),
                             doc="Q-path maps: energy-resolution FWHM (meV) of the folded data; "
                                 "0 = from the workspace's instrument and Ei.")
        self.declareProperty("SamplesPerBin", 4, IntBoundedValidator(lower=1, upper=64),
                             doc="Q-path maps: model q-points per path bin, segment image and "
                                 "zone.")
        for name in PATH_SETTINGS:
            self.setPropertyGroup(name, "Q-path map")

    def _declare_sampling(self):
        declare_mesh_property(self, "n of the n x n x n mesh for DOS and Debye-Waller.")
        self.declareProperty("ShellsPerBin", 1, IntBoundedValidator(lower=1, upper=64),
                             doc="|Q| shells sampled in each |Q| bin.")
        self.declareProperty("DirectionsPerShell", 200, IntBoundedValidator(lower=2),
                             doc="Directions per |Q| shell, in the irreducible wedge (even).")
        self.declareProperty("MultiphononOrder", 10, IntBoundedValidator(lower=1, upper=20),
                             doc="Highest n-phonon term of the incoherent approximation.")
        declare_q_resolution_property(self, "Gaussian |Q| resolution FWHM (1/Angstrom); 0 = none.")
        declare_device_property(self)
        for name in SAMPLING:
            self.setPropertyGroup(name, "Sampling")

    def _declare_outputs(self):
        self.declareProperty(MatrixWorkspaceProperty("OutputWorkspace", "", Direction.Output),
                             doc="Fitted map (scale x model + background) on the measured bins.")
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputResidualWorkspace", "", Direction.Output, PropertyMode.Optional),
            doc="Measured - fitted on the fitted bins (NaN elsewhere).")
        self.declareProperty(ITableWorkspaceProperty(
            "OutputParameterTable", "", Direction.Output, PropertyMode.Optional),
            doc="Name, Distance (A), Value, Error, Reference: parameters in eV/A^2, then Scale, "
                "Background, ResolutionFactor, PearsonR, NMSE, ChiSquaredPerDoF.")
        self.declareProperty(MatrixWorkspaceProperty(
            "OutputDispersionWorkspace", "", Direction.Output, PropertyMode.Optional),
            doc="Mode energies (meV) of the inverted force constants along the seekpath path, "
                "errors = 1-sigma band from the parameter covariance.")
        self.declareProperty(FileProperty("OutputForceConstantsFile", "",
                                          FileAction.OptionalSave, [".yaml"]),
                             doc="phonopy.yaml of the inverted force constants (loads in phonopy "
                                 "and SimulatePowderSQE).")

    def _declare_series(self):
        self.declareProperty("SeriesWorkspaces", "",
                             doc="Temperature series: more maps of the same sample besides "
                                 "InputWorkspace, comma-separated workspace names or files "
                                 "(same bins not required); empty = InputWorkspace alone.")
        self.declareProperty(FloatArrayProperty("SeriesTemperatures", []),
                             doc="Temperatures (K) of the SeriesWorkspaces, one each in the "
                                 "same order (-1 = that workspace's log); empty = every log.")
        self.declareProperty("SeriesFit", "Sequential",
                             StringListValidator(["Sequential", "Joint"]),
                             doc="Sequential: each map fitted alone, in order of temperature, "
                                 "from the previous optimum. Joint: one set of force constants "
                                 "fitted to every map at once (each its own scale, background, "
                                 "tail and resolution factor); needs SeriesWorkspaces.")
        self.declareProperty(ITableWorkspaceProperty(
            "OutputSeriesTable", "", Direction.Output, PropertyMode.Optional),
            doc="Table over temperature. Sequential: Temperature, each parameter and its _Error, "
                "ChiSquaredPerDoF per map. Joint: Name, Temperature, Distance, Value, Error, "
                "Reference: the shared parameters once (Temperature NaN), each map's Scale, "
                "Background, ..., ChiSquaredPerDoF, then the joint ChiSquaredPerDoF.")
        for name in SERIES_SETTINGS:
            self.setPropertyGroup(name, "Temperature series")

    def _series(self) -> tuple:
        """Return (requests, SeriesFit, errors): InputWorkspace's request first."""
        first = self._request()
        names = [n.strip() for n in self._value("SeriesWorkspaces").split(",") if n.strip()]
        temperatures = [float(t) for t in self._value("SeriesTemperatures")]
        fit = self._value("SeriesFit")
        if temperatures and len(temperatures) != len(names):
            return [first], fit, {"SeriesTemperatures": (
                f"{len(temperatures)} temperatures for {len(names)} SeriesWorkspaces: give one "
                "per workspace (-1 = its log), or none to take every workspace's log")}
        requests = [first]
        for k, name in enumerate(names):
            try:
                workspace = _workspace(name)
            except (ValueError, KeyError, RuntimeError) as error:
                return [first], fit, {"SeriesWorkspaces": f"{name!r}: {error}"}
            given = temperatures[k] if temperatures else -1.0
            template = replace(first.simulation.template, template=workspace,
                               temperature=None if given == -1.0 else given)
            requests.append(replace(first, simulation=replace(first.simulation,
                                                              template=template)))
        return requests, fit, {}

    def _request(self):
        from inslib.inversion.request import InversionRequest
        from inslib.scattering.powder import PowderSampling
        from inslib.simulation.requests import PowderRequest, TemplateRequest

        get = self._value
        workspace = get("InputWorkspace")
        template = TemplateRequest(
            instrument=get("Instrument"), ei=get("Ei") or None,
            settings=chopper_settings(self),
            temperature=temperature_value(self),
            template=from_workspace(workspace) if workspace is not None else None)
        simulation = PowderRequest(
            get("ForceConstantsFile"), get("StructureFile"), template=template,
            supercell=get("SupercellMatrix"),
            multiphonon_order=int(get("MultiphononOrder")), grid=int(get("MeshSize")),
            sampling=PowderSampling(int(get("ShellsPerBin")), int(get("DirectionsPerShell")),
                                    int(get("Seed"))),
            q_resolution=float(get("QResolution")), device=get("Device"))
        names = tuple(n.strip() for n in get("FittedParameters").split(",") if n.strip())
        return InversionRequest(
            simulation, shells=int(get("Shells")), parameters=names, method=get("Method"),
            starts=int(get("Starts")), e_min=float(get("EMin")), e_max=get("EMax") or None,
            parameter_range=float(get("ParameterRange")),
            background=bool(get("FitBackground")),
            elastic_tail=bool(get("FitElasticTail")), chi=get("SpectrumType") == "ChiPrime2",
            fit_resolution=bool(get("FitResolution")), error_model=get("ErrorModel"),
            seed=int(get("Seed")), initial=_initial(get("InitialParameterTable")),
            path=get("QPath"), zones=get("Zones"), time_reversal=bool(get("TimeReversal")),
            energy_resolution=float(get("EnergyResolution")),
            samples=int(get("SamplesPerBin")), model_file=get("AmortizedModel"))

    def _value(self, name: str):
        return self.getProperty(name).value

    def validateInputs(self):
        return self._requests.errors()

    def PyExec(self):
        requests, fit, _ = self._requests.take()
        progress = fraction_reporter(Progress(self, start=0.0, end=1.0, nreports=40), 40)
        result, series = _run(requests, fit, progress)
        for warning in result.warnings:
            self.log().warning(f"InvertForceConstants: {warning}")
        found = result.figures
        self.log().notice(
            f"InvertForceConstants ({result.method}): chi^2/dof {found.reduced_chi2:.4g}, "
            f"Pearson r {found.pearson_r:.4f}, NMSE {found.nmse:.4f} over {found.n_bins} bins, "
            f"{result.fit.evaluations} evaluations")
        self.setProperty("OutputWorkspace", to_workspace(result.fitted))
        self._optional_outputs(result)
        if self.getPropertyValue("OutputSeriesTable"):
            self.setProperty("OutputSeriesTable", _columns_table(*series))

    def _optional_outputs(self, result):
        if self.getPropertyValue("OutputResidualWorkspace"):
            self.setProperty("OutputResidualWorkspace", to_workspace(result.residual))
        if self.getPropertyValue("OutputDispersionWorkspace"):
            self.setProperty("OutputDispersionWorkspace", to_workspace(result.dispersion))
        if self.getPropertyValue("OutputParameterTable"):
            self.setProperty("OutputParameterTable", _table(result.table))
        path = self.getPropertyValue("OutputForceConstantsFile")
        if path:
            result.force_constants.save_phonopy_yaml(path)


def _validate(series) -> dict:
    from inslib.inversion.request import validate_inversion
    from inslib.inversion.series import validate_series

    requests, fit, errors = series
    if errors:
        return errors
    if len(requests) == 1 and fit == "Sequential":
        return validate_inversion(requests[0])
    return validate_series(requests, fit=fit)


def _run(requests: list, fit: str, progress) -> tuple:
    """Fit the maps; return InputWorkspace's InversionResult and (columns, rows) over them."""
    from inslib.inversion.request import inversion_temperature
    from inslib.inversion.run import invert
    from inslib.inversion.series import invert_joint, invert_series, joint_table, series_table

    if len(requests) == 1 and fit == "Sequential":
        result = invert(requests[0], progress=progress)
        return result, series_table([result])
    order = sorted(range(len(requests)), key=lambda k: inversion_temperature(requests[k]))
    first = order.index(0)  # InputWorkspace's place in order of temperature
    if fit == "Joint":
        joint = invert_joint(requests, progress=progress)
        result = joint.results[first]
        return replace(result, warnings=joint.warnings), joint_table(joint)
    results = invert_series(requests, progress=progress)
    return results[first], series_table(results)


def _workspace(name: str):
    """Return the histogram of a workspace name (or, on the built-in host, a file)."""
    if IN_MANTID:  # pragma: no cover - Mantid only
        from mantid.api import AnalysisDataService

        return from_workspace(AnalysisDataService.retrieve(name))
    holder = MatrixWorkspaceProperty("SeriesWorkspaces", "", Direction.Input)
    holder.set(name)
    return holder.value


def _initial(table) -> tuple:
    """(name, value) of the force-constant rows of a previous parameter table (finite Distance)."""
    if table is None:
        return ()
    rows = zip(table.column("Name"), table.column("Distance"), table.column("Value"),
               strict=True)
    return tuple((str(name), float(value)) for name, distance, value in rows
                 if math.isfinite(distance))  # NaN distance: nuisances and figures


def _table(rows):
    table = WorkspaceFactory.createTable()
    for kind, name in TABLE_COLUMNS:
        table.addColumn(kind, name)
    for row in rows:
        table.addRow(list(row))
    return table


def _columns_table(columns: list, rows: list):
    """Table of named columns: text where the first row holds text, else double."""
    table = WorkspaceFactory.createTable()
    for k, name in enumerate(columns):
        table.addColumn("str" if isinstance(rows[0][k], str) else "double", name)
    for row in rows:
        table.addRow([value if isinstance(value, str) else float(value) for value in row])
    return table


AlgorithmFactory.subscribe(InvertForceConstants)
