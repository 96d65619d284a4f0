"""SimulationError and the one helper that turns {property: message} into it."""


class SimulationError(ValueError):
    """A request that cannot be run; the message names the property, the value and the fix."""


def format_errors(errors: dict) -> str:
    """Return "Property: message; Property: message" for {property: message}."""
    return "; ".join(f"{name}: {message}" for name, message in errors.items())


def raise_errors(errors: dict) -> None:
    """Raise SimulationError listing {property: message} when there is any."""
    if errors:
        raise SimulationError(format_errors(errors))
