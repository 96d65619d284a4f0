"""Training maps of the Direct route's powder-map networks: coherent one-phonon S(|Q|, E) at 0 K.

The *intrinsic map* of a crystal is its coherent one-phonon powder S(|Q|, E) on a fixed grid
(``Q_EDGES`` x ``E_EDGES``), for energy loss only, at T = 0 K (Bose factor n + 1 = 1,
zero-point Debye-Waller), broadened by a constant Gaussian of ``INTRINSIC_FWHM`` and averaged
over each bin: mbarn/meV per atom. It carries what the DOS alone cannot (the dispersion seen
through |Q|); temperature, the instrument's resolution, the template's bins and mask and the
incoherent and multiphonon terms are put on it at prediction time
(:mod:`inslib.ml.map_decode`). It is computed by the simulations' own coherent powder average
(:func:`inslib.scattering.powder.coherent_powder`) from a labelled record's force constants,
once per record, and cached beside the labels (``maps-<grid digest>/<id>.npy``, not
committed: it is rebuilt from the records in about a second each).
"""

import hashlib

import numpy as np

from inslib.ml.records import LabelFolder, load_record
from inslib.simulation.errors import SimulationError

Q_EDGES = np.linspace(0.0, 12.0, 61)  # |Q| bin edges, 1/Angstrom
E_EDGES = np.linspace(0.0, 150.0, 121)  # energy-transfer bin edges, meV
INTRINSIC_FWHM = 1.25  # meV: the Gaussian every mode is deposited with (one bin)
MESH = 8  # Monkhorst-Pack mesh of the zero-point Debye-Waller factor
DIRECTIONS = 200  # directions per |Q| bin in the irreducible wedge


def grid_digest() -> str:
    """First 12 hex digits of the SHA-256 of the grid and sampling (names the cache folder)."""
    text = (f"{Q_EDGES.tolist()}|{E_EDGES.tolist()}|{INTRINSIC_FWHM}|{MESH}|"
            f"{DIRECTIONS}")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def intrinsic_map(force_constants) -> np.ndarray:
    """Coherent one-phonon powder S(|Q|, E) at 0 K on the fixed grid (see the module docstring).

    Parameters
    ----------
    force_constants : inslib.phonons.force_constants.ForceConstants

    Returns
    -------
    numpy.ndarray, shape (len(Q_EDGES) - 1, len(E_EDGES) - 1)
        mbarn/meV per atom, bin averages, float32.
    """
    import torch

    from inslib.scattering.binning import Resolution
    from inslib.scattering.powder import PowderSampling, coherent_powder
    from inslib.simulation.setup import cached_setup

    setup = cached_setup(force_constants, "", 0.0, MESH)
    with torch.no_grad():
        halves = coherent_powder(setup.model, Q_EDGES, E_EDGES,
                                 Resolution.constant(INTRINSIC_FWHM), 0.0, setup.mesh.dw,
                                 PowderSampling(n_shells=1, n_directions=DIRECTIONS))
    return halves.mean(dim=1)[0].cpu().numpy().astype(np.float32)


def incoherent_intrinsic(model, mesh) -> np.ndarray:
    """Incoherent approximation of the intrinsic map, from a model's mesh DOS at 0 K.

    The one-phonon term of the incoherent approximation with the coherent cross-sections
    (the forward model's incoherent one-phonon term with the total cross-section, less that
    with the incoherent one), on the intrinsic grid at 0 K with the intrinsic Gaussian. Its
    integral over the grid is the intrinsic map's (the coherent one-phonon sum rule: the mean
    of |Q.e|^2 over the sphere is the incoherent one; measured on 10 test records: ratio
    0.995-1.011); it sets the intensity of a predicted map.

    Parameters
    ----------
    model : PhononModel or inslib.ml.direct_predict.PredictedModel
    mesh : inslib.scattering.mesh.MeshResults
        At 0 K (one set).

    Returns
    -------
    numpy.ndarray, shape (len(Q_EDGES) - 1, len(E_EDGES) - 1)
        mbarn/meV per atom.
    """
    from inslib.scattering.binning import Resolution
    from inslib.simulation.forward import Multiphonon, PowderForward, Thermal

    terms = Multiphonon(E_EDGES, Resolution.constant(INTRINSIC_FWHM), 1, True)
    mask = np.zeros((len(Q_EDGES) - 1, len(E_EDGES) - 1), dtype=bool)
    total, incoherent = (PowderForward(model, Q_EDGES, mask, Thermal(0.0, MESH), terms,
                                       coherent=coherent).incoherent_terms(mesh)
                         for coherent in (False, True))
    return (total - incoherent)[0].cpu().numpy()


def cached_maps(labels, ids, log=print) -> dict:
    """{id: intrinsic map} of records of a label folder, computed once and cached.

    Parameters
    ----------
    labels : str or Path
        The label folder (``records/``); the cache is its ``maps-<grid digest>/``.
    ids : iterable of str
        Record ids.

    Returns
    -------
    dict
        id -> numpy.ndarray, shape (n_q, n_e), mbarn/meV per atom; records whose set-up the
        simulations refuse (more than 5 % of the 8^3 mesh's modes imaginary) are left out.
    """
    from inslib.io.atomic import atomic_path

    folder = LabelFolder(labels)
    cache = folder.path / f"maps-{grid_digest()}"
    cache.mkdir(exist_ok=True)
    maps, ids = {}, sorted(ids)
    for k, record_id in enumerate(ids):
        path = cache / f"{record_id}.npy"
        if not path.exists():
            record = load_record(folder.record_path(record_id))
            try:
                values = intrinsic_map(record.force_constants)
            except SimulationError as err:
                log(f"intrinsic map of {record_id} left out: {err}")
                continue
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, values)
            if k % 50 == 0:
                log(f"intrinsic maps: {k + 1}/{len(ids)}")
        maps[record_id] = np.load(path, allow_pickle=False)
    return maps
