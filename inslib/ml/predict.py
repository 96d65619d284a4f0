"""What PredictSQE runs: INS spectra of a crystal structure alone, or of a phonon folder.

``ForceField``: force constants from offline universal force fields
(:mod:`inslib.phonons.mlff`), one set per member of an ensemble; ``Folder``: a phonondb-style
folder (phonopy.yaml / FORCE_SETS / BORN / POSCAR-unitcell); ``Direct``: the partial DOS of an
e3nn ensemble (:mod:`inslib.ml.direct_predict`), no force constants. Either goes through the
simulations' own code on phonopy.yaml files (SimulatePowderSQE's powder map and indirect S(E),
SimulateSingleCrystalSQE's q-path) or gives the DOS / partial DOS of the model set-up. An
ensemble's spectra are averaged; their variance across members is the result's variance.

The request is validated once here (:func:`validate_predict`); every message names the
property, the bad value and what is valid.
"""

import shutil
from copy import deepcopy
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inslib.axes import Axis, energy_axis, parse_binning
from inslib.histogram import Histogram, Log, Metadata
from inslib.logs import (
    DIRECT_MAP_MODEL,
    DIRECT_MODEL,
    FORCE_FIELDS_USED,
    PREDICT_METHOD,
    WARNINGS,
)
from inslib.ml.direct_predict import (
    PredictedModel,
    cached_ensemble,
    cached_map_ensemble,
    coherent_direct_maps,
    density_top,
    direct_errors,
    map_model_errors,
    predicted_mesh,
    regularised,
)
from inslib.phonons.errors import ForceConstantsError
from inslib.phonons.force_constants import load_force_constants
from inslib.phonons.mlff import (
    DEFAULT_FORCE_FIELD,
    DEFAULT_MIN_LENGTH,
    RELAX_MODES,
    ForceFieldError,
    MLFFSettings,
    budget_problem,
    checkpoint_path,
    parse_force_fields,
    predicted_file,
    uncovered_elements,
)
from inslib.phonons.readers.phonopy import parse_supercell_matrix
from inslib.scattering.powder import PowderSampling
from inslib.simulation.errors import SimulationError, raise_errors
from inslib.simulation.indirect import indirect_histogram
from inslib.simulation.powder import covered_template, powder_from_mesh, run_powder
from inslib.simulation.qpath import PathError, parse_path
from inslib.simulation.requests import (
    PowderRequest,
    SingleCrystalRequest,
    TemplateRequest,
    check_once,
    powder_temperature,
    temperature_errors,
    template_instrument,
    validate_powder,
    validate_single_crystal,
)
from inslib.simulation.setup import cached_setup, setup_logs
from inslib.simulation.single_crystal import run_single_crystal
from inslib.structure import StructureError, load_structure
from inslib.units import to_mev

METHODS = ("ForceField", "Folder", "Direct")
OUTPUTS = ("PowderSQE", "IndirectSE", "QPath", "DOS", "PartialDOS")
HYDROGEN_WARNING = ("Method=Direct: hydrogen is rare in the training structures, and the "
                    "networks put every mode below 150 meV (O-H, N-H, C-H stretches lie "
                    "above): check with Method=ForceField")
PREDICTED = "<force-field prediction>"  # stands for a file not computed yet, in checks only
DOS_BINS = 250  # energy bins of a DOS or q-path without EBinning, 0 to the highest mode
MODEL_PROPERTIES = ("ForceConstantsFile", "StructureFile", "SupercellMatrix")


@dataclass(frozen=True)
class PredictRequest:
    """Inputs of a prediction (PredictSQE property names in the comments).

    Parameters
    ----------
    structure : str
        StructureFile (CIF, POSCAR, any ASE-readable file); ForceField's input.
    method : str
        Method: "ForceField", "Folder" or "Direct".
    force_fields : str
        ForceField: one name or several, comma-separated (an ensemble).
    relax : str
        Relax: "None", "Positions" or "PositionsAndCell".
    supercell : str
        SupercellMatrix: "" (from ``min_length``), "n1,n2,n3" or nine integers.
    min_length : float
        MinSupercellLength, Angstrom.
    folder : str
        PhononFolder (Method=Folder).
    output : str
        Output: PowderSQE, IndirectSE, QPath, DOS or PartialDOS.
    template : TemplateRequest
        Instrument, Ei/EFixed, binning or InputWorkspace, Temperature.
    grid : int
        MeshSize (Monkhorst-Pack n x n x n, DOS and Debye-Waller).
    sampling : PowderSampling
        DirectionsPerShell and Seed of the powder average.
    q_path, path_step : str, float
        QPath and PathStep (1/Angstrom) of Output=QPath.
    device : str
        Device: Auto, CPU or GPU.
    save_to : str
        OutputForceConstantsFile ("" = none).
    direct_model : str
        DirectModel: folder of a trained Direct ensemble ("" = the shipped models/direct).
    coherent : bool
        Coherent: the coherent one-phonon term of a powder map (Method=Direct: from the map
        networks of ``<DirectModel>/map``); False = incoherent approximation for every order.
    """

    structure: str = ""
    method: str = "ForceField"
    force_fields: str = DEFAULT_FORCE_FIELD
    relax: str = "Positions"
    supercell: str = ""
    min_length: float = DEFAULT_MIN_LENGTH
    folder: str = ""
    output: str = "PowderSQE"
    template: TemplateRequest = field(default_factory=TemplateRequest)
    grid: int = 16
    sampling: PowderSampling = field(default_factory=PowderSampling)
    q_path: str = "auto"
    path_step: float = 0.02
    device: str = "Auto"
    save_to: str = ""
    direct_model: str = ""
    coherent: bool = True


def mlff_settings(request: PredictRequest) -> MLFFSettings:
    """Force-field settings of a request (its SupercellMatrix parsed)."""
    matrix = parse_supercell_matrix(request.supercell)
    return MLFFSettings(relax=request.relax, min_length=request.min_length,
                        supercell=None if matrix is None else tuple(matrix.ravel().tolist()))


# --- validation ---------------------------------------------------------------------------


def validate_predict(request: PredictRequest) -> dict:
    """Check a prediction request once; return {property: message} for everything wrong."""
    return check_once(request, _check_predict)


def require_valid_predict(request: PredictRequest) -> None:
    """Raise SimulationError naming every bad property of a prediction request."""
    raise_errors(validate_predict(request))


def _check_predict(request: PredictRequest) -> dict:
    if request.method not in METHODS:
        return {"Method": f"Method={request.method!r} is not valid: give one of "
                          f"{', '.join(METHODS)}"}
    if request.direct_model and request.method != "Direct":
        return {"DirectModel": f"{request.direct_model!r} is read with Method=Direct only: "
                               "leave it empty, or set Method=Direct"}
    if request.method == "Direct":
        return _direct_errors(request)
    errors = (_force_field_errors(request) if request.method == "ForceField"
              else _folder_errors(request))
    if request.output not in OUTPUTS:
        return errors | {"Output": f"Output={request.output!r} is not valid: give one of "
                                   f"{', '.join(OUTPUTS)}"}
    return errors | _output_errors(request, errors) | _save_errors(request.save_to)


def _direct_errors(request: PredictRequest) -> dict:
    """{property: message} of a Method=Direct request (model, structure, output, template)."""
    errors = _structure_errors(request.structure)
    crystal = None if errors else load_structure(request.structure)
    errors |= direct_errors(request.direct_model, crystal, request.output, request.save_to,
                            request.folder)
    if "Output" in errors:
        return errors
    if request.output == "PowderSQE" and request.coherent and "DirectModel" not in errors:
        errors |= map_model_errors(request.direct_model)
    return errors | _output_errors(request, errors)


def _force_field_errors(request: PredictRequest) -> dict:
    """{property: message} for StructureFile, ForceField, Relax, SupercellMatrix and the budget."""
    errors = {}
    if request.folder:
        errors["PhononFolder"] = (f"PhononFolder={request.folder!r} is read with Method=Folder "
                                  "only: leave it empty, or set Method=Folder")
    if request.relax not in RELAX_MODES:
        errors["Relax"] = f"Relax={request.relax!r} is not valid: give one of {RELAX_MODES}"
    if not request.min_length > 0:
        errors["MinSupercellLength"] = (f"{request.min_length:g} A: give a positive length in "
                                        f"Angstrom (default {DEFAULT_MIN_LENGTH:g})")
    try:
        names = parse_force_fields(request.force_fields)
        settings = mlff_settings(request)
    except (ForceFieldError, ForceConstantsError) as err:
        key = "SupercellMatrix" if isinstance(err, ForceConstantsError) else "ForceField"
        return errors | {key: str(err)} | _structure_errors(request.structure)
    errors |= _structure_errors(request.structure)
    if errors:
        return errors
    crystal = load_structure(request.structure)
    problem = budget_problem(crystal, settings)
    if problem:
        return {"SupercellMatrix" if request.supercell else "MinSupercellLength": problem}
    return _coverage_errors(crystal, names)


def _structure_errors(path: str) -> dict:
    if not path:
        return {"StructureFile": "empty: Methods ForceField and Direct need the crystal "
                                 "structure (CIF, POSCAR or any file ASE reads)"}
    try:
        load_structure(path)
    except StructureError as err:
        return {"StructureFile": str(err)}
    return {}


def _coverage_errors(crystal, names: list) -> dict:
    """{"ForceField": message} for a force field sevenn lacks or not trained on an element."""
    for name in names:
        try:
            checkpoint_path(name)
            missing = uncovered_elements(crystal, name)
        except ForceFieldError as err:
            return {"ForceField": str(err)}
        if missing:
            return {"ForceField": f"{name!r} was not trained on {', '.join(missing)} (in "
                                  "StructureFile): choose another force field, or substitute "
                                  "the element"}
    return {}


def _folder_errors(request: PredictRequest) -> dict:
    if not request.folder:
        return {"PhononFolder": "empty: Method=Folder needs a phonon folder (phonopy.yaml or "
                                "FORCE_SETS with POSCAR-unitcell, BORN beside them)"}
    if not Path(request.folder).is_dir():
        return {"PhononFolder": f"{request.folder!r} is not a folder: give the folder of a "
                                "phonopy calculation (phonopy.yaml / FORCE_SETS / BORN / "
                                "POSCAR-unitcell)"}
    return {}


def _output_errors(request: PredictRequest, model_errors: dict) -> dict:
    if request.template.template is not None and request.output not in OUTPUTS[:2]:
        return {"InputWorkspace": f"a measured powder workspace is a template of Output="
                                  f"PowderSQE or IndirectSE, not of {request.output}: leave "
                                  "it empty"}
    if request.output in ("DOS", "PartialDOS"):
        return _dos_errors(request)
    model = str(request.folder) if request.method == "Folder" else PREDICTED
    if request.output == "QPath":
        errors = validate_single_crystal(path_request(request, model, "0,1,2"))
        errors |= _path_label_errors(request, model_errors)
        errors |= _energy_binning_errors(request)
        if request.relax == "PositionsAndCell" and len(_names(request)) > 1:
            errors["Relax"] = ("PositionsAndCell gives each member of an ensemble its own cell, "
                               "so their q-path bins differ: use Positions, or one ForceField")
    else:
        errors = validate_powder(powder_request(request, model)) | _geometry_errors(request)
    return _model_keys(errors, request)


def _names(request: PredictRequest) -> list:
    try:
        return parse_force_fields(request.force_fields)
    except ForceFieldError:
        return []


def _model_keys(errors: dict, request: PredictRequest) -> dict:
    """Errors of a simulation request under PredictSQE's property names."""
    renamed = {key: value for key, value in errors.items() if key not in MODEL_PROPERTIES}
    if request.method == "Folder" and "ForceConstantsFile" in errors:
        renamed["PhononFolder"] = errors["ForceConstantsFile"].replace("ForceConstantsFile",
                                                                      "PhononFolder")
    return renamed


def _geometry_errors(request: PredictRequest) -> dict:
    """{"Output": message} where the instrument's geometry does not give that output."""
    try:
        geometry = template_instrument(request.template).geometry
    except (ValueError, OSError):
        return {}  # the template's own check names the instrument
    wanted = "direct" if request.output == "PowderSQE" else "indirect"
    if geometry == wanted:
        return {}
    article = "a" if wanted == "direct" else "an"
    return {"Output": f"Output={request.output} needs {article} {wanted}-geometry instrument, and "
                      f"{request.template.instrument or 'the InputWorkspace'} is {geometry}: "
                      f"use Output={'IndirectSE' if geometry == 'indirect' else 'PowderSQE'}"}


def _path_label_errors(request: PredictRequest, model_errors: dict) -> dict:
    if request.method != "ForceField" or "StructureFile" in model_errors:
        return {}
    try:
        parse_path(request.q_path, load_structure(request.structure))
    except PathError as err:
        return {"QPath": str(err)}
    return {}


def _dos_errors(request: PredictRequest) -> dict:
    return _energy_binning_errors(request) | temperature_errors(request.template.temperature,
                                                                required=False)


def _energy_binning_errors(request: PredictRequest) -> dict:
    try:
        energy_edges(request, 1.0)
    except ValueError as err:
        return {"EBinning": str(err)}
    return {}


def _save_errors(path: str) -> dict:
    if not path:
        return {}
    target = Path(path)
    if target.suffix.lower() not in (".yaml", ".yml"):
        return {"OutputForceConstantsFile": f"{path!r}: give a .yaml file name (phonopy.yaml "
                                            "format)"}
    if not target.parent.resolve().is_dir():
        return {"OutputForceConstantsFile": f"{path!r}: the folder {str(target.parent)!r} "
                                            "does not exist"}
    return {}


# --- simulation requests ------------------------------------------------------------------


def powder_request(request: PredictRequest, model: str) -> PowderRequest:
    """SimulatePowderSQE's request for one model (a phonopy file or folder)."""
    structure = request.structure if request.method == "Folder" else ""
    return PowderRequest(force_constants=model, structure=structure, template=request.template,
                         grid=request.grid, sampling=request.sampling, device=request.device,
                         coherent=request.coherent)


def path_request(request: PredictRequest, model: str, e_binning: str) -> SingleCrystalRequest:
    """SimulateSingleCrystalSQE's q-path request for one model; ``e_binning`` in meV."""
    template = request.template
    structure = request.structure if request.method == "Folder" else ""
    return SingleCrystalRequest(
        force_constants=model, structure=structure, e_binning=e_binning,
        temperature=powder_temperature(powder_request(request, model)),
        instrument=template.instrument, ei=template.ei, settings=template.settings,
        grid=request.grid,
        path=request.q_path, path_step=request.path_step, device=request.device)


def energy_edges(request: PredictRequest, top: float) -> np.ndarray:
    """Energy bin edges (meV) of a DOS or q-path: EBinning, or DOS_BINS from 0 to ``top``."""
    template = request.template
    if template.e_binning:
        edges = parse_binning(template.e_binning, "EBinning", template.energy_unit)
        return to_mev(edges, template.energy_unit)
    return np.linspace(0.0, top, DOS_BINS + 1)


# --- running ------------------------------------------------------------------------------


def run_predict(request: PredictRequest, progress=None) -> Histogram:
    """Predict the requested output (validated once); the ensemble's variance as variance.

    Returns
    -------
    Histogram
        As SimulatePowderSQE / SimulateSingleCrystalSQE give it (mbarn/meV per atom), or the
        DOS / partial DOS (states/meV per atom of the primitive cell, spectra = total or
        elements); logs PredictMethod and ForceFields.
    """
    require_valid_predict(request)
    report = progress or (lambda _fraction, _message: None)
    if request.method == "Direct":
        return direct_prediction(request, report)
    models = model_files(request, lambda f, m: report(0.7 * f, m))
    if request.save_to:
        save_force_constants(models, request.save_to)
    members = simulate_members(request, models, lambda f, m: report(0.7 + 0.3 * f, m))
    result = combine(members)
    meta = result.metadata
    meta.logs[PREDICT_METHOD] = Log(request.method)
    if request.method == "ForceField":
        meta.logs[FORCE_FIELDS_USED] = Log(",".join(models))
    meta.provenance = [*meta.provenance, f"PredictSQE: {request.method} "
                       f"({', '.join(models)}), {len(models)} member(s); variance = spread"]
    report(1.0, "done")
    return result


def direct_prediction(request: PredictRequest, report) -> Histogram:
    """Method=Direct: each member's spectrum from its predicted partial DOS, combined."""
    ensemble = cached_ensemble(request.direct_model)
    crystal = load_structure(request.structure)
    report(0.1, "Direct: partial DOS from the networks")
    partial, fine = regularised(ensemble.predict(crystal), ensemble.edges())
    name = (f"{ensemble.card['name']} (training data "
            f"{ensemble.card['training_data']['sha256'][:12]})")
    source = f"partial DOS predicted by {name}, {len(partial)} members"
    if request.output in ("IndirectSE", "PowderSQE"):
        members = direct_spectra(request, crystal, partial, fine, source)
    else:
        edges = energy_edges(request, density_top(partial, fine))
        members = [density_histogram(p, 0.5 * (fine[1:] + fine[:-1]), fine[1] - fine[0],
                                     crystal, edges, request.output == "PartialDOS",
                                     request.template.temperature, source, {})
                   for p in partial]
    result = combine(members)
    meta = result.metadata
    meta.logs[PREDICT_METHOD] = Log("Direct")
    meta.logs[DIRECT_MODEL] = Log(name)
    if request.output == "PowderSQE" and request.coherent:
        maps = cached_map_ensemble(request.direct_model).card
        meta.logs[DIRECT_MAP_MODEL] = Log(f"{maps['name']} (training data "
                                          f"{maps['training_data']['sha256'][:12]})")
    if "H" in crystal.symbols:
        meta.logs[WARNINGS] = Log(HYDROGEN_WARNING)
    meta.provenance = [*meta.provenance, f"PredictSQE: Direct, {len(members)} member(s); "
                       "variance = spread"]
    report(1.0, "done")
    return result


def direct_spectra(request: PredictRequest, crystal, partial: np.ndarray, edges: np.ndarray,
                   source: str) -> list:
    """S(E) per bank or the powder map (incoherent approximation) of each member's DOS.

    Parameters
    ----------
    partial : numpy.ndarray, shape (n_members, n_atoms, n_bins)
        Predicted partial DOS per atom, states/meV, on uniform bins ``edges`` (meV).
    """
    powder = replace(powder_request(request, PREDICTED), coherent=False)
    temperature = float(powder_temperature(powder))
    model = PredictedModel.of(crystal)
    meshes = [predicted_mesh(p, edges, crystal.masses, temperature) for p in partial]
    if request.output == "IndirectSE":
        return [indirect_histogram(model, mesh, request.template, temperature,
                                   powder.multiphonon_order, powder.creation_only, source, {})
                for mesh in meshes]
    template = covered_template(powder)
    if request.coherent:
        return coherent_direct_maps(replace(powder, coherent=True), template, crystal,
                                    (partial, edges), cached_map_ensemble(request.direct_model),
                                    source)
    return [powder_from_mesh(powder, replace(template, metadata=deepcopy(template.metadata)),
                             model, mesh, source, {}) for mesh in meshes]


def model_files(request: PredictRequest, progress) -> dict:
    """{member name: phonopy file or folder} of a request (force constants computed here)."""
    if request.method == "Folder":
        return {Path(request.folder).name: Path(request.folder)}
    crystal = load_structure(request.structure)
    settings = mlff_settings(request)
    names = parse_force_fields(request.force_fields)
    files = {}
    for k, name in enumerate(names):
        files[name] = predicted_file(
            crystal, name, settings,
            lambda f, m, k=k: progress((k + f) / len(names), f"force constants: {m}"))
    return files


def save_force_constants(models: dict, path: str) -> list:
    """Write each member's force constants as phonopy.yaml: ``path``, or path-<member>.yaml."""
    target = Path(path)
    written = []
    for name, model in models.items():
        out = target if len(models) == 1 else target.with_name(
            f"{target.stem}-{name}{target.suffix}")
        if Path(model).is_dir():
            load_force_constants(model).save_phonopy_yaml(out)
        else:
            shutil.copyfile(model, out)
        written.append(out)
    return written


def simulate_members(request: PredictRequest, models: dict, progress) -> list:
    """One histogram per member, on common bins."""
    if request.output in ("DOS", "PartialDOS"):
        return dos_members(request, models)
    e_binning = ""
    if request.output == "QPath":
        top = max(mode_top(request, model) for model in models.values())
        edges = energy_edges(request, top)
        e_binning = f"{float(edges[0])!r},{float(edges[1] - edges[0])!r},{float(edges[-1])!r}"
    members = []
    for k, model in enumerate(models.values()):
        def report(f, m, k=k):
            progress((k + f) / len(models), m)
        if request.output == "QPath":
            members.append(run_single_crystal(path_request(request, str(model), e_binning),
                                              report))
        else:
            members.append(run_powder(powder_request(request, str(model)), report))
    return members


def member_setup(request: PredictRequest, model):
    """Return the cached model set-up of one member (the request's temperature, 0 K if unknown)."""
    structure = request.structure if request.method == "Folder" else ""
    temperature = powder_temperature(powder_request(request, str(model)))
    return cached_setup(str(model), structure, float(temperature or 0.0), request.grid,
                        request.device)


def mode_top(request: PredictRequest, model) -> float:
    """Top of the DOS grid of one member (1.05 x its highest mode), meV."""
    energy = member_setup(request, model).mesh.dos_energy
    return float(energy[-1] + 0.5 * (energy[1] - energy[0]))


def dos_members(request: PredictRequest, models: dict) -> list:
    """DOS or partial DOS histograms of each member, on common energy bins."""
    setups = [member_setup(request, model) for model in models.values()]
    top = max(float(s.mesh.dos_energy[-1]) for s in setups)
    edges = energy_edges(request, top)
    return [dos_histogram(setup, edges, request.output == "PartialDOS",
                          request.template.temperature) for setup in setups]


def dos_histogram(setup, edges: np.ndarray, by_element: bool, temperature) -> Histogram:
    """DOS (one spectrum) or partial DOS per element of a set-up, averaged over each bin.

    Parameters
    ----------
    setup : inslib.simulation.setup.Setup
    edges : numpy.ndarray, shape (n_e + 1,)
        Energy bin edges, meV.
    by_element : bool
        One spectrum per element (summing to the total) instead of the total.

    Returns
    -------
    Histogram
        States per meV per atom of the primitive cell (the total integrates to 3).
    """
    mesh = setup.mesh
    return density_histogram(mesh.partial[0].detach().cpu().numpy(), mesh.dos_energy,
                             mesh.width, setup.model.crystal, edges, by_element, temperature,
                             f"mesh DOS, force constants {setup.source}", setup_logs(setup))


def density_histogram(partial: np.ndarray, centres: np.ndarray, width: float, crystal,
                      edges: np.ndarray, by_element: bool, temperature, source: str,
                      logs: dict) -> Histogram:
    """DOS or partial DOS per element from a partial DOS per atom on fine bins.

    Parameters
    ----------
    partial : numpy.ndarray, shape (n_atoms, n_fine)
        States/meV per atom, constant over fine bins of ``width`` meV at ``centres`` (meV).
    crystal : inslib.structure.Crystal
    edges : numpy.ndarray, shape (n_e + 1,)
        Output energy bin edges, meV.
    by_element : bool
        One spectrum per element (summing to the total) instead of the total.
    temperature : float or None
        K (metadata only).
    source : str
        Where the partial DOS comes from (provenance).
    logs : dict

    Returns
    -------
    Histogram
        States per meV per atom of the primitive cell (the total integrates to 3).
    """
    partial = rebin_density(partial, centres, width, edges) / crystal.n_atoms
    labels = list(dict.fromkeys(crystal.symbols)) if by_element else ["Total"]
    rows = np.array([partial[[s == label or label == "Total" for s in crystal.symbols]].sum(0)
                     for label in labels])
    axis = Axis(np.arange(len(labels), dtype=float), "Label", "text", is_edges=False,
                ticks=tuple(enumerate(labels)))
    meta = Metadata(temperature=temperature,
                    title=f"Predicted {'partial ' if by_element else ''}phonon DOS",
                    provenance=[source], logs=logs)
    return Histogram((axis, energy_axis(edges)), rows, np.zeros(rows.shape),
                     np.zeros(rows.shape, bool), meta, y_unit_label="states/meV per atom")


def rebin_density(density: np.ndarray, centres: np.ndarray, width: float,
                  edges: np.ndarray) -> np.ndarray:
    """Average densities given on fine bins over other bins, by the overlap of the bins.

    Parameters
    ----------
    density : numpy.ndarray, shape (n_rows, n_fine)
        Per meV, constant over fine bins of ``width`` meV centred on ``centres`` (meV, shape
        (n_fine,)).
    edges : numpy.ndarray, shape (n_e + 1,)
        meV.

    Returns
    -------
    numpy.ndarray, shape (n_rows, n_e)
        Per meV; states outside the fine bins count as 0.
    """
    fine_edges = np.append(centres - 0.5 * width, centres[-1] + 0.5 * width)
    cumulative = np.concatenate([np.zeros((len(density), 1)),
                                 np.cumsum(density * width, axis=1)], axis=1)
    at_edges = np.array([np.interp(edges, fine_edges, row) for row in cumulative])
    return np.diff(at_edges, axis=1) / np.diff(edges)


def combine(members: list) -> Histogram:
    """Mean of the members' spectra; variance = their sample variance (0 for one member)."""
    first = members[0]
    for other in members[1:]:
        if other.signal.shape != first.signal.shape or any(
                not np.allclose(a.values, b.values) for a, b in zip(
                    first.axes, other.axes, strict=True)):
            msg = ("ForceField: the ensemble's members gave different bins (their relaxed "
                   "cells differ): use Relax=Positions or one force field")
            raise SimulationError(msg)
    signals = np.stack([m.signal for m in members])
    variance = signals.var(axis=0, ddof=1) if len(members) > 1 else np.zeros(first.signal.shape)
    return replace(first, signal=signals.mean(axis=0), variance=variance,
                   mask=first.mask.copy(), metadata=first.metadata)
