"""Resumable, chunked labelling of the Direct predictor's dataset, and its progress figures.

:func:`generate` labels the manifest's structures in its order, skipping those with a record
and (unless asked) those that failed before; it stops after ``limit`` structures or when
``time_budget`` seconds have passed (no structure starts after that). Each structure ends as a
record or a failure file, so a crash loses at most the one being labelled.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from inslib.ml.labels import LabelError, LabelSettings, label_structure
from inslib.ml.records import SUFFIX, LabelFolder, save_record
from inslib.ml.structures import Entry, read_manifest

ENTRY_FIELDS = ("id", "prototype", "family", "formula", "spacegroup", "source", "parent")
SIZE_BINS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))  # atoms in the primitive cell


@dataclass
class RunSummary:
    """What one :func:`generate` call did.

    Attributes
    ----------
    labelled, failed : list of str
        Ids labelled and failed in this run.
    stale_removed : int
        Half-written files of an earlier crash removed at the start.
    wall_s : float
        Seconds of the run.
    """

    labelled: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    stale_removed: int = 0
    wall_s: float = 0.0


def pending(entries: list, folder: LabelFolder, retry_failed: bool = False) -> list:
    """Entries with no record (and no failure, unless ``retry_failed``), in manifest order."""
    skip = folder.done() | (set() if retry_failed else set(folder.failed()))
    return [e for e in entries if e.id not in skip]


def generate(manifest, out, settings: LabelSettings | None = None, limit: int | None = None,
             time_budget: float | None = None, retry_failed: bool = False,
             shard: tuple[int, int] = (0, 1), log=print) -> RunSummary:
    """Label pending structures of a manifest into a label folder.

    Parameters
    ----------
    manifest : str or Path
        structures.jsonl (:func:`inslib.ml.structures.write_manifest`).
    out : str or Path
        Label folder (:class:`inslib.ml.records.LabelFolder`).
    settings : LabelSettings, optional
        Default: LabelSettings(); must match the folder's settings.json.
    limit : int, optional
        Structures to attempt at most.
    time_budget : float, optional
        Seconds after which no new structure starts.
    retry_failed : bool
        Attempt structures that failed before.
    shard : (int, int)
        (k, n): label only every n-th structure of the manifest from the k-th, so that n runs
        (one per core or machine) share a folder.
    log : callable
        Receives one line per structure.
    """
    settings = settings or LabelSettings()
    folder = LabelFolder(out)
    summary = RunSummary()
    start = time.perf_counter()
    k, n = shard
    with folder.lock(f"-{k}-of-{n}" if n > 1 else ""):
        summary.stale_removed = folder.prepare(settings.key())
        todo = pending(read_manifest(manifest)[k::n], folder, retry_failed)[:limit]
        for index, entry in enumerate(todo):
            if time_budget is not None and time.perf_counter() - start >= time_budget:
                log(f"time budget of {time_budget:g} s reached: {len(todo) - index} left")
                break
            ok = label_one(entry, folder, settings, log)
            (summary.labelled if ok else summary.failed).append(entry.id)
    summary.wall_s = time.perf_counter() - start
    return summary


def label_one(entry: Entry, folder: LabelFolder, settings: LabelSettings, log=print) -> bool:
    """Label one structure into the folder (a record, or a failure file); True on success.

    Every exception but KeyboardInterrupt/SystemExit is recorded as a failure with its type
    and message, so that one bad structure does not stop a long run.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        labels = label_structure(entry.crystal(), settings)
    except LabelError as err:
        kind, detail = err.kind, str(err)
    except Exception as err:  # recorded: the run goes on
        kind, detail = "error", f"{type(err).__name__}: {err}"
    else:
        meta = {k: v for k, v in asdict(entry).items() if k in ENTRY_FIELDS}
        path = save_record(folder.record_path(entry.id), meta, labels)
        folder.clear_failure(entry.id)
        log(f"{entry.id} {entry.formula:12s} {entry.n_atoms:2d} atoms: "
            f"{labels.meta['cpu_s']:6.1f} CPU-s, {labels.meta['n_displacements']} disp., "
            f"{path.stat().st_size / 1024:.0f} KiB")
        return True
    folder.save_failure(entry.id, {"id": entry.id, "kind": kind, "reason": detail,
                                   "n_atoms": entry.n_atoms, "formula": entry.formula,
                                   "cpu_s": time.process_time() - cpu,
                                   "wall_s": time.perf_counter() - wall})
    log(f"{entry.id} {entry.formula:12s} {entry.n_atoms:2d} atoms: FAILED ({detail[:100]})")
    return False


def progress_report(manifest, out) -> dict:
    """Progress figures of a label folder against its manifest.

    Returns
    -------
    dict
        ``total``, ``done``, ``failed`` (by kind), ``pending``, ``stable`` (records with no
        imaginary mode beyond the tolerance); ``bytes_per_record`` (mean);
        ``cpu_s_by_size`` {"a-b atoms": [count, mean CPU-s]} over records and failures;
        ``projected_cpu_h`` for the pending structures (their size bins' mean cost).
    """
    from inslib.ml.records import load_record

    entries = read_manifest(manifest)
    folder = LabelFolder(out)
    done, failed = folder.done(), folder.failed()
    records = [load_record(p) for p in sorted(folder.records.glob(f"*{SUFFIX}"))]
    cost = {r.id: (r.crystal.n_atoms, r.meta["cpu_s"]) for r in records}
    cost |= {i: (f["n_atoms"], f["cpu_s"]) for i, f in failed.items()}
    by_size = _cost_by_size(cost.values())
    left = [e for e in entries if e.id not in done and e.id not in failed]
    overall = float(np.mean([c for _, c in cost.values()])) if cost else float("nan")
    projected = sum(by_size.get(_size_bin(e.n_atoms), (0, overall))[1] for e in left) / 3600
    sizes = [p.stat().st_size for p in folder.records.glob(f"*{SUFFIX}")]
    kinds = {}
    for f in failed.values():
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    return {"total": len(entries), "done": len(done), "failed": kinds, "pending": len(left),
            "stable": sum(bool(r.meta["stable"]) for r in records),
            "bytes_per_record": float(np.mean(sizes)) if sizes else float("nan"),
            "cpu_s_by_size": by_size, "projected_cpu_h": projected}


def _size_bin(n_atoms: int) -> str:
    low, high = next(b for b in SIZE_BINS if b[0] <= n_atoms <= b[1])
    return f"{low}-{high} atoms"


def _cost_by_size(costs) -> dict:
    """{size bin: (count, mean CPU-s)} of (n_atoms, cpu_s) pairs."""
    groups = {}
    for n_atoms, cpu_s in costs:
        groups.setdefault(_size_bin(n_atoms), []).append(cpu_s)
    return {k: (len(v), float(np.mean(v))) for k, v in sorted(groups.items())}
