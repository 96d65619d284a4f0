"""Generate a dataset: missing shards only, in this process or on dask.distributed workers.

:func:`generate` is the Python entry point. Each task makes one shard (:func:`make_shard`),
whose content depends only on (configuration, shard index); valid shards already in the
folder are kept, so an interrupted run resumes where it stopped and a rerun changes nothing.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.datagen.config import DatagenConfig
from inslib.datagen.shards import prepare_folder, provenance, shard_is_valid, shard_path

_ENGINES = {}  # config hash -> Engine, one per worker process


@dataclass
class Summary:
    """What a run did.

    Attributes
    ----------
    written : int
        Spectra written by this run.
    kept : int
        Spectra in valid shards found from an earlier run.
    shards_written, shards_kept : int
    rejected : int
        Parameter sets rejected as dynamically unstable in the shards written.
    seconds : float
        Wall time of the run.
    """

    written: int
    kept: int
    shards_written: int
    shards_kept: int
    rejected: int
    seconds: float

    @property
    def rate(self) -> float:
        """Spectra written per second."""
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        """One-paragraph report for the command line."""
        return (f"{self.written} spectra written in {self.shards_written} shards "
                f"({self.kept} kept in {self.shards_kept} earlier shards); "
                f"{self.rejected} unstable parameter sets rejected; "
                f"{self.seconds:.1f} s, {self.rate:.2f} spectra/s")


def _engine(config: DatagenConfig, config_hash: str):
    from inslib.datagen.engine import build_engine

    if config_hash not in _ENGINES:
        _ENGINES[config_hash] = build_engine(config)
    return _ENGINES[config_hash]


def make_shard(config_data: dict, index: int, folder: str, meta: dict) -> dict:
    """Compute and write shard ``index`` (a dask task; torch on one thread).

    Parameters
    ----------
    config_data : dict
        :meth:`DatagenConfig.to_dict` (validated again here, once per process).
    index : int
    folder : str
    meta : dict
        "config_hash" and the run's provenance (code version, git hash, date).

    Returns
    -------
    dict
        "index", "n", "rejected", "seconds".
    """
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = DatagenConfig.from_dict(config_data)
        engine = _engine(config, meta["config_hash"])
        content, attrs = shard_content(engine, index)
    finally:
        torch.set_num_threads(threads)
    from inslib.datagen.shards import write_shard

    write_shard(shard_path(folder, index), content, {**attrs, **meta})
    return {"index": index, "n": len(content["spectra"]), "rejected": attrs["rejected_unstable"],
            "seconds": time.perf_counter() - start}


def shard_content(engine, index: int) -> tuple[dict, dict]:
    """Datasets and attributes of shard ``index`` (deterministic in (config, index))."""
    from inslib.datagen.engine import shard_parameters, shard_seeds, spectra

    config = engine.config
    params, rejected, attempts = shard_parameters(engine, index)
    values, convergence = spectra(engine, params)
    content = {"spectra": values, "parameters": params,
               "parameter_names": list(engine.basis.names),
               "parameter_distances": engine.basis.distances, "template": engine.template}
    if convergence is not None:
        content["convergence"] = convergence
    if config.noise.store:
        content.update(_stored_noise(engine, values, shard_seeds(config, index)[1]))
    sampling = {"n_shells": config.n_shells, "n_directions": config.n_directions,
                "scheme": "Fibonacci sphere per shell, seeded random rotation per shell",
                "mean_convergence": None if convergence is None else float(convergence.mean())}
    attrs = {"config": config.canonical_json(), "shard_index": index, "n_spectra": len(params),
             "seed": json.dumps([config.seed, index]), "rejected_unstable": rejected,
             "attempts": attempts, "sampling": json.dumps(sampling),
             "units": _units(config.output), "output": config.output}
    return content, attrs


def _units(output: str) -> str:
    from inslib.datagen.shards import UNITS

    return UNITS[output]


def _stored_noise(engine, values: np.ndarray, rng) -> dict:
    import torch

    from inslib.datagen.noise import noisy_levels, poisson_noise

    levels = noisy_levels(rng, len(values), engine.config.noise.backgrounds,
                          engine.config.noise.counts)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    mask = engine.template.get("mask")
    noisy = poisson_noise(torch.as_tensor(values), torch.as_tensor(levels[:, 1]),
                          torch.as_tensor(levels[:, 0]), generator, mask)
    return {"noisy": noisy.numpy(), "noise_levels": levels}


def missing_shards(config: DatagenConfig, folder, config_hash: str) -> list[int]:
    """List the shards not yet (validly) in ``folder``; remove invalid files."""
    for stale in Path(folder).glob(".shard_*.part"):  # temp files of an interrupted run
        stale.unlink(missing_ok=True)
    missing = []
    for index in range(config.n_shards):
        path = shard_path(folder, index)
        if not shard_is_valid(path, config_hash, config.shard_count(index)):
            path.unlink(missing_ok=True)
            missing.append(index)
    return missing


def generate(config: DatagenConfig, folder, scheduler: str | None = "local",
             n_workers: int | None = None, progress=None) -> Summary:
    """Write the missing shards of a dataset into ``folder``.

    Parameters
    ----------
    config : DatagenConfig
    folder : str or pathlib.Path
        Output folder (created; refused when it holds another configuration's shards).
    scheduler : str or None
        "local": a dask LocalCluster (``n_workers`` processes, one thread each); an address
        such as "tcp://host:8786": that dask scheduler (workers must see ``folder`` and the
        input files); None: this process, one shard after the other.
    n_workers : int, optional
        LocalCluster workers (default: the CPU count).
    progress : callable, optional
        Called as progress(shards_done, n_shards, spectra_done), kept shards included.

    Returns
    -------
    Summary
    """
    start = time.perf_counter()
    config_hash = config.config_hash()
    prepare_folder(folder, config, config_hash)
    todo = missing_shards(config, folder, config_hash)
    kept = [i for i in range(config.n_shards) if i not in set(todo)]
    base = (len(kept), sum(config.shard_count(i) for i in kept))
    meta = {"config_hash": config_hash, **provenance()}
    args = (config.to_dict(), str(folder), meta)
    report = _reporter(progress, base, config.n_shards)
    report([])
    results = (_run_local(todo, args, report) if scheduler is None
               else _run_dask(todo, args, scheduler, n_workers, report))
    return Summary(sum(r["n"] for r in results), base[1], len(results), base[0],
                   sum(r["rejected"] for r in results), time.perf_counter() - start)


def _run_local(todo, args, report) -> list[dict]:
    config_data, folder, meta = args
    results = []
    for index in todo:
        results.append(make_shard(config_data, index, folder, meta))
        report(results)
    return results


def _run_dask(todo, args, scheduler: str, n_workers, report) -> list[dict]:
    from distributed import as_completed

    from inslib.runtime.cluster import dask_client

    config_data, folder, meta = args
    results = []
    with dask_client(scheduler, n_workers or os.cpu_count()) as client:
        futures = [client.submit(make_shard, config_data, i, folder, meta, pure=False,
                                 key=f"datagen-{meta['config_hash'][:12]}-{i}")
                   for i in todo]
        for future in as_completed(futures):
            results.append(future.result())
            report(results)
    return results


def _reporter(progress, base: tuple, n_shards: int):
    """report(results) -> progress(shards done, n_shards, spectra done), kept ones included."""
    def report(results: list) -> None:
        if progress is not None:
            progress(base[0] + len(results), n_shards, base[1] + sum(r["n"] for r in results))

    return report
