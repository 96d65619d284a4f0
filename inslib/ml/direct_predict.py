"""PredictSQE Method=Direct: spectra from the partial DOS an e3nn ensemble predicts.

The networks (:mod:`inslib.ml.equivariant`) give each atom's partial DOS. The DOS and partial
DOS outputs are those densities on the requested bins; the indirect-geometry S(E) and the
powder map are the simulations' own incoherent-approximation forward models
(:func:`inslib.simulation.indirect.indirect_histogram`,
:func:`inslib.simulation.powder.powder_from_mesh` with the coherent term off: every order with
the total cross-section, OCLIMAX TASK=0) run on them, with the isotropic mean-square
displacement each atom's predicted DOS implies in place of the force constants' Debye-Waller
matrices. The powder map therefore has no coherent (Q-dependent, dispersive) structure; it
lies exactly on the template's bins and mask. No second physics implementation: only
the DOS is learned. Each member of the ensemble gives one spectrum; their spread is the error.
"""

from copy import deepcopy
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from inslib.ml.direct_model import MODEL_FOLDER, DirectModelError, load_ensemble
from inslib.scattering.mesh import MeshResults

DIRECT_OUTPUTS = ("DOS", "PartialDOS", "IndirectSE", "PowderSQE")
MAX_ATOMS = 200  # per cell; IndirectSE at 200 atoms: 41 s, 2.8 GB (per-atom multiphonon)


@dataclass(frozen=True)
class PredictedModel:
    """What the forward models read of a phonon model when only the DOS is known.

    Attributes
    ----------
    crystal : inslib.structure.Crystal
    opts : dict
        torch dtype and device of the tensors.
    """

    crystal: object
    opts: dict

    @classmethod
    def of(cls, crystal) -> "PredictedModel":
        """Return the stand-in of ``crystal`` with float64 CPU tensors."""
        import torch

        return cls(crystal, {"dtype": torch.float64, "device": "cpu"})


@lru_cache(maxsize=4)
def cached_ensemble(folder: str = ""):
    """Return the ensemble of ``folder`` ("" = shipped models/direct), loaded once per process."""
    return load_ensemble(folder or MODEL_FOLDER)


def direct_errors(folder: str, crystal, output: str, save_to: str, phonon_folder: str) -> dict:
    """{property: message} of what Method=Direct cannot do for this request.

    Parameters
    ----------
    folder : str
        DirectModel ("" = shipped).
    crystal : inslib.structure.Crystal or None
        The structure, None when StructureFile is already refused.
    output, save_to, phonon_folder : str
        Output, OutputForceConstantsFile, PhononFolder.
    """
    errors = {}
    if output not in DIRECT_OUTPUTS:
        errors["Output"] = (f"Output={output!r}: Method=Direct predicts {', '.join(DIRECT_OUTPUTS)}"
                            " (a q-path needs the modes' eigenvectors): use "
                            "Method=ForceField for QPath")
    if save_to:
        errors["OutputForceConstantsFile"] = (f"{save_to!r}: Method=Direct predicts spectra, "
                                              "not force constants: leave it empty, or use "
                                              "Method=ForceField")
    if phonon_folder:
        errors["PhononFolder"] = (f"PhononFolder={phonon_folder!r} is read with Method=Folder "
                                  "only: leave it empty, or set Method=Folder")
    try:
        ensemble = cached_ensemble(folder)
    except DirectModelError as err:
        return errors | {"DirectModel": str(err)}
    if crystal is not None and crystal.n_atoms > MAX_ATOMS:
        errors["StructureFile"] = (f"{crystal.n_atoms} atoms in the cell: Method=Direct takes "
                                   f"at most {MAX_ATOMS} (its per-atom DOS and multiphonon "
                                   "terms); give the primitive or a smaller cell")
        return errors
    known = set(ensemble.card.get("elements", []))
    missing = sorted(set(crystal.symbols) - known) if crystal is not None else []
    if missing:
        errors["StructureFile"] = (f"{', '.join(missing)} not in the Direct model's training "
                                   f"structures (it knows {', '.join(sorted(known))}): use "
                                   "Method=ForceField")
    return errors


def predicted_mesh(partial: np.ndarray, edges: np.ndarray, masses: np.ndarray,
                   temperature: float) -> MeshResults:
    """Return a one-set mesh result from a predicted partial DOS per atom.

    Parameters
    ----------
    partial : numpy.ndarray, shape (n_atoms, n_bins)
        States/meV per atom on bins ``edges`` (meV, shape (n_bins + 1,), uniform).
    masses : numpy.ndarray, shape (n_atoms,)
        amu.
    temperature : float
        K.

    Returns
    -------
    MeshResults
        ``dw`` = u^2 / 2 times the identity per atom (u^2 from the DOS,
        :func:`inslib.scattering.incoherent.mean_square_displacement`), no imaginary modes,
        no Debye-region correction.
    """
    import torch

    from inslib.scattering.incoherent import mean_square_displacement

    centres = 0.5 * (edges[1:] + edges[:-1])
    density = torch.as_tensor(partial, dtype=torch.float64)[None]
    msd = mean_square_displacement(density, centres, masses, temperature)
    dw = 0.5 * msd[..., None, None] * torch.eye(3, dtype=torch.float64)
    return MeshResults(dw, density, centres, np.zeros(1, int), np.zeros(1), np.zeros((1, 3)),
                       np.zeros(1))


def regularised(partial: np.ndarray, edges: np.ndarray, grid: int = 16,
                fine: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Smooth and Debye-extrapolate predicted partial DOS as a grid^3 mesh DOS is.

    The networks' bins (1.25 meV) are split into bins of about ``fine`` meV
    and given the forward model's regularisation (:func:`inslib.scattering.dos.regularise`):
    a Gaussian of E_max / (4 grid) and, below E_max / grid, the Debye law a E^2 holding the
    states there, E_max being the top of each member's DOS (:func:`highest_energy`). The
    networks' bins carry no such physics: without it their small low-energy floor would give
    a finite DOS at E -> 0 and an inflated mean-square displacement (integral of g / E).

    Parameters
    ----------
    partial : numpy.ndarray, shape (n_members, n_atoms, n_bins)
        States/meV per atom on uniform bins ``edges`` (meV, shape (n_bins + 1,)).
    grid : int
        The mesh size whose regularisation is applied.
    fine : float
        Width of the bins returned, meV (rounded so that each bin splits evenly).

    Returns
    -------
    fine_partial : numpy.ndarray, shape (n_members, n_atoms, n_fine)
        States/meV per atom; each row rescaled to keep its states (3), which the smoothing
        would otherwise spill above the grid's top (measured: up to 0.5 %).
    fine_edges : numpy.ndarray, shape (n_fine + 1,)
        meV.
    """
    import torch

    from inslib.scattering.dos import regularise

    split = max(round(float(edges[1] - edges[0]) / fine), 1)
    fine_edges = np.linspace(edges[0], edges[-1], split * (len(edges) - 1) + 1)
    centres = 0.5 * (fine_edges[1:] + fine_edges[:-1])
    top = torch.as_tensor([highest_energy(member.sum(axis=0), edges) for member in partial],
                          dtype=torch.float64)
    width = float(fine_edges[1] - fine_edges[0])
    smooth = regularise(torch.as_tensor(np.repeat(partial, split, axis=-1)), centres, width,
                        top, grid).numpy()
    states = (partial * np.diff(edges)).sum(axis=-1, keepdims=True)
    return smooth * states / (smooth.sum(axis=-1, keepdims=True) * width), fine_edges


def highest_energy(total: np.ndarray, edges: np.ndarray, fraction: float = 0.99) -> float:
    """Energy (meV) below which ``fraction`` of the states of a DOS (n_bins,) on ``edges`` lie.

    A predicted DOS has a thin tail up to the grid's top where a mesh DOS ends at its highest
    mode: the quantile stands for that mode (linear within the bin that reaches it).
    """
    cumulative = np.concatenate([[0.0], np.cumsum(total * np.diff(edges))])
    return float(np.interp(fraction * cumulative[-1], cumulative, edges))


def density_top(partial: np.ndarray, edges: np.ndarray) -> float:
    """1.05 x the energy below which 99.9 % of any member's states lie, meV (at most the top).

    Parameters
    ----------
    partial : numpy.ndarray, shape (n_members, n_atoms, n_bins)
    edges : numpy.ndarray, shape (n_bins + 1,)
    """
    top = max(highest_energy(member.sum(axis=0), edges, 0.999) for member in partial)
    return float(min(1.05 * top, edges[-1]))


@lru_cache(maxsize=4)
def cached_map_ensemble(folder: str = ""):
    """Return the map networks of a DirectModel folder ("" = shipped), loaded once per process."""
    from inslib.ml.map_model import load_map_ensemble

    return load_map_ensemble(folder or MODEL_FOLDER)


def low_energy_columns(intrinsic: np.ndarray, approximate: np.ndarray, e_edges: np.ndarray,
                       debye: float) -> np.ndarray:
    """Give the lowest energies of a predicted intrinsic map the DOS's weight per energy.

    Below ``debye`` (at least the two lowest bins) each energy column keeps the networks'
    |Q| profile but takes its |Q|-integral from the incoherent approximation of the predicted
    DOS (the coherent one-phonon sum rule, column by column), whose Debye law a E^2 the DOS
    regularisation sets. The networks' maps are blurred along energy, and near E = 0 the Bose
    factor (kT / E) would multiply that blur by tens.

    Parameters
    ----------
    intrinsic, approximate : numpy.ndarray, shape (n_q, n_e)
        Predicted intrinsic map and :func:`inslib.ml.map_data.incoherent_intrinsic` of the
        predicted DOS, mbarn/meV per atom.
    e_edges : numpy.ndarray, shape (n_e + 1,)
        meV.
    debye : float
        Top of the Debye region, meV.

    Returns
    -------
    numpy.ndarray, shape (n_q, n_e)
    """
    centres = 0.5 * (e_edges[1:] + e_edges[:-1])
    low = (centres < debye) | (np.arange(len(centres)) < 2)
    predicted, wanted = intrinsic[:, low].sum(axis=0), approximate[:, low].sum(axis=0)
    out = intrinsic.copy()
    out[:, low] *= np.where(predicted > 0, wanted / np.where(predicted > 0, predicted, 1.0), 0.0)
    return out


def map_model_errors(folder: str) -> dict:
    """{"DirectModel": message} when the folder's map networks cannot be loaded, else {}."""
    try:
        cached_map_ensemble(folder)
    except DirectModelError as err:
        return {"DirectModel": str(err)}
    return {}


def coherent_msd(mesh: MeshResults, crystal) -> float:
    """Mean-square displacement along one direction (Angstrom^2), sigma_coh-weighted mean."""
    from inslib.scattering.incoherent import isotropic_msd

    msd = isotropic_msd(mesh.dw)[0].numpy()
    weights = np.asarray(crystal.scattering["sigma_coh"], dtype=float)
    return float(msd @ weights / weights.sum()) if weights.sum() > 0 else float(msd.mean())


def coherent_direct_maps(powder, template, crystal, dos: tuple, maps, source: str) -> list:
    """Powder map of each member: predicted coherent one-phonon term + the incoherent terms.

    The coherent one-phonon term is a map member's intrinsic map, its integral set by the sum
    rule from the DOS member (:func:`inslib.ml.map_data.incoherent_intrinsic`), put on the
    template (:func:`inslib.ml.map_decode.coherent_on_template`); the incoherent one-phonon and
    multiphonon terms are the powder forward model's on a DOS member's mesh. Beyond the
    intrinsic grid's |Q| range the incoherent approximation holds for every term (the
    coherent term tends to it at large |Q|).

    Parameters
    ----------
    powder : inslib.simulation.requests.PowderRequest
        With ``coherent`` on.
    template : inslib.histogram.Histogram
        :func:`inslib.simulation.powder.covered_template`'s result.
    crystal : inslib.structure.Crystal
    dos : tuple
        (partial DOS per member and atom, states/meV, shape (n_members, n_atoms, n_bins);
        bin edges, meV).
    maps : inslib.ml.map_model.MapEnsemble
    source : str
        Provenance of the DOS.

    Returns
    -------
    list of inslib.histogram.Histogram
        One per map member (DOS members reused in turn).
    """
    import torch

    from inslib.ml.map_data import incoherent_intrinsic
    from inslib.ml.map_decode import coherent_on_template
    from inslib.simulation.forward import q_broadening
    from inslib.simulation.powder import powder_forward, powder_histogram, template_resolution
    from inslib.simulation.requests import powder_temperature

    partial, edges = dos
    temperature = float(powder_temperature(powder))
    model = PredictedModel.of(crystal)
    terms = powder_forward(powder, template, model, temperature)
    approximation = powder_forward(replace(powder, coherent=False), template, model,
                                   temperature)
    resolution = template_resolution(powder.template, template)
    grid = maps.edges()
    inside = (template.axes[0].centres <= grid[0][-1])[:, None]
    name = f"{maps.card['name']} (training data {maps.card['training_data']['sha256'][:12]})"
    area = float(np.prod([e[1] - e[0] for e in grid]))
    out = []
    for k, unit in enumerate(maps.predict(crystal, 1.0)):
        member = partial[k % len(partial)]
        mesh = predicted_mesh(member, edges, crystal.masses, temperature)
        cold = predicted_mesh(member, edges, crystal.masses, 0.0)
        approximate = incoherent_intrinsic(model, cold)
        intrinsic = low_energy_columns(unit * approximate.sum() * area, approximate, grid[1],
                                       highest_energy(member.sum(axis=0), edges) / 16.0)
        extra = coherent_msd(mesh, crystal) - coherent_msd(cold, crystal)
        coherent = coherent_on_template(intrinsic[None], grid, template, resolution,
                                        temperature, np.array([extra]))[0]
        signal = coherent + terms.incoherent_terms(mesh)[0].numpy()
        if not inside.all():  # only bins beyond the intrinsic grid need the approximation
            signal = np.where(inside, signal, approximation.incoherent_terms(mesh)[0].numpy())
        signal = q_broadening(torch.as_tensor(signal[None]), template.axes[0].edges,
                              powder.q_resolution)[0].numpy()
        copy = replace(template, metadata=deepcopy(template.metadata))
        out.append(powder_histogram(copy, signal, powder, temperature,
                                    f"{source}; coherent term from {name}", {}))
    return out
