"""The built-in algorithm host: the subset of Mantid's Python algorithm API inslib uses.

Algorithm files written against :mod:`inslib.runtime.compat` run unchanged here and inside
Mantid: PythonAlgorithm (PyInit, validateInputs, PyExec, declareProperty, getProperty,
setProperty, setPropertyGroup), properties with Mantid's directions and validators,
workspace and file properties, Progress and AlgorithmFactory. Workspaces are
:class:`inslib.histogram.Histogram` objects kept in a dictionary standing in for Mantid's
AnalysisDataService; a workspace input may also name a file, which is loaded.
"""

import importlib.util
import logging
import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from inslib import PROJECT_ROOT
from inslib.histogram import Histogram

#: Workspaces by name, as Mantid's AnalysisDataService.
ADS: dict = {}
LOGGER = logging.getLogger("inslib")


class Direction:
    """Property directions (values as Mantid's)."""

    Input, Output, InOut = 0, 1, 2


class PropertyMode:
    """Whether a workspace property must be set."""

    Mandatory, Optional = 0, 1


class FileAction:
    """What a file property does with its file (values as Mantid's)."""

    Save, OptionalSave, Load, OptionalLoad = 0, 1, 2, 3


class InvalidArgumentsError(ValueError):
    """Properties failed validation; ``errors`` maps property name to message."""

    def __init__(self, algorithm: str, errors: dict):
        self.errors = dict(errors)
        lines = "\n".join(f"  {message}" if message.startswith(name) else f"  {name}: {message}"
                          for name, message in self.errors.items())  # no "Ei: Ei=..." twice
        super().__init__(f"Invalid input for {algorithm}:\n{lines}")


class Property:
    """A typed algorithm property; the type is inferred from the default, as in Mantid."""

    kind = "value"

    def __init__(self, name, default=None, validator=None, direction=Direction.Input, doc=""):
        self.name, self.default, self.validator = name, default, validator
        self.direction, self.doc = direction, doc
        self.type = type(default).__name__ if default is not None else "str"
        self._value = default

    @property
    def value(self):
        """The current value (typed)."""
        return self._value

    @property
    def isDefault(self) -> bool:
        """Whether the property still holds its default."""
        return self._value == self.default

    def set(self, value) -> None:
        """Set from a typed value or from a string (command line)."""
        if isinstance(value, str) and self.type in ("float", "int", "bool"):
            value = {"float": float, "int": _to_int, "bool": _to_bool}[self.type](value)
        self._value = value

    def check(self) -> str:
        """Return "" or why the value is invalid."""
        return self.validator.isValid(self._value) if self.validator else ""

    def allowed(self) -> str:
        """Describe the allowed values ("" when anything of the type goes)."""
        return self.validator.describe() if self.validator else ""


def _to_int(text: str) -> int:
    number = float(text)
    if not number.is_integer():
        msg = f"{text!r} is not an integer"
        raise ValueError(msg)
    return int(number)


def _to_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    msg = f"{text!r} is not a boolean (use true/false)"
    raise ValueError(msg)


class FloatArrayProperty(Property):
    """A list of floats; from the command line, comma-separated."""

    def __init__(self, name, values=(), validator=None, direction=Direction.Input, doc=""):
        super().__init__(name, np.asarray(values, float), validator, direction, doc)
        self.type = "float list"

    @property
    def isDefault(self) -> bool:
        """Whether the property still holds its default."""
        return np.array_equal(self._value, self.default)

    def set(self, value) -> None:
        """Set from a sequence or a "1,2,3" string."""
        if isinstance(value, str):
            value = [float(v) for v in value.replace(" ", "").split(",") if v]
        self._value = np.asarray(value, float)


class FileProperty(Property):
    """A file name; Load actions need an existing file.

    As in Mantid, ``extensions`` filter the file dialog (and ``describe`` lists them): a file
    with another name is not refused here, the algorithm's reader decides.
    """

    kind = "file"

    def __init__(self, name, default, action, extensions=(), direction=Direction.Input):
        # no doc argument: Mantid's FileProperty has none (declareProperty(prop, doc) gives it)
        super().__init__(name, default, None, direction)
        self.action, self.extensions = action, list(extensions)
        self.type = "file"

    def check(self) -> str:
        """Return "" or why the file cannot be used."""
        path = str(self._value or "")
        optional = self.action in (FileAction.OptionalLoad, FileAction.OptionalSave)
        if not path:
            return "" if optional else "a file name is required"
        if self.action in (FileAction.Load, FileAction.OptionalLoad) and not Path(path).is_file():
            return f"file {path!r} does not exist"
        return ""

    def allowed(self) -> str:
        """Describe the extensions the file dialog offers ("" when any file goes)."""
        return f"files {', '.join(self.extensions)}" if self.extensions else ""


class WorkspaceProperty(Property):
    """A workspace: an input is a Histogram, a workspace name or a file; an output a name."""

    kind = "workspace"

    def __init__(self, name, default, direction, optional=PropertyMode.Mandatory,
                 validator=None):
        # no doc argument, as Mantid's workspace properties (declareProperty(prop, doc) gives it)
        super().__init__(name, default, validator, direction)
        self.optional, self.workspace, self.type = optional, None, "workspace"

    @property
    def value(self):
        """The workspace (None when unset)."""
        return self.workspace

    @property
    def isDefault(self) -> bool:
        """Whether no workspace was given."""
        return not self._value and self.workspace is None

    held = Histogram  # the in-memory object an input may be given as

    def set(self, value) -> None:
        """Set from the in-memory object or from a workspace/file name."""
        if isinstance(value, self.held):
            self.workspace = value
            if self.direction == Direction.Input:
                self._value = self._value or f"<{self.type}>"
            return
        self._value = str(value)
        if self.direction != Direction.Output:
            self.workspace = self.resolve(self._value) if value else None

    def resolve(self, name: str):
        """Return the workspace of an ADS name or a file."""
        return _resolve_workspace(self.name, name)

    def check(self) -> str:
        """Return "" or why the workspace is missing or invalid."""
        if self.direction == Direction.Output:
            return "" if self._value or self.optional else "an output workspace name is required"
        if self.workspace is None:
            return "" if self.optional == PropertyMode.Optional else "a workspace is required"
        return self.validator.isValid(self.workspace) if self.validator else ""


def _resolve_workspace(prop: str, name: str) -> Histogram:
    if name in ADS:
        return ADS[name]
    if Path(name).is_file():
        from inslib.io.files import load_workspace

        return load_workspace(name)
    msg = f"{prop}={name!r}: no workspace or file of that name."
    raise ValueError(msg)


MatrixWorkspaceProperty = WorkspaceProperty
IMDHistoWorkspaceProperty = WorkspaceProperty


def _plain_property(name, default=None, validator=None, doc="", direction=Direction.Input):
    """Build a property from Mantid's declareProperty(name, defaultValue, ...) arguments."""
    return Property(name, default, validator, direction, doc)


class Progress:
    """Reports the fraction done to the host (a progress bar on the command line)."""

    def __init__(self, algorithm, start=0.0, end=1.0, nreports=1):
        self.algorithm, self.start, self.end = algorithm, start, end
        self.steps, self.done = max(int(nreports), 1), 0

    def report(self, message: str = "") -> None:
        """Advance one step and notify the host."""
        self.done = min(self.done + 1, self.steps)
        fraction = self.start + (self.end - self.start) * self.done / self.steps
        self.algorithm.notify_progress(fraction, message)

    def resetNumSteps(self, nsteps, start, end) -> None:
        """Restart with a new number of steps over [start, end]."""
        self.__init__(self.algorithm, start, end, nsteps)


class PythonAlgorithm:
    """Base class of algorithms: the Mantid API subset inslib's algorithm files use."""

    progress_callback = None

    def __init__(self):
        self._properties: dict = {}
        self._groups: dict = {}

    def version(self) -> int:
        """Algorithm version (1)."""
        return 1

    def seeAlso(self) -> list:
        """Related algorithms."""
        return []

    def validateInputs(self) -> dict:
        """Cross-property checks: {property name: message}."""
        return {}

    def initialize(self) -> None:
        """Declare the properties (calls PyInit)."""
        self.PyInit()

    def declareProperty(self, prop, *args, **kwargs):
        """Declare a property as Mantid's overloads do.

        ``declareProperty(property_object, doc="")`` or ``declareProperty(name, defaultValue,
        validator=None, doc="", direction=Direction.Input)``.
        """
        if isinstance(prop, Property):
            doc = args[0] if args else kwargs.pop("doc", "")
            if len(args) > 1 or kwargs:
                msg = (f"declareProperty({prop.name!r}, ...): a property object takes only a "
                       f"doc string, got {args[1:]} {kwargs}")
                raise TypeError(msg)
            prop.doc = doc or prop.doc
        else:
            prop = _plain_property(prop, *args, **kwargs)
        self._properties[prop.name] = prop

    def setPropertyGroup(self, name, group) -> None:
        """Group a property in the dialog (kept for `describe`)."""
        self._groups[name] = group

    def getPropertyGroup(self, name) -> str:
        """Return the group a property is shown in ("" for none; Mantid's Property.getGroup)."""
        return self._groups.get(name, "")

    def setPropertySettings(self, name, settings) -> None:
        """Dialog enable/visible rules: Workbench only, ignored here."""

    def getProperties(self) -> list:
        """Return the declared properties in order."""
        return list(self._properties.values())

    def getProperty(self, name) -> Property:
        """Return a property by name."""
        try:
            return self._properties[name]
        except KeyError:
            msg = (
                f"{self.name()} has no property {name!r}; "
                           f"it has {list(self._properties)}."
            )
            raise KeyError(msg) from None

    def getPropertyValue(self, name) -> str:
        """Return a property's value as text (a workspace's name)."""
        prop = self.getProperty(name)
        return str(prop._value) if prop.kind == "workspace" else str(prop.value)

    def setProperty(self, name, value) -> None:
        """Set a property from a typed value or a string."""
        self.getProperty(name).set(value)

    def log(self):
        """Return the logger (information/warning/notice/error as Mantid's)."""
        return _MantidLogger()

    def notify_progress(self, fraction, message) -> None:
        """Pass progress to the host's callback, if any."""
        if self.progress_callback is not None:
            self.progress_callback(fraction, message)

    def execute(self) -> None:
        """Validate every property and the cross-checks, then run PyExec."""
        errors = {p.name: msg for p in self._properties.values() if (msg := p.check())}
        if not errors:
            errors = {k: v for k, v in self.validateInputs().items() if v}
        if errors:
            raise InvalidArgumentsError(self.name(), errors)
        self.PyExec()
        for prop in self._properties.values():
            if prop.kind == "workspace" and prop.direction != Direction.Input and prop.workspace:
                ADS[prop._value] = prop.workspace


class _MantidLogger:
    def information(self, message):
        LOGGER.info(message)

    def notice(self, message):
        LOGGER.info(message)

    def warning(self, message):
        LOGGER.warning(message)

    def error(self, message):
        LOGGER.error(message)


class AlgorithmFactory:
    """Registry of algorithm classes (Mantid's AlgorithmFactory.subscribe)."""

    registry: ClassVar[dict] = {}

    @classmethod
    def subscribe(cls, algorithm_class) -> None:
        """Register an algorithm class under its name()."""
        cls.registry[algorithm_class().name()] = algorithm_class


def algorithms_dir() -> Path:
    """Return the folder of algorithm files (INSLIB_ALGORITHMS_DIR overrides)."""
    return Path(os.environ.get("INSLIB_ALGORITHMS_DIR", PROJECT_ROOT / "algorithms"))


def load_algorithms() -> dict:
    """Import every algorithm file once (each subscribes itself) and return the registry."""
    for path in sorted(algorithms_dir().glob("*.py")):
        if path.stem in AlgorithmFactory.registry:
            continue
        spec = importlib.util.spec_from_file_location(f"inslib_algorithms.{path.stem}", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return AlgorithmFactory.registry


def create_algorithm(name: str) -> PythonAlgorithm:
    """Return an initialised instance of a registered algorithm."""
    registry = load_algorithms()
    if name not in registry:
        msg = f"Unknown algorithm {name!r}; available: {', '.join(sorted(registry))}."
        raise KeyError(msg)
    algorithm = registry[name]()
    algorithm.initialize()
    return algorithm


def run_algorithm(name: str, progress=None, **properties) -> dict:
    """Run an algorithm as Mantid's simpleapi does and return its outputs.

    Parameters
    ----------
    name : str
        Algorithm name.
    progress : callable, optional
        Called as progress(fraction, message).
    **properties
        Property values (typed or strings).

    Returns
    -------
    dict
        Output property name -> value (workspaces as Histogram).
    """
    algorithm = create_algorithm(name)
    algorithm.progress_callback = progress
    errors = {}
    for key, value in properties.items():
        try:
            algorithm.setProperty(key, value)
        except (ValueError, KeyError) as err:
            errors[key] = str(err).strip("'\"")
    if errors:
        raise InvalidArgumentsError(name, errors)
    algorithm.execute()
    return {p.name: p.value for p in algorithm.getProperties() if p.direction != Direction.Input}
