"""The built-in algorithm host (used when Mantid is not importable) and the CLI on it."""
