"""Shard files (HDF5) and the dataset manifest: atomic writes, validity checks, resumption.

Layout of ``shard_00000.h5`` (n spectra):

- ``spectra`` float32 (n, *shape), chunked one spectrum per chunk, gzip + shuffle;
- ``parameters`` float64 (n, n_params), eV/Angstrom^2; ``parameter_names`` (str),
  ``parameter_distances`` float64 (n_params,), Angstrom;
- ``convergence`` float64 (n,) for coherent powder maps (two-halves relative difference);
- ``noisy`` float32 (n, *shape) and ``noise_levels`` float64 (n, 2) = (background, counts) when
  the noise is stored;
- group ``template``: ``q_edges`` (1/Angstrom), ``e_edges`` (meV), ``mask`` (bool), ``angles``
  (degrees), ``energy`` (meV, DOS) or ``path_edges`` (1/Angstrom), ``tick_positions``
  (1/Angstrom) and ``tick_labels`` (bytes, QPath), whichever the output has;
- attributes: ``config_hash``, ``config`` (JSON), ``shard_index``, ``n_spectra``, ``seed``
  (JSON [config seed, shard index]: numpy SeedSequence entropy), ``rejected_unstable``,
  ``attempts``, ``sampling`` (JSON), ``code_version``, ``git_hash``, ``date``, ``units``,
  ``complete`` (True; written last).

A shard is written to a temporary file in the same folder, flushed to disk (fsync) and moved
into place with os.replace, so a file named ``shard_*.h5`` is either complete or absent.
"""

import datetime
import json
import os
import subprocess
from pathlib import Path

import numpy as np

from inslib.datagen.config import DatagenConfigError

MANIFEST = "manifest.json"
UNITS = {"PowderSQE": "mbarn/meV per atom", "PowderChi": "mbarn/meV per atom (S x (1-exp(-E/kT)))",
         "IndirectSE": "mbarn/meV per atom", "DOS": "states/meV per atom",
         "QPath": "mbarn/meV per atom (path bins x energy bins)"}


def shard_path(folder, index: int) -> Path:
    """Path of shard ``index`` in ``folder``."""
    return Path(folder) / f"shard_{index:05d}.h5"


def git_hash() -> str:
    """Commit of the code (read-only ``git rev-parse HEAD``), "unknown" outside a checkout."""
    import inslib

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=inslib.PROJECT_ROOT,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def provenance() -> dict:
    """Code version, git hash and date (UTC, ISO 8601) of this run."""
    import inslib

    return {"code_version": inslib.__version__, "git_hash": git_hash(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def write_shard(path, content: dict, attrs: dict) -> None:
    """Write one shard atomically (temp file in the same folder, fsync, os.replace).

    Parameters
    ----------
    path : str or pathlib.Path
        Final file name.
    content : dict
        Datasets: "spectra", "parameters", "parameter_names", "parameter_distances", optional
        "convergence", "noisy", "noise_levels", and "template" (dict of arrays).
    attrs : dict
        Root attributes (str, int, float); "complete" is added last.
    """
    import h5py

    from inslib.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, value in content.items():
                if name == "template":
                    group = f.create_group("template")
                    for key, array in value.items():
                        group.create_dataset(key, data=array)
                else:
                    _dataset(f, name, value)
            f.attrs.update(attrs)
            f.attrs["complete"] = True
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())


def _dataset(f, name: str, value) -> None:
    if name in ("spectra", "noisy"):
        array = np.asarray(value, dtype=np.float32)
        f.create_dataset(name, data=array, chunks=(1, *array.shape[1:]), compression="gzip",
                         compression_opts=4, shuffle=True)
    elif name == "parameter_names":
        f.create_dataset(name, data=np.array(value, dtype=object), dtype=_string_type())
    else:
        f.create_dataset(name, data=np.asarray(value, dtype=np.float64))


def _string_type():
    import h5py

    return h5py.string_dtype()


def shard_is_valid(path, config_hash: str, n_spectra: int) -> bool:
    """Tell whether ``path`` is a complete shard of this configuration with n_spectra spectra."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return (bool(f.attrs.get("complete", False))
                    and f.attrs.get("config_hash") == config_hash
                    and f["spectra"].shape[0] == n_spectra
                    and f["parameters"].shape[0] == n_spectra)
    except (OSError, KeyError, ValueError):
        return False


def shard_hash(path) -> str | None:
    """Return the config hash a (readable) shard was written under, else None."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get("config_hash")
    except OSError:
        return None
    return None if value is None else str(value)


def prepare_folder(folder, config, config_hash: str) -> None:
    """Create ``folder`` and its manifest, or check that it holds this configuration only.

    Raises
    ------
    DatagenConfigError
        When the manifest or a readable shard belongs to another configuration.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    if manifest.exists():
        other = json.loads(manifest.read_text()).get("config_hash")
        if other != config_hash:
            _foreign(folder, other, config_hash)
    for path in sorted(folder.glob("shard_*.h5")):
        other = shard_hash(path)
        if other is not None and other != config_hash:
            _foreign(folder, other, config_hash)
    if not manifest.exists():
        _write_manifest(manifest, config, config_hash)


def _foreign(folder: Path, other, config_hash: str):
    msg = (f"output={str(folder)!r}: the folder holds shards of another configuration "
           f"(hash {str(other)[:12]}..., this one {config_hash[:12]}...); give a new or empty "
           "folder, or the configuration those shards were made with")
    raise DatagenConfigError(msg)


def _write_manifest(path: Path, config, config_hash: str) -> None:
    from inslib.io.atomic import atomic_path

    data = {"config_hash": config_hash, "config": config.to_dict(),
            "n_shards": config.n_shards, "shards": [shard_path("", i).name
                                                    for i in range(config.n_shards)],
            **provenance()}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
