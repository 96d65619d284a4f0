"""The label folder of the Direct predictor's dataset: one compressed file per structure.

Layout of a folder (``data/predict/<force field>/``)::

    settings.json        LabelSettings every record was made with (a run refuses others)
    records/<id>.npz.xz  one labelled structure (:func:`save_record`, :func:`load_record`)
    failed/<id>.json     one structure that could not be labelled, with the reason

Files are written to a hidden ``.<name>.<pid>.part`` file and renamed, so a crash leaves no
half-written record; a run removes the ``.part`` files whose writer is no longer running. A
record is a numpy ``.npz`` archive compressed with xz (lzma: a third smaller than the zip
deflate of ``savez_compressed`` on float32 force constants), read with ``allow_pickle=False``;
its metadata is a JSON string inside. Several runs can share a folder, each on its own shard
of the manifest (its own lock).
"""

import fcntl
import io
import json
import lzma
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.phonons.force_constants import ForceConstants
from inslib.structure import Crystal

FORMAT_VERSION = 1
SUFFIX = ".npz.xz"


class LabelFolderError(ValueError):
    """A label folder that cannot be used with the settings given (the message says why)."""


@dataclass
class Record:
    """One labelled structure, as read back.

    Attributes
    ----------
    id : str
        The structure's id in the manifest.
    force_constants : ForceConstants
        On the relaxed primitive cell (eV/Angstrom^2, float32 precision).
    edges : numpy.ndarray, shape (n_bins + 1,)
        Energy bin edges, meV.
    dos : numpy.ndarray, shape (n_bins,)
        States/meV per primitive cell (integrates to 3 n_atoms below the grid's top).
    pdos : numpy.ndarray, shape (n_elements, n_bins)
        Per element (``meta["elements"]``), states/meV per primitive cell; sums to ``dos``.
    indirect : numpy.ndarray, shape (n_banks, n_bins)
        Indirect-geometry S(E) per bank (``meta["banks_deg"]``), mbarn/meV per atom.
    meta : dict
        Prototype, settings, relaxation, mesh figures, cost (cpu_s, wall_s).
    """

    id: str
    force_constants: ForceConstants
    edges: np.ndarray
    dos: np.ndarray
    pdos: np.ndarray
    indirect: np.ndarray
    meta: dict

    @property
    def crystal(self) -> Crystal:
        """The relaxed primitive cell."""
        return self.force_constants.crystal


def save_record(path, entry_meta: dict, labels) -> Path:
    """Write one labelled structure (float32 but cell, positions, masses; xz), atomically.

    Parameters
    ----------
    path : str or Path
        ``records/<id>.npz.xz``.
    entry_meta : dict
        The manifest fields to keep (id, prototype, family, formula, source...).
    labels : inslib.ml.labels.Labels
    """
    fcs, spectra = labels.force_constants, labels.spectra
    crystal = fcs.crystal
    meta = {**entry_meta, **labels.meta, "format": FORMAT_VERSION, "source_fc": fcs.source,
            "elements": spectra["elements"], "banks_deg": np.asarray(spectra["banks_deg"])
            .tolist(), "symbols": crystal.symbols}
    arrays = {"cell": crystal.cell, "positions": crystal.positions, "masses": crystal.masses,
              "fc": fcs.fc.astype(np.float32), "cell_origins": fcs.cell_origins.astype(np.int16),
              "sc_matrix": fcs.sc_matrix.astype(np.int16),
              **{k: np.asarray(spectra[k], dtype=np.float32)
                 for k in ("edges", "dos", "pdos", "indirect")}}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(lzma.compress(buffer.getvalue()))
    partial.replace(path)
    return path


def load_record(path) -> Record:
    """Read a record written by :func:`save_record` (no pickle)."""
    raw = io.BytesIO(lzma.decompress(Path(path).read_bytes()))
    with np.load(raw, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        crystal = Crystal(data["cell"], data["positions"], meta["symbols"], data["masses"])
        fcs = ForceConstants(crystal, data["fc"].astype(float), data["cell_origins"],
                             data["sc_matrix"], source=meta["source_fc"])
        return Record(meta["id"], fcs, data["edges"].astype(float), data["dos"].astype(float),
                      data["pdos"].astype(float), data["indirect"].astype(float), meta)


class LabelFolder:
    """Records and failures of one labelling configuration (see the module docstring).

    Parameters
    ----------
    path : str or Path
    """

    def __init__(self, path):
        self.path = Path(path)
        self.records = self.path / "records"
        self.failures = self.path / "failed"

    def prepare(self, settings_key: dict) -> int:
        """Create the folder, check or write settings.json; return the stale .part files removed.

        Raises
        ------
        LabelFolderError
            When the folder's records were made with other settings.
        """
        self.records.mkdir(parents=True, exist_ok=True)
        self.failures.mkdir(exist_ok=True)
        stored = self.path / "settings.json"
        if stored.is_file():
            old = json.loads(stored.read_text())
            if old != settings_key:
                changed = sorted(k for k in settings_key if old.get(k) != settings_key[k])
                msg = (f"{self.path}: its records were made with other settings ({changed}); "
                       "label into another folder, or use the folder's settings")
                raise LabelFolderError(msg)
        else:
            _write_text(stored, json.dumps(settings_key, indent=1) + "\n")
        stale = [path for path in [*self.records.glob(".*.part"), *self.failures.glob(".*.part")]
                 if not _writer_running(path)]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    @contextmanager
    def lock(self, shard: str = ""):
        """Hold the lock of one shard of the folder; LabelFolderError if another run has it."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / f".lock{shard}").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                msg = (f"{self.path} (shard {shard or 'all'}) is being labelled by another run: "
                       "wait for it or stop it")
                raise LabelFolderError(msg) from None
            yield

    def done(self) -> set:
        """Ids with a record."""
        return {p.name.removesuffix(SUFFIX) for p in self.records.glob(f"*{SUFFIX}")}

    def failed(self) -> dict:
        """{id: failure dict} of the structures that could not be labelled."""
        return {p.stem: json.loads(p.read_text()) for p in self.failures.glob("*.json")}

    def record_path(self, structure_id: str) -> Path:
        """Where a structure's record is (or goes)."""
        return self.records / f"{structure_id}{SUFFIX}"

    def save_failure(self, structure_id: str, failure: dict) -> Path:
        """Record why a structure could not be labelled (a retry removes it on success)."""
        return _write_text(self.failures / f"{structure_id}.json", json.dumps(failure) + "\n")

    def clear_failure(self, structure_id: str) -> None:
        """Forget a failure (after a successful retry)."""
        (self.failures / f"{structure_id}.json").unlink(missing_ok=True)


def _writer_running(path: Path) -> bool:
    """Whether the process named in a ``.<name>.<pid>.part`` file is still running."""
    pid = path.name.removesuffix(".part").rpartition(".")[2]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def _write_text(path: Path, text: str) -> Path:
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(text)
    partial.replace(path)
    return path
