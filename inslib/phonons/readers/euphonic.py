"""CASTEP .castep_bin and euphonic ForceConstants JSON, read through euphonic.

Returns the fields of :class:`inslib.phonons.force_constants.ForceConstants` (euphonic's force
constants are short-ranged already, in its own (n_cells, 3N, 3N) layout).
"""

from pathlib import Path

import numpy as np

from inslib.phonons.errors import ForceConstantsError
from inslib.structure import Crystal


def read_euphonic(path: Path, kind: str) -> dict:
    """Fields of ForceConstants from a euphonic JSON (``kind`` "json") or a .castep_bin."""
    from euphonic import ForceConstants as EuphonicFC

    reader = EuphonicFC.from_json_file if kind == "json" else EuphonicFC.from_castep
    try:
        efc = reader(str(path))
    except Exception as exc:
        msg = f"ForceConstantsFile {path.name!r} could not be read by euphonic: {exc}"
        raise ForceConstantsError(msg) from exc
    return from_euphonic(efc, source=str(path))


def from_euphonic(efc, source: str = "") -> dict:
    """Fields of ForceConstants from an euphonic ForceConstants object (already short-ranged)."""
    c = efc.crystal
    crystal = Crystal(c.cell_vectors.to("angstrom").magnitude, c.atom_r, list(c.atom_type),
                      c.atom_mass.to("amu").magnitude)
    born = None if efc.born is None else efc.born.to("e").magnitude
    diel = None if efc.dielectric is None else np.asarray(efc.dielectric.magnitude)
    return {"crystal": crystal, "fc": efc.force_constants.to("eV/angstrom**2").magnitude,
            "cell_origins": np.asarray(efc.cell_origins), "sc_matrix": np.asarray(efc.sc_matrix),
            "born": born, "dielectric": diel, "source": source}
