r"""``inslib predict-batch``: PredictSQE on a list of structures, one dask task per structure.

The list is a folder of structure files or a text file with one path per line. Every
structure's request is validated before anything is computed; one invalid structure refuses
the whole batch. Each result is the one :func:`inslib.ml.predict.run_predict` gives for that
structure alone, saved as ``<out>/<stem>.nxs`` (Mantid layout, written atomically).

Examples
--------
The DOS of every structure in a folder, on a local cluster of two workers::

    inslib predict-batch structures/ --out dos/ --output DOS --workers 2

Powder maps of the files listed in ``batch.txt``, in this process, one after the other::

    inslib predict-batch batch.txt --out maps/ --scheduler none --instrument ARCS --ei 80
"""

import os
from dataclasses import replace
from pathlib import Path

BATCH_METHODS = ("ForceField", "Direct")
BATCH_OUTPUTS = ("DOS", "PartialDOS", "IndirectSE", "PowderSQE")


class BatchError(ValueError):
    """A batch that cannot be run; the message names the argument, the value and the fix."""


# --- the list of structures ----------------------------------------------------------------


def structure_list(source) -> list[Path]:
    """Return the structure files of a folder (sorted) or of a text file (in its order).

    Parameters
    ----------
    source : str or pathlib.Path
        A folder: every file whose name PredictSQE's StructureFile accepts (.cif, .vasp,
        .cell, .xsf, .xyz, POSCAR*, CONTCAR*). A text file: one path per line, relative ones
        taken from the text file's folder; blank lines and lines starting with '#' skipped.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    BatchError
        When ``source`` does not exist, lists no structure, or lists a file that does not
        exist.
    """
    path = Path(source)
    if not path.exists():
        msg = (f"SOURCE {str(source)!r} does not exist: give a folder of structure files or a "
               "text file with one structure path per line")
        raise BatchError(msg)
    paths = _folder_structures(path) if path.is_dir() else _listed_structures(path)
    if not paths:
        kind = ("holds no structure file (.cif, .vasp, .cell, .xsf, .xyz, POSCAR*, CONTCAR*)"
                if path.is_dir() else "lists no path (only blank lines and # comments)")
        msg = f"SOURCE {str(source)!r} {kind}: give at least one structure"
        raise BatchError(msg)
    return paths


def is_structure_name(path: Path) -> bool:
    """Whether a file name is one PredictSQE's StructureFile accepts (hidden files are not)."""
    from inslib.runtime.properties import STRUCTURE_EXTENSIONS

    if path.name.startswith("."):
        return False
    suffixes = tuple(e.lower() for e in STRUCTURE_EXTENSIONS if e.startswith("."))
    prefixes = tuple(e for e in STRUCTURE_EXTENSIONS if not e.startswith("."))
    return path.suffix.lower() in suffixes or path.name.startswith(prefixes)


def _folder_structures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_structure_name(p))


def _listed_structures(text_file: Path) -> list[Path]:
    try:
        lines = text_file.read_text().splitlines()
    except UnicodeDecodeError as err:
        msg = (f"SOURCE {str(text_file)!r} is not a text file ({err.reason}): give a folder of "
               "structure files or a text file with one path per line")
        raise BatchError(msg) from err
    listed = [(number, text_file.parent / line.strip())
              for number, line in enumerate(lines, start=1)
              if line.strip() and not line.strip().startswith("#")]
    missing = [f"line {number}: {str(path)!r}" for number, path in listed if not path.is_file()]
    if missing:
        msg = (f"SOURCE {str(text_file)!r} lists {len(missing)} file(s) that do not exist "
               f"({'; '.join(missing)}): fix the paths (relative ones are taken from the text "
               "file's folder)")
        raise BatchError(msg)
    return [path for _, path in listed]


# --- requests and output names -------------------------------------------------------------


def batch_requests(paths, template) -> list:
    """One validated PredictRequest per structure, ``template`` with its StructureFile set.

    Parameters
    ----------
    paths : list of pathlib.Path
    template : inslib.ml.predict.PredictRequest
        Every input but the structure (Method ForceField or Direct).

    Returns
    -------
    list of inslib.ml.predict.PredictRequest

    Raises
    ------
    BatchError
        For Method=Folder or an OutputForceConstantsFile, or listing every invalid structure
        with its {property: message} errors.
    """
    from inslib.ml.predict import validate_predict

    _check_template(template)
    requests = [replace(template, structure=str(path)) for path in paths]
    invalid = {r.structure: errors for r in requests if (errors := validate_predict(r))}
    if invalid:
        lines = [f"  {name}: " + "; ".join(f"{prop}: {message}" for prop, message in
                                           errors.items()) for name, errors in invalid.items()]
        msg = (f"{len(invalid)} of {len(requests)} structures cannot be predicted; nothing was "
               "computed:\n" + "\n".join(lines))
        raise BatchError(msg)
    return requests


def _check_template(template) -> None:
    if template.method not in BATCH_METHODS:
        msg = (f"Method={template.method!r}: a batch predicts structure files, with Method "
               f"{' or '.join(BATCH_METHODS)}; run PredictSQE Method=Folder on each phonon "
               "folder instead")
        raise BatchError(msg)
    if template.save_to:
        msg = (f"OutputForceConstantsFile={template.save_to!r}: a batch does not save force "
               "constants (every structure would write the same file); leave it empty")
        raise BatchError(msg)


def output_targets(requests, out_folder, overwrite: bool = False) -> list[Path]:
    """``<out_folder>/<stem>.nxs`` of each request; refuse clashes and existing files.

    Raises
    ------
    BatchError
        When two structures share a stem, ``out_folder`` is a file, or (without
        ``overwrite``) a target already exists.
    """
    folder = Path(out_folder)
    if folder.exists() and not folder.is_dir():
        msg = f"--out {str(folder)!r} is a file: give a folder (created if missing)"
        raise BatchError(msg)
    targets = [folder / f"{Path(r.structure).stem}.nxs" for r in requests]
    clashes = sorted({t.name for t in targets if targets.count(t) > 1})
    if clashes:
        msg = (f"structures with the same file stem would write the same output "
               f"({', '.join(clashes)}): rename them so that each stem is unique")
        raise BatchError(msg)
    existing = [t.name for t in targets if t.exists()]
    if existing and not overwrite:
        msg = (f"--out {str(folder)!r} already holds {', '.join(existing)}: choose another "
               "folder, remove them, or pass overwrite=True (--overwrite)")
        raise BatchError(msg)
    return targets


# --- running -------------------------------------------------------------------------------


def predict_batch(paths, request_template, out_folder, scheduler: str | None = "local",
                  n_workers: int | None = None, progress=None,
                  overwrite: bool = False) -> dict[str, Path]:
    """Predict every structure (all validated first) and save each result as a .nxs file.

    Parameters
    ----------
    paths : list of str or pathlib.Path
        Structure files (:func:`structure_list`).
    request_template : inslib.ml.predict.PredictRequest
        Every input but the structure; Method ForceField or Direct.
    out_folder : str or pathlib.Path
        Where ``<stem>.nxs`` goes for each structure (created).
    scheduler : str or None
        "local": a dask LocalCluster (``n_workers`` processes, one thread each); "none" or
        None: this process, one structure after the other; otherwise a dask scheduler address
        such as "tcp://host:8786" (its workers must read the structure files).
    n_workers : int, optional
        LocalCluster workers (default: the CPU count, at most one per structure).
    progress : callable, optional
        Called as progress(fraction, message) at the start and as each structure completes.
    overwrite : bool
        Replace outputs already in ``out_folder`` instead of refusing the batch.

    Returns
    -------
    dict
        {structure path: written .nxs file}, in the order of ``paths``.

    Raises
    ------
    BatchError
        Before anything is computed or written: any invalid structure or setting
        (:func:`batch_requests`, :func:`output_targets`). After the run: naming each structure
        whose prediction failed (the others are written).
    """
    if n_workers is not None and n_workers < 1:
        msg = f"--workers {n_workers}: give a number of workers >= 1"
        raise BatchError(msg)
    requests = batch_requests(paths, request_template)
    targets = output_targets(requests, out_folder, overwrite)
    Path(out_folder).mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _fraction, _message: None)
    report(0.0, f"{len(requests)} structures validated")
    if scheduler in (None, "none"):
        written = _run_serial(requests, targets, report)
    else:
        workers = n_workers or min(os.cpu_count() or 1, len(requests))
        written = _run_dask(requests, targets, scheduler, workers, report)
    return {r.structure: written[r.structure] for r in requests}


def predict_one(request):
    """Run one structure's prediction (a dask task); return its Histogram."""
    from inslib.ml.predict import run_predict

    return run_predict(request)


def _run_serial(requests, targets, report) -> dict:
    written, failed = {}, {}
    outcome = (written, failed, len(requests))
    for request, target in zip(requests, targets, strict=True):
        _finish(request, target, lambda r=request: predict_one(r), outcome, report)
    _raise_failures(failed, written)
    return written


def _run_dask(requests, targets, scheduler: str, n_workers: int, report) -> dict:
    from distributed import as_completed

    from inslib.runtime.cluster import dask_client

    written, failed = {}, {}
    with dask_client(scheduler, n_workers) as client:
        futures = {client.submit(predict_one, r, key=f"predict-batch-{k}-{Path(t).stem}",
                                 pure=False): (r, t)
                   for k, (r, t) in enumerate(zip(requests, targets, strict=True))}
        for future in as_completed(futures):
            request, target = futures[future]
            _finish(request, target, future.result, (written, failed, len(requests)), report)
    _raise_failures(failed, written)
    return written


def _finish(request, target: Path, result, outcome: tuple, report) -> None:
    """Save ``result()`` to ``target`` (or note its failure); report the fraction done."""
    from inslib.io.files import save_workspace  # temporary name, renamed when complete

    written, failed, total = outcome
    try:
        written[request.structure] = save_workspace(result(), target)
    except Exception as err:  # the others go on; every failure is named at the end
        failed[request.structure] = f"{type(err).__name__}: {err}"
    done = len(written) + len(failed)
    report(done / total, f"{Path(request.structure).name} done ({done}/{total})")


def _raise_failures(failed: dict, written: dict) -> None:
    if failed:
        lines = "\n".join(f"  {name}: {message}" for name, message in failed.items())
        msg = (f"{len(failed)} structure(s) failed ({len(written)} written):\n{lines}")
        raise BatchError(msg)


# --- command line --------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    """Add the ``predict-batch`` sub-command to an argparse sub-parser collection."""
    p = subparsers.add_parser("predict-batch", help="PredictSQE on a folder or list of "
                              "structures, on dask (one .nxs per structure)",
                              description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, metavar="SOURCE", help="folder of structure files, or "
                   "text file with one path per line (# comments)")
    p.add_argument("--out", type=Path, required=True, help="folder of the <stem>.nxs outputs")
    p.add_argument("--scheduler", default="local", help="local (a LocalCluster), none (this "
                   "process, serially) or a dask scheduler address (tcp://host:8786)")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: CPU count)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--method", choices=BATCH_METHODS, default="ForceField")
    p.add_argument("--output", choices=BATCH_OUTPUTS, default="PowderSQE")
    p.add_argument("--force-field", help="ForceField (comma-separated = an ensemble)")
    p.add_argument("--relax", help="Relax: None, Positions or PositionsAndCell")
    p.add_argument("--supercell", help="SupercellMatrix: n1,n2,n3 or nine integers")
    p.add_argument("--mesh", type=int, help="MeshSize (n of the n x n x n mesh)")
    p.add_argument("--instrument", default="", help="Instrument (PowderSQE, IndirectSE)")
    p.add_argument("--ei", type=float, help="Ei, meV (direct geometry)")
    p.add_argument("--temperature", type=float, help="Temperature, K")
    p.add_argument("--ebinning", default="", help="EBinning start,step,end (meV)")
    p.add_argument("--qbinning", default="", help="QBinning start,step,end (1/Angstrom)")
    p.add_argument("--incoherent", action="store_true", help="Coherent=False: PowderSQE in the "
                   "incoherent approximation (Method=Direct: of the predicted DOS)")
    p.set_defaults(func=run)


def template_of(args):
    """Return the PredictRequest of the command line's options (no StructureFile)."""
    from inslib.ml.predict import PredictRequest
    from inslib.simulation.requests import TemplateRequest

    template = TemplateRequest(instrument=args.instrument, ei=args.ei,
                               e_binning=args.ebinning, q_binning=args.qbinning,
                               temperature=args.temperature)
    given = {"force_fields": args.force_field, "relax": args.relax,
             "supercell": args.supercell, "grid": args.mesh}
    return PredictRequest(method=args.method, output=args.output, template=template,
                          coherent=not args.incoherent,
                          **{key: value for key, value in given.items() if value is not None})


def run(args) -> int:
    """Run ``inslib predict-batch``; 0 on success."""
    from inslib.runtime.progress import progress_bar

    summary = predict_batch(structure_list(args.source), template_of(args), args.out,
                            scheduler=args.scheduler, n_workers=args.workers,
                            progress=progress_bar, overwrite=args.overwrite)
    for structure, path in summary.items():
        print(f"{structure}: saved {path}")
    return 0
