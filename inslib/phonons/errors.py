"""Errors of the phonon layer."""


class ForceConstantsError(ValueError):
    """Force constants that cannot be read, are malformed or do not match their structure."""
