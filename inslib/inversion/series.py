"""A temperature series: maps of one sample at several temperatures, inverted in sequence.

Each fit starts from the previous temperature's optimum (the force constants change slowly
with temperature), and the result is one table over temperature. Inside Mantid, a
WorkspaceGroup given as InputWorkspace runs InvertForceConstants once per member (Mantid's
group processing, each member's temperature from its log with Temperature = -1); this function
is the same in sequence, with warm starts, for scripts and the built-in host.
"""

from dataclasses import replace

from inslib.inversion.request import inversion_temperature
from inslib.inversion.run import invert


def invert_series(requests: list, progress=None) -> list:
    """Invert requests in order of temperature, each started from the previous optimum.

    Parameters
    ----------
    requests : list of InversionRequest
        One per measured map, same force constants and shells.
    progress : callable, optional
        progress(fraction, message) over the whole series.

    Returns
    -------
    list of InversionResult
        In order of increasing temperature.
    """
    ordered = sorted(requests, key=inversion_temperature)
    results, initial = [], ()
    for k, request in enumerate(ordered):
        report = _part(progress, k, len(ordered), inversion_temperature(request))
        result = invert(replace(request, initial=initial, _errors=None), report)
        initial = tuple((row[0], row[2]) for row in result.table[:result.fit.problem.n_params])
        results.append(result)
    return results


def series_table(results: list) -> tuple[list, list]:
    """Columns and rows of the table over temperature.

    Returns
    -------
    columns : list of str
        "Temperature" (K), then "<parameter>" and "<parameter>_Error" (eV/Angstrom^2) for each
        parameter, then "ChiSquaredPerDoF".
    rows : list of tuple
        One per result.
    """
    names = results[0].fit.problem.names
    columns = ["Temperature"]
    for name in names:
        columns += [name, f"{name}_Error"]
    rows = []
    for result in results:
        row = [result.temperature]
        for value, sigma in zip(result.fit.params, result.fit.sigma, strict=True):
            row += [float(value), float(sigma)]
        rows.append((*row, result.figures.reduced_chi2))
    return [*columns, "ChiSquaredPerDoF"], rows


def _part(progress, k: int, n: int, temperature: float):
    if progress is None:
        return None
    return lambda fraction, message: progress((k + fraction) / n,
                                              f"{temperature:g} K: {message}")
