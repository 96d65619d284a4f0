"""Labels of the Direct predictor's dataset: force-field force constants and their spectra.

One structure is labelled by the ForceField route of PredictSQE (:mod:`inslib.phonons.mlff`:
relax, phonopy finite displacements, symfc), then the forward model's mesh DOS and the
indirect-geometry S(E) (:mod:`inslib.simulation`) on one fixed energy grid. A structure that
cannot be labelled raises :class:`LabelError` with the reason.
"""

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from inslib.phonons import mlff
from inslib.simulation.errors import SimulationError

RELAX_NOT_CONVERGED = "relax not converged"
TOO_MANY_ATOMS = "too many atoms"
IMAGINARY_MODES = "imaginary modes"


class LabelError(Exception):
    """A structure that cannot be labelled; ``kind`` is one of the reasons above."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class LabelSettings:
    """How every record of a dataset is made (stored beside the records; all must agree).

    Attributes
    ----------
    force_field : str
        A key of :data:`inslib.phonons.mlff.FORCE_FIELDS`.
    relax : str
        Relax mode of the ForceField route ("PositionsAndCell": substituted cells need it).
    min_length, displacement : float
        Angstrom: supercell face-to-face width at least, finite displacement.
    grid : int
        Monkhorst-Pack n x n x n mesh of the DOS and Debye-Waller factors.
    e_max : float
        Top of the energy grid, meV (the grid starts at 0).
    n_bins : int
        Energy bins of the DOS, partial DOS and S(E).
    instrument : str
        Indirect-geometry instrument of S(E) (its final energy, banks and resolution).
    temperature : float
        K, of S(E).
    multiphonon_order : int
        Highest order of S(E).
    imaginary_tolerance : float
        meV: a record with a mode below minus this on the mesh is flagged not ``stable``
        (kept: the ForceField route gives its spectrum too, imaginary modes left out).
    threads : int
        torch threads of the force field (not part of the label).
    """

    force_field: str = mlff.DEFAULT_FORCE_FIELD
    relax: str = "PositionsAndCell"
    min_length: float = mlff.DEFAULT_MIN_LENGTH
    displacement: float = mlff.DISPLACEMENT
    grid: int = 16
    e_max: float = 150.0
    n_bins: int = 120
    instrument: str = "VISION"
    temperature: float = 10.0
    multiphonon_order: int = 10
    imaginary_tolerance: float = 2.0
    threads: int = 1

    def edges(self) -> np.ndarray:
        """Energy bin edges, meV, shape (n_bins + 1,)."""
        return np.linspace(0.0, self.e_max, self.n_bins + 1)

    def key(self) -> dict:
        """Every setting that changes a label (all but ``threads``)."""
        return {k: v for k, v in asdict(self).items() if k != "threads"}

    def mlff(self) -> mlff.MLFFSettings:
        """Return the force-field settings, relaxation off (it is run before, on its own)."""
        return mlff.MLFFSettings(relax="None", min_length=self.min_length,
                                 displacement=self.displacement, threads=self.threads)


@dataclass
class Labels:
    """What labelling one structure gives (before it is stored).

    Attributes
    ----------
    force_constants : inslib.phonons.force_constants.ForceConstants
        On the relaxed primitive cell, eV/Angstrom^2.
    spectra : dict
        :func:`spectra`'s arrays.
    meta : dict
        Relaxation, displacements, mesh and cost figures (JSON-ready).
    """

    force_constants: object
    spectra: dict
    meta: dict


def label_structure(crystal, settings: LabelSettings) -> Labels:
    """Relax, compute force constants (ForceField route) and spectra of one crystal.

    Parameters
    ----------
    crystal : inslib.structure.Crystal
        Primitive cell, Angstrom.

    Returns
    -------
    Labels
        Force constants (their ``source`` names the relaxation), :func:`spectra`'s arrays and
        meta: ``n_displacements``, ``supercell_atoms``, the mesh figures, ``cpu_s`` and
        ``wall_s`` (seconds of this call).

    Raises
    ------
    LabelError
        Too large a supercell, a relaxation that does not converge, more than 5 % imaginary
        modes.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    fd_settings = settings.mlff()
    _check_budget(crystal, fd_settings)
    calc = mlff.calculator(settings.force_field)
    with mlff.torch_threads(settings.threads):
        relaxed, converged = mlff.relax(crystal, calc, settings.relax)
    if not converged:
        raise LabelError(RELAX_NOT_CONVERGED, f"largest force above {mlff.RELAX_FMAX} eV/A "
                         f"after {mlff.RELAX_STEPS} BFGS steps")
    _check_budget(relaxed, fd_settings)
    calls = []
    fcs = mlff.compute_force_constants(relaxed, settings.force_field, fd_settings,
                                       lambda f, m: calls.append(f))
    fcs = replace(fcs, source=fcs.source.replace("relax None", f"relax {settings.relax}"))
    result, mesh = spectra(fcs, settings)
    meta = {"n_displacements": len(calls) - 1,
            "supercell_atoms": fcs.crystal.n_atoms * round(abs(np.linalg.det(fcs.sc_matrix))),
            **mesh, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    return Labels(fcs, result, meta)


def _check_budget(crystal, fd_settings) -> None:
    problem = mlff.budget_problem(crystal, fd_settings)
    if problem:
        raise LabelError(TOO_MANY_ATOMS, problem)


def spectra(fcs, settings: LabelSettings) -> tuple[dict, dict]:
    """DOS, partial DOS per element and indirect S(E) per bank of force constants.

    Parameters
    ----------
    fcs : inslib.phonons.force_constants.ForceConstants
    settings : LabelSettings

    Returns
    -------
    dict
        ``edges`` (n_bins + 1,) meV; ``dos`` (n_bins,) and ``pdos`` (n_elements, n_bins),
        states/meV per primitive cell, bin averages (the DOS integrates to 3 n_atoms where
        every mode is real and below e_max); ``indirect`` (n_banks, n_bins), mbarn/meV per atom;
        ``elements`` (n_elements,) and ``banks_deg`` (n_banks,) label the rows.
    dict
        Mesh figures: ``dos_top_mev`` (top of the mesh DOS, 1.05 x the highest mode),
        ``lowest_mev``, ``n_imaginary``, ``stable`` (no mode below -imaginary_tolerance),
        ``states_above`` (fraction of the modes above e_max or imaginary).

    Raises
    ------
    LabelError
        When the forward model refuses the force constants (more than 5 % imaginary modes on
        the mesh), as PredictSQE would.
    """
    from inslib.simulation.setup import build_setup

    try:
        setup = build_setup(fcs, settings.temperature, settings.grid, "CPU")
    except SimulationError as err:
        raise LabelError(IMAGINARY_MODES, str(err)) from None
    mesh = setup.mesh
    edges = settings.edges()
    elements, pdos = partial_dos(setup, edges)
    dos = pdos.sum(axis=0)
    n_modes = 3 * setup.model.crystal.n_atoms
    figures = {"dos_top_mev": float(mesh.dos_energy[-1]), "lowest_mev": float(mesh.lowest[0]),
               "n_imaginary": int(mesh.n_imaginary[0]),
               "stable": bool(mesh.lowest[0] >= -settings.imaginary_tolerance),
               "states_above": float(1.0 - dos @ np.diff(edges) / n_modes)}
    banks, indirect = indirect_spectra(setup, settings, edges)
    return {"edges": edges, "dos": dos, "pdos": pdos, "indirect": indirect,
            "elements": elements, "banks_deg": banks}, figures


def partial_dos(setup, edges: np.ndarray) -> tuple[list, np.ndarray]:
    """Elements (first-seen order) and their partial DOS, states/meV per primitive cell.

    Returns
    -------
    list of str
    numpy.ndarray, shape (n_elements, len(edges) - 1)
        Bin averages of the set-up's regularised mesh DOS.
    """
    from inslib.ml.predict import rebin_density

    mesh, symbols = setup.mesh, setup.model.crystal.symbols
    per_atom = rebin_density(mesh.partial[0].detach().cpu().numpy(), mesh.dos_energy,
                             mesh.width, edges)
    elements = list(dict.fromkeys(symbols))
    rows = [per_atom[[s == element for s in symbols]].sum(axis=0) for element in elements]
    return elements, np.array(rows)


def indirect_spectra(setup, settings: LabelSettings, edges: np.ndarray):
    """Bank angles (degrees, (n_banks,)) and S(E) per bank (mbarn/meV per atom).

    The indirect-geometry forward model of SimulatePowderSQE (incoherent approximation, all
    orders up to ``multiphonon_order``, the instrument's resolution) on ``edges`` (meV).
    """
    import torch

    from inslib.simulation.forward import IndirectForward, Multiphonon, Thermal
    from inslib.simulation.indirect import indirect_setting
    from inslib.simulation.requests import TemplateRequest

    step = float(edges[1] - edges[0])
    template = TemplateRequest(instrument=settings.instrument,
                               e_binning=f"{float(edges[0])!r},{step!r},{float(edges[-1])!r}")
    instrument, efixed, e_edges, resolution = indirect_setting(template)
    if len(e_edges) != len(edges):
        msg = f"energy grid {template.e_binning} gave {len(e_edges) - 1} bins, not {len(edges) - 1}"
        raise ValueError(msg)
    multiphonon = Multiphonon(e_edges, resolution, settings.multiphonon_order)
    angles = instrument.banks_deg.mean(axis=1)
    forward = IndirectForward(setup.model, Thermal(settings.temperature, settings.grid),
                              multiphonon, efixed, angles)
    with torch.no_grad():
        signal = forward(mesh=setup.mesh)[0].sum(dim=1).cpu().numpy()
    return angles, signal
