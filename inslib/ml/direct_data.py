"""Training samples of the Direct predictor: labelled records as graphs and normalised targets.

The target of a structure is its partial DOS per element (``Record.pdos``) as fractions of
its 3 N modes per bin, so every structure weighs the same whatever its size. Records with
modes below -2 meV (``stable: false``) or with more than ``MAX_ABOVE`` of their states above
the grid are left out: the network's sum rule puts all 3 N modes on the grid.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.datagen.config import file_digest
from inslib.ml.graph import crystal_graph
from inslib.ml.records import SUFFIX, load_record
from inslib.ml.structures import read_manifest, split

MAX_ABOVE = 0.01  # fraction of a structure's states allowed above the grid's top


@dataclass(frozen=True)
class Sample:
    """One structure ready for training.

    Attributes
    ----------
    id : str
    part : str
        "train", "val" or "test" (whole prototypes per part).
    graph : inslib.ml.graph.Graph
    element_of_atom : numpy.ndarray of int, shape (n_atoms,)
        Row of ``target`` each atom's partial DOS adds to.
    target : numpy.ndarray, shape (n_elements, n_bins)
        Partial DOS per element as fractions of the 3 N modes per bin (sums to about 1).
    """

    id: str
    part: str
    graph: object
    element_of_atom: np.ndarray
    target: np.ndarray


def usable(meta: dict) -> bool:
    """Whether a record trains the network (stable, its states on the grid)."""
    n_modes = 3 * len(meta["symbols"])
    return bool(meta["stable"]) and abs(meta.get("states_above", 0.0)) <= MAX_ABOVE * n_modes


def to_sample(record, part: str, cutoff: float) -> Sample:
    """Graph and normalised target of one record."""
    elements = record.meta["elements"]
    widths = np.diff(record.edges)
    n_modes = 3 * record.crystal.n_atoms
    return Sample(record.id, part, crystal_graph(record.crystal, cutoff),
                  np.array([elements.index(s) for s in record.crystal.symbols]),
                  np.asarray(record.pdos, dtype=float) * widths / n_modes)


def load_samples(manifest, labels, cutoff: float, ids=None, log=print) -> tuple[list, str]:
    """Usable records of a label folder as samples, and the SHA-256 of the files read.

    Parameters
    ----------
    manifest : str or Path
        The structures' JSON lines (prototypes, hence the split).
    labels : str or Path
        The label folder (``records/``).
    cutoff : float
        Graph radius, Angstrom.
    ids : collection of str, optional
        Read only these records (a trained model's card lists the ones it was trained on);
        all when None.

    Returns
    -------
    samples : list of Sample
    data_hash : str
        SHA-256 over the sorted (record name, file SHA-256) pairs of the samples' records.

    Raises
    ------
    FileNotFoundError
        A record of ``ids`` is not in the folder.
    """
    parts = split(read_manifest(manifest))
    folder = Path(labels, "records")
    paths = (sorted(folder.glob(f"*{SUFFIX}")) if ids is None
             else [folder / f"{i}{SUFFIX}" for i in sorted(ids)])
    samples = []
    for path in paths:
        record = load_record(path)
        if usable(record.meta) and record.id in parts:
            samples.append(to_sample(record, parts[record.id], cutoff))
    counts = {p: sum(s.part == p for s in samples) for p in ("train", "val", "test")}
    log(f"{len(paths)} records, {len(samples)} usable: {counts}")
    return samples, records_digest(labels, [s.id for s in samples])


def records_digest(labels, ids) -> str:
    """SHA-256 over the sorted (record file name, file SHA-256) pairs of records of a folder.

    Parameters
    ----------
    labels : str or Path
        The label folder (``records/``).
    ids : iterable of str
        Record ids.
    """
    digest = hashlib.sha256()
    for record_id in sorted(ids):
        path = Path(labels, "records", f"{record_id}{SUFFIX}")
        digest.update(f"{path.name}:{file_digest(path)}\n".encode())
    return digest.hexdigest()
