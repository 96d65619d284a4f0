"""Mantid-compatible property validators for the built-in host.

Each validator's ``isValid(value)`` returns "" when the value is acceptable and a message
otherwise, as Mantid's IValidator does.
"""

import numpy as np


class FloatBoundedValidator:
    """Accept numbers within [lower, upper] (either bound optional)."""

    def __init__(self, lower=None, upper=None, exclusive=False):
        self.lower, self.upper, self.exclusive = lower, upper, exclusive

    def isValid(self, value) -> str:
        """Return "" or why ``value`` is out of bounds."""
        if value is None:
            return ""
        low_bad = self.lower is not None and (
            value <= self.lower if self.exclusive else value < self.lower)
        high_bad = self.upper is not None and (
            value >= self.upper if self.exclusive else value > self.upper)
        if low_bad or high_bad:
            return f"{value} is outside {self.describe()}"
        return ""

    def describe(self) -> str:
        """Return the allowed range as text."""
        low = "-inf" if self.lower is None else f"{self.lower:g}"
        high = "inf" if self.upper is None else f"{self.upper:g}"
        brackets = "()" if self.exclusive else "[]"
        return f"{brackets[0]}{low}, {high}{brackets[1]}"


class IntBoundedValidator(FloatBoundedValidator):
    """Accept integers within [lower, upper]."""


class StringListValidator:
    """Accept one of a fixed list of strings (a combo box in Workbench)."""

    def __init__(self, values):
        self.values = [str(v) for v in values]

    def allowedValues(self) -> list:
        """Return the allowed strings."""
        return list(self.values)

    def isValid(self, value) -> str:
        """Return "" or why ``value`` is not in the list (empty only where listed)."""
        if value in self.values:
            return ""
        return f"{value!r} is not one of {self.describe()}"

    def describe(self) -> str:
        """Return the allowed values as text, an empty one shown as "(empty)"."""
        return " | ".join(value or "(empty)" for value in self.values)


class FloatArrayLengthValidator:
    """Accept float arrays of a given length."""

    def __init__(self, length):
        self.length = length

    def isValid(self, value) -> str:
        """Return "" or why ``value`` has the wrong length."""
        size = np.asarray(value).size
        if size in (0, self.length):
            return ""
        return f"needs {self.length} values, got {size}"

    def describe(self) -> str:
        """Return the required length as text."""
        return f"{self.length} values"


class WorkspaceUnitValidator:
    """Accept workspaces whose X axis (last axis) has the given unit ID."""

    def __init__(self, unit):
        self.unit = unit

    def isValid(self, value) -> str:
        """Return "" or why the workspace has the wrong units."""
        if value is None:
            return ""
        unit = value.axes[-1].unit
        if unit == self.unit:
            return ""
        return f"the workspace X axis is in {unit!r}, it must be in {self.unit!r}"

    def describe(self) -> str:
        """Return the required unit as text."""
        return f"X unit {self.unit}"
