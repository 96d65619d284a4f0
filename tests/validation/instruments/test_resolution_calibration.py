"""Chopper-spectrometer resolution (resins PyChop fits) against MEASURED vanadium widths.

Data: tests/data/shared/resolution_calibration (sns-chops/resolution @ 667ba325): elastic-line
FWHM of vanadium vs Ei and chopper settings. The headers name one column fewer than the
rows hold: column 0 is an index. The files do not name the Fermi package; the mapping below
is the only one consistent with the data (other assignments are off by 30-60 % in median):
ARCS FC1 = ARCS-700-1.5-AST at Chopper1's frequency, FC2 = ARCS-100-1.5-AST at Chopper2's;
SEQUOIA chopper_choice 0 = SEQ-100-2.0-AST at Chopper2's frequency, 1 = SEQ-700-3.5-AST at
Chopper1's; CNCS HighFlux / HighRes = "High Flux" / "High Resolution" packages (Chopper1 =
Fermi-type chopper, Chopper41 = resolution disks).
Rows whose Gaussian fit failed are dropped: FWHM <= 0, or a fitted Ei more than 5 % from the
nominal one (the fit locked onto another line). Rows whose setting resins refuses (Ei out of
range, no chopper transmission) are counted, not compared.
"""

import numpy as np
import pytest

from inslib.instruments import load_instrument
from inslib.instruments.resolution import resolution_fwhm

pytestmark = pytest.mark.validation

MEDIAN_LIMIT = 0.15  # the acceptance figure: median |relative error| within 15 %


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


CASES = {
    "ARCS": [("ARCS_V_Cali_Int_Res_FC1_2018_v2.dat", 9, lambda r: _arcs(r, "ARCS-700-1.5-AST")),
             ("ARCS_V_Cali_Int_Res_FC2_2018_v2.dat", 9, lambda r: _arcs(r, "ARCS-100-1.5-AST"))],
    "SEQUOIA": [("SEQUOIA_V_Cali_Int_Res_All.dat", 9, _sequoia),
                ("SEQUOIA_V_Cali_Int_Res_All-IPTS_22666.dat", 9, _sequoia)],
    "CNCS": [("CNCS_V_Cali_Int_Res_HighFlux.dat", 10, lambda r: _cncs(r, "High Flux")),
             ("CNCS_V_Cali_Int_Res_HighRes.dat", 10, lambda r: _cncs(r, "High Resolution"))],
}


def relative_errors(folder, name):
    """Return (model/measured - 1 per compared row, rows dropped, rows refused)."""
    instrument = load_instrument(name)
    errors, dropped, refused = [], 0, 0
    for filename, fwhm_column, settings_of in CASES[name]:
        for row in np.loadtxt(folder / filename):
            nominal, ei, measured = row[2], row[3], row[fwhm_column]
            if measured <= 0 or abs(ei / nominal - 1) > 0.05:
                dropped += 1
                continue
            try:
                model = resolution_fwhm(instrument, np.array([0.0]), ei=ei,
                                        settings=settings_of(row))[0]
            except ValueError:
                refused += 1
                continue
            errors.append(model / measured - 1)
    return np.array(errors), dropped, refused


@pytest.mark.parametrize("name", list(CASES))
def test_elastic_resolution_matches_measured_vanadium(shared, name):
    errors, dropped, refused = relative_errors(shared / "resolution_calibration", name)
    median, worst = np.median(np.abs(errors)), np.max(np.abs(errors))
    print(f"\n{name}: {errors.size} settings compared ({dropped} failed fits dropped, "
          f"{refused} refused by the model): median |error| {100 * median:.1f} %, "
          f"worst {100 * worst:.1f} %, median signed {100 * np.median(errors):+.1f} %")
    assert errors.size >= 30
    assert median < MEDIAN_LIMIT
