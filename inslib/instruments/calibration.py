"""Energy-width calibration of chopper spectrometers against MEASURED vanadium elastic lines.

The PyChop model of ARCS is narrower than the measured vanadium elastic line by a ratio that
depends on the setting: it rises with chopper frequency, steps at Ei = 130 meV (where the PyChop
fit switches the moderator's storage constant) and peaks near Ei = 400-500 meV at high frequency
(docs/validation.md). No single factor, added width or per-frequency factor takes the median
error under 8 %. The instrument file therefore holds, per measured setting (chopper package,
frequency, Ei), the ratio measured FWHM / model FWHM at E = 0, and the factor of any setting is
interpolated from that table (:func:`table_factor`): linearly in log Ei along the setting's
frequency, clamped at the measured ends, and linearly in frequency between the two nearest
measured frequencies. Held out (each setting, or each frequency, predicted from the rest), the
median error is 1.6-1.8 % (tests/validation/instruments/test_resolution_calibration.py).

``python -m inslib.instruments.vanadium ARCS FOLDER`` derives the table from the vanadium
files in FOLDER (sns-chops/resolution, copied in tests/data/shared/resolution_calibration) and
prints it as the instrument file's ``resolution.width_factor.table``.
"""

import numpy as np

#: Repeated measurements of one setting: Ei within this relative distance are merged.
SAME_EI = 0.02


def fit_width_table(ratios: list) -> list:
    """Merge repeated settings into the calibration table (geometric means).

    Parameters
    ----------
    ratios : list
        Output of :func:`model_ratios` (ARCS-like settings: chopper_package, chopper_frequency).

    Returns
    -------
    list of [str, int, float, float]
        [chopper package, chopper frequency in Hz, Ei in meV, measured / model FWHM], sorted;
        Ei to 0.1 meV and the ratio to 1e-4.
    """
    keyed = sorted((s["chopper_package"], s["chopper_frequency"], ei, ratio)
                   for s, ei, ratio in ratios)
    groups = []
    for row in keyed:
        last = groups[-1][-1] if groups else None
        if last and last[:2] == row[:2] and abs(np.log(row[2] / last[2])) < SAME_EI:
            groups[-1].append(row)
        else:
            groups.append([row])
    return [[g[0][0], int(g[0][1]), round(float(np.exp(np.mean(np.log([r[2] for r in g])))), 1),
             round(float(np.exp(np.mean(np.log([r[3] for r in g])))), 4)] for g in groups]


def table_factor(rows: list, package: str, frequency, ei: float) -> float | None:
    """Interpolate the calibration table at one setting.

    Parameters
    ----------
    rows : list of [str, int, float, float]
        The table (:func:`fit_width_table`).
    package : str
        Chopper package.
    frequency : int
        Chopper frequency in Hz.
    ei : float
        Incident energy in meV.

    Returns
    -------
    float or None
        measured / model FWHM: linear in log Ei along each measured frequency (clamped at its
        ends), linear in frequency between the two nearest measured frequencies (the nearest
        one outside them); None when the table has no row for ``package``.
    """
    lines = {}
    for name, line_frequency, line_ei, ratio in rows:
        if name == package:
            lines.setdefault(line_frequency, []).append((np.log(line_ei), np.log(ratio)))
    if not lines:
        return None
    measured = np.array(sorted(lines), dtype=float)
    below, above = measured[measured <= frequency], measured[measured >= frequency]
    if not below.size or not above.size:
        nearest = (below if below.size else above)[-1 if below.size else 0]
        return float(np.exp(_along(lines[int(nearest)], ei)))
    low, high = int(below[-1]), int(above[0])
    weight = 0.0 if high == low else (frequency - low) / (high - low)
    return float(np.exp((1 - weight) * _along(lines[low], ei) + weight * _along(lines[high], ei)))


def _along(line: list, ei: float) -> float:
    """log(ratio) of one frequency's line at ``ei`` (linear in log Ei, clamped)."""
    x, y = np.array(sorted(line)).T
    return float(np.interp(np.log(ei), x, y))
