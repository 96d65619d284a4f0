"""Turn fraction-of-work callbacks into Mantid-style Progress.report calls."""


def fraction_reporter(progress, steps: int):
    """Return f(fraction, message) that calls ``progress.report(message)`` once per step passed.

    ``progress`` is a Mantid (or host) Progress made with ``nreports=steps``.
    """
    state = {"done": 0}

    def report(fraction: float, message: str) -> None:
        target = min(steps, int(fraction * steps + 1e-9))
        while state["done"] < target:
            state["done"] += 1
            progress.report(message)

    return report
