"""The commensurate q-points of each SimulateMDSQE output, with the checks that refuse a request.

PowderSQE: |Q| bins of the template (:mod:`inslib.md.qpoints`); IndirectSE: |Q| bins along
the analyser banks' trajectories (:mod:`inslib.md.indirect`); QPath: points along the path
(:mod:`inslib.md.qpath`). Every result has ``q_points`` (n_q, 3), ``bins`` (n_q,) and
``counts`` (n_rows,): the rows the per-q-point spectra are averaged into.
"""

import numpy as np

from inslib.md.indirect import bank_angles, indirect_qpoints
from inslib.md.qpath import path_qpoints
from inslib.md.qpoints import SamplingError, powder_qpoints, reciprocal_spacing
from inslib.md.setting import EnergySetting

MAX_EMPTY_FRACTION = 0.5  # an output with more of its wanted |Q| bins empty is refused


def md_qpoints(request, setting: EnergySetting, cell: np.ndarray, max_per_bin: int):
    """q-points of ``request.output`` for a supercell ``cell`` ((3, 3) rows, Angstrom).

    ``request``: an MDRequest; ``setting``: its :func:`inslib.md.setting.energy_setting`.

    Raises
    ------
    SamplingError
        Naming the property: too many empty |Q| bins, a path the supercell cannot sample.
    """
    if request.output == "QPath":
        return path_qpoints(path=request.path, crystal=path_crystal(request), cell=cell,
                            step=request.path_step, elastic=request.elastic)
    if request.output == "IndirectSE":
        chosen = indirect_qpoints(cell=cell, q_binning=request.template.q_binning,
                                  e_edges=setting.e_edges, efixed=setting.fixed,
                                  angles=bank_angles(setting.instrument),
                                  max_per_bin=max_per_bin, seed=request.seed)
        hit = chosen.bank_bins(_centres(setting.e_edges))
        wanted = np.zeros(len(chosen.q_edges) - 1, bool)
        wanted[hit[hit >= 0]] = True
        return _check_empty(chosen, wanted, cell, "QBinning")
    template = setting.template
    chosen = powder_qpoints(cell=cell, q_edges=template.axes[0].edges,
                            wanted=~template.mask.all(axis=1), max_per_bin=max_per_bin,
                            seed=request.seed)
    prop = "QBinning" if request.template.template is None else "InputWorkspace"
    return _check_empty(chosen, ~template.mask.all(axis=1), cell, prop)


def _centres(edges: np.ndarray) -> np.ndarray:
    return 0.5 * (edges[1:] + edges[:-1])


def path_crystal(request):
    """Return the Crystal of StructureFile, the cell QPath's labels and [h,k,l] refer to."""
    from inslib.structure import StructureError, load_structure

    if not request.structure:
        msg = ("empty: QPath with a TrajectoryFile needs the StructureFile the trajectory's "
               "supercell repeats (the cell of the path's labels and [h,k,l])")
        raise SamplingError(msg, prop="StructureFile")
    try:
        return load_structure(request.structure)
    except StructureError as err:
        raise SamplingError(str(err), prop="StructureFile") from err


def _check_empty(chosen, wanted: np.ndarray, cell: np.ndarray, prop: str):
    """Return ``chosen``; SamplingError when most ``wanted`` (n_bins,) bins hold no q-point."""
    empty = int(np.count_nonzero(wanted & (chosen.counts == 0)))
    if empty <= MAX_EMPTY_FRACTION * np.count_nonzero(wanted):
        return chosen
    msg = (f"{empty} of {int(np.count_nonzero(wanted))} |Q| bins hold no q-point the "
           f"supercell can represent (its reciprocal lattice spacing is "
           f"{reciprocal_spacing(cell):.3g} 1/Angstrom): use wider |Q| bins, or a larger "
           "supercell")
    raise SamplingError(msg, prop=prop)
