"""MEASURED vanadium elastic widths of chopper spectrometers, and the model's ratio to them.

``python -m inslib.instruments.vanadium ARCS FOLDER`` derives ARCS's width-factor table
(:mod:`inslib.instruments.calibration`) from the vanadium files in FOLDER (sns-chops/resolution,
copied in tests/data/shared/resolution_calibration) and prints it as the instrument file's
``resolution.width_factor.table``.
"""

import sys
from pathlib import Path

import numpy as np

from inslib.instruments import Instrument, load_instrument
from inslib.instruments.calibration import fit_width_table
from inslib.instruments.resolution import bare_fwhm


def _arcs(row, package):
    column = 5 if row[4] == 1 else 6
    return {"chopper_package": package, "chopper_frequency": int(row[column])}


def _sequoia(row):
    if row[4] == 0:
        return {"chopper_package": "SEQ-100-2.0-AST", "chopper_frequency": int(row[6])}
    return {"chopper_package": "SEQ-700-3.5-AST", "chopper_frequency": int(row[5])}


def _cncs(row, package):
    return {"chopper_package": package, "fermi_frequency": int(row[4]),
            "resolution_disk_frequency": int(row[7])}


#: Vanadium calibration files per instrument: (file, FWHM column, row -> settings).
#: The headers name one column fewer than the rows hold: column 0 is an index, then run,
#: nominal Ei, fitted Ei, chopper choice, chopper frequencies. The files do not name the Fermi
#: package; these are the only assignments consistent with the data (others are off by 30-60 %
#: in median): ARCS FC1 = ARCS-700-1.5-AST at Chopper1's frequency, FC2 = ARCS-100-1.5-AST at
#: Chopper2's; SEQUOIA choice 0 = SEQ-100-2.0-AST at Chopper2's, 1 = SEQ-700-3.5-AST at
#: Chopper1's; CNCS HighFlux / HighRes = "High Flux" / "High Resolution" (Chopper1 = Fermi-type
#: chopper, Chopper41 = resolution disks).
VANADIUM_FILES = {
    "ARCS": [("ARCS_V_Cali_Int_Res_FC1_2018_v2.dat", 9, lambda r: _arcs(r, "ARCS-700-1.5-AST")),
             ("ARCS_V_Cali_Int_Res_FC2_2018_v2.dat", 9, lambda r: _arcs(r, "ARCS-100-1.5-AST"))],
    "SEQUOIA": [("SEQUOIA_V_Cali_Int_Res_All.dat", 9, _sequoia),
                ("SEQUOIA_V_Cali_Int_Res_All-IPTS_22666.dat", 9, _sequoia)],
    "CNCS": [("CNCS_V_Cali_Int_Res_HighFlux.dat", 10, lambda r: _cncs(r, "High Flux")),
             ("CNCS_V_Cali_Int_Res_HighRes.dat", 10, lambda r: _cncs(r, "High Resolution"))],
}


def vanadium_widths(folder, name: str) -> tuple[list, int]:
    """Read an instrument's measured vanadium elastic widths.

    Rows whose Gaussian fit failed are dropped: FWHM <= 0, or a fitted Ei more than 5 % from
    the nominal one (the fit locked onto another line).

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding the files of :data:`VANADIUM_FILES`.
    name : str
        Instrument name, a key of :data:`VANADIUM_FILES`.

    Returns
    -------
    list of (dict, float, float)
        (settings, Ei in meV, measured FWHM in meV) per kept row.
    int
        Rows dropped.
    """
    widths, dropped = [], 0
    for filename, fwhm_column, settings_of in VANADIUM_FILES[name]:
        for row in np.loadtxt(Path(folder) / filename):
            nominal, ei, measured = row[2], row[3], row[fwhm_column]
            if measured <= 0 or abs(ei / nominal - 1) > 0.05:
                dropped += 1
                continue
            widths.append((settings_of(row), float(ei), float(measured)))
    return widths, dropped


def model_ratios(instrument: Instrument, widths: list) -> tuple[list, int]:
    """Return measured / bare-model FWHM at E = 0 per setting the model accepts.

    Parameters
    ----------
    instrument : Instrument
        The instrument; its width factor is not applied (the bare model).
    widths : list
        Output of :func:`vanadium_widths`.

    Returns
    -------
    list of (dict, float, float)
        (settings, Ei in meV, measured / model) per compared row.
    int
        Rows the model refuses (Ei out of range, no chopper transmission).
    """
    ratios, refused = [], 0
    for settings, ei, measured in widths:
        try:
            model = bare_fwhm(instrument, np.array([0.0]), ei, settings)[0]
        except ValueError:
            refused += 1
            continue
        ratios.append((settings, ei, measured / model))
    return ratios, refused


def main(argv=None) -> int:
    """Print the calibration table of an instrument (``NAME FOLDER``) as instrument-file YAML."""
    name, folder = (sys.argv[1:] if argv is None else argv)[:2]
    instrument = load_instrument(name)
    ratios, refused = model_ratios(instrument, vanadium_widths(folder, name)[0])
    table = fit_width_table(ratios)
    print(f"# {len(ratios)} settings compared ({refused} refused by the model), "
          f"{len(table)} after merging repeats")
    print("    table:\n      columns: [chopper_package, chopper_frequency, ei_meV, ratio]\n"
          "      rows:")
    for row in table:
        print(f"      - [{row[0]}, {row[1]}, {row[2]}, {row[3]}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
