"""CompareWithSimulation: fit a simulated S(|Q|,E) to a measured one (scale + flat background).

The algorithm form of ``inslib compare``; the figures come from :func:`inslib.compare.compare`.
Runs unchanged inside Mantid (put this folder in user.python.plugins.directories), on inslib's
built-in host (``inslib run CompareWithSimulation ...``) and as live-data post-processing
(docs/live_reduction.md).
"""

from inslib.compare import compare, comparison_errors, residual
from inslib.runtime.compat import (
    AlgorithmFactory,
    Direction,
    ITableWorkspaceProperty,
    MatrixWorkspaceProperty,
    Progress,
    PropertyMode,
    PythonAlgorithm,
    WorkspaceFactory,
    from_workspace,
    to_workspace,
)

#: comparison_errors' roles -> this algorithm's properties
_PROPERTIES = {"model": "SimulationWorkspace", "measured": "InputWorkspace", "e_min": "EMin"}


class CompareWithSimulation(PythonAlgorithm):
    """Scale, background, Pearson r, R-factor (and chi^2/dof) of a simulation against data."""

    def category(self):
        return "Inelastic\\Simulation"

    def name(self):
        return "CompareWithSimulation"

    def summary(self):
        return ("Fits measured = scale * simulated + background over the bins covered in both "
                "above an energy cut; returns the residual map and a table of scale, "
                "background (with standard errors), Pearson r, R-factor and chi^2/dof.")

    def seeAlso(self):
        return ["SimulatePowderSQE", "CreateSQETemplate", "Fit"]

    def PyInit(self):
        self.declareProperty(MatrixWorkspaceProperty("InputWorkspace", "", Direction.Input),
                             "Measured S(|Q|,E) (Workspace2D: |Q| vertical axis, DeltaE in "
                             "meV); its errors give the standard errors and chi^2.")
        self.declareProperty(MatrixWorkspaceProperty("SimulationWorkspace", "", Direction.Input),
                             "Simulated S(|Q|,E) on the same bins: run SimulatePowderSQE with "
                             "InputWorkspace = the measured workspace.")
        self.declareProperty("EMin", 0.0, doc="Energy cut (meV): only bins with centres above "
                                              "it are compared (the elastic line is not "
                                              "modelled); 0 = 3 elastic-line FWHM of the "
                                              "maps' resolution (8 meV without one).")
        self.declareProperty("FitBackground", True,
                             doc="Fit a flat background as well as the scale.")
        self.declareProperty(MatrixWorkspaceProperty("OutputWorkspace", "", Direction.Output),
                             "Residual: measured - (scale * simulated + background) on the "
                             "measured bins, NaN where not compared.")
        self.declareProperty(ITableWorkspaceProperty("OutputTable", "", Direction.Output,
                                                     PropertyMode.Optional),
                             "Table (Name, Value, Error) of Scale, Background, PearsonR, "
                             "RFactor, NBins, EMin and, when every compared bin has an error "
                             "> 0, ChiSquaredPerDoF.")

    def _e_min(self):
        """EMin in meV, or None (0) for the default cut from the resolution."""
        return float(self.getProperty("EMin").value) or None

    def _maps(self):
        return (from_workspace(self.getProperty("SimulationWorkspace").value),
                from_workspace(self.getProperty("InputWorkspace").value))

    def validateInputs(self):
        if (self.getProperty("InputWorkspace").value is None
                or self.getProperty("SimulationWorkspace").value is None):
            return {}
        errors = comparison_errors(*self._maps(), self._e_min())
        return {_PROPERTIES[role]: message for role, message in errors.items()}

    def PyExec(self):
        progress = Progress(self, start=0.0, end=1.0, nreports=3)
        model, measured = self._maps()
        progress.report("Fitting scale and background")
        result = compare(model, measured, self._e_min(),
                         bool(self.getProperty("FitBackground").value))
        self.log().notice(_summary(result))
        progress.report("Residual map")
        self.setProperty("OutputWorkspace", to_workspace(residual(model, measured, result)))
        if self.getPropertyValue("OutputTable"):
            self.setProperty("OutputTable", _table(result))
        progress.report("Done")


def _summary(result) -> str:
    chi2 = "" if result.chi2_dof is None else f"  chi^2/dof {result.chi2_dof:.4g}"
    return (f"CompareWithSimulation: scale {result.scale:.6g} +- {result.scale_error:.2g}  "
            f"background {result.background:.6g} +- {result.background_error:.2g}  "
            f"Pearson r {result.pearson_r:.4f}  R-factor {result.r_factor:.4f}{chi2}  "
            f"({result.n_bins} bins, E > {result.e_min:g} meV)")


def _table(result):
    table = WorkspaceFactory.createTable()
    table.addColumn("str", "Name")
    table.addColumn("double", "Value")
    table.addColumn("double", "Error")
    rows = [("Scale", result.scale, result.scale_error),
            ("Background", result.background, result.background_error),
            ("PearsonR", result.pearson_r, 0.0), ("RFactor", result.r_factor, 0.0),
            ("NBins", result.n_bins, 0.0), ("EMin", result.e_min, 0.0)]
    if result.chi2_dof is not None:
        rows.append(("ChiSquaredPerDoF", result.chi2_dof, 0.0))
    for name, value, error in rows:
        table.addRow([name, float(value), float(error)])
    return table


AlgorithmFactory.subscribe(CompareWithSimulation)
