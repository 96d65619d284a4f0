"""Progress: fraction-of-work callbacks as Mantid-style Progress.report calls or a text bar."""

import sys

_BAR = {"open": False}  # a progress line without its newline yet


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


def progress_bar(fraction: float, message: str) -> None:
    """Draw a 30-character progress bar with ``message`` on stderr (ends the line at 1.0)."""
    width = 30
    filled = round(width * fraction)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% "
                     f"{message:40.40s}")
    _BAR["open"] = fraction < 1.0
    if not _BAR["open"]:
        sys.stderr.write("\n")
    sys.stderr.flush()


def end_progress_line() -> None:
    """End a progress bar's unfinished line (before an error message gets its own)."""
    if _BAR["open"]:
        sys.stderr.write("\n")
        _BAR["open"] = False
