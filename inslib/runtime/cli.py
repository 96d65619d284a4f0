"""The ``inslib`` command line on the built-in host: list, describe and run algorithms.

``inslib run NAME Prop=Value ... [--plot out.png]`` saves every output workspace to
``<value>.nxs`` (or to the value itself when it ends in .nxs), atomically.
``inslib compare MODEL MEASURED [--plot out.png]`` fits scale and background of a model to data
on the same bins.
"""

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from inslib.runtime.host import (
    Direction,
    InvalidArgumentsError,
    create_algorithm,
    load_algorithms,
    run_algorithm,
)
from inslib.runtime.progress import end_progress_line, progress_bar

_DIRECTIONS = {Direction.Input: "in", Direction.Output: "out", Direction.InOut: "in/out"}


def _list(_args) -> int:
    for name, cls in sorted(load_algorithms().items()):
        print(f"{name:28s} {cls().summary()}")
    return 0


def _describe(args) -> int:
    algorithm = create_algorithm(args.name)
    print(f"{algorithm.name()} v{algorithm.version()}  [{algorithm.category()}]")
    print(algorithm.summary())
    print(f"See also: {', '.join(algorithm.seeAlso())}")
    groups = {"": []}  # ungrouped first, then the groups in order of appearance, as the dialog
    for prop in algorithm.getProperties():
        groups.setdefault(algorithm.getPropertyGroup(prop.name), []).append(prop)
    for group, props in groups.items():
        print(f"\n--- {group or 'Properties'} ---")
        for prop in props:
            _describe_property(prop)
    return 0


def _describe_property(prop) -> None:
    default = prop.default if np.size(prop.default) and prop.default is not None else None
    default = "(empty)" if default is None or (isinstance(default, str) and not default) \
        else default
    print(f"{prop.name}  [{_DIRECTIONS[prop.direction]}, {prop.type}]  default: {default}")
    if prop.allowed():
        print(f"    allowed: {prop.allowed()}")
    print(f"    {prop.doc}")


def _check_outputs(name: str, properties: dict, plot) -> None:
    """Refuse output files whose folder is missing or not writable, before any work."""
    from inslib.runtime.host import Direction, create_algorithm

    targets = {prop.name: output_path(properties[prop.name])
               for prop in create_algorithm(name).getProperties()
               if prop.direction == Direction.Output and properties.get(prop.name)}
    if plot is not None:
        targets["--plot"] = Path(plot)
    errors = {prop: problem for prop, path in targets.items() if (problem := _unwritable(path))}
    if errors:
        raise InvalidArgumentsError(name, errors)


def _unwritable(path: Path) -> str:
    """Why ``path`` cannot be written ("" if it can): tried with a temporary file beside it."""
    folder = path.parent
    if not folder.is_dir():
        return f"cannot write {path}: folder {folder} does not exist; create it or choose another"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return (f"cannot write {path}: folder {folder} is not writable ({err.strerror}); choose "
                "a folder you can write to")
    return ""


def _parse_assignments(items) -> dict:
    properties, errors = {}, {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            errors[item] = "expected Prop=Value"
        elif name in properties:
            errors[name] = (f"given twice ({name}={properties[name]}, {name}={value}): give "
                            "each property once")
        else:
            properties[name] = value
    if errors:
        msg = "command line"
        raise InvalidArgumentsError(msg, errors)
    return properties


def output_path(value: str) -> Path:
    """Return the file an output workspace property value is saved to."""
    return Path(value if value.lower().endswith(".nxs") else f"{value}.nxs")


def _run(args) -> int:
    from inslib.histogram import Histogram
    from inslib.io.files import save_workspace
    from inslib.io.plot import plot_histogram

    properties = _parse_assignments(args.properties)
    _check_outputs(args.name, properties, args.plot)
    outputs = run_algorithm(args.name, progress=progress_bar, **properties)
    saved = {prop: workspace for prop, workspace in outputs.items()
             if workspace is not None and prop in properties}
    for prop, workspace in saved.items():
        print(f"{prop}: saved {save_workspace(workspace, output_path(properties[prop]))}")
    if not args.plot:
        return 0
    plotted = {prop: workspace for prop, workspace in saved.items()
               if isinstance(workspace, Histogram)}
    for prop, workspace in saved.items():
        if prop not in plotted:
            print(f"{prop}: not plotted (a {type(workspace).__name__}, not a histogram)")
    for index, (prop, workspace) in enumerate(plotted.items()):
        # the first histogram gets the given name, further ones a suffix
        target = args.plot if not index else args.plot.with_stem(f"{args.plot.stem}_{prop}")
        try:
            print(f"{prop}: plotted {plot_histogram(workspace, target)}")
        except (ValueError, OSError) as err:  # the outputs are saved: not an input error
            print(f"error: --plot {target}: {err} (the outputs above are saved)", file=sys.stderr)
            return 1
    return 0


def _compare(args) -> int:
    from inslib.compare import compare
    from inslib.io.files import load_workspace
    from inslib.io.plot import plot_comparison

    model, measured = load_workspace(args.model), load_workspace(args.measured)
    result = compare(model, measured, e_min=args.emin)
    print(f"scale {result.scale:.6g}  background {result.background:.6g}  "
          f"Pearson r {result.pearson_r:.3f}  R-factor {result.r_factor:.3f}  "
          f"({result.n_bins} bins, E > {result.e_min:g} meV)")
    if args.emin is None:
        print(f"energy cut {result.e_min:g} meV: {result.e_min_source} (set it with --emin)")
    if args.plot:
        print(f"plotted {plot_comparison(model, measured, result, args.plot)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``inslib`` command."""
    parser = argparse.ArgumentParser(prog="inslib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="algorithms with their summaries").set_defaults(func=_list)
    describe = commands.add_parser("describe", help="an algorithm's properties")
    describe.add_argument("name")
    describe.set_defaults(func=_describe)
    run = commands.add_parser("run", help="run an algorithm: inslib run NAME Prop=Value ...")
    run.add_argument("name")
    run.add_argument("properties", nargs="*", metavar="Prop=Value")
    run.add_argument("--plot", type=Path, help="save a labelled plot of the output here")
    run.set_defaults(func=_run)
    comp = commands.add_parser("compare", help="fit scale + flat background of a model to data "
                                               "on the same bins; print Pearson r, R-factor")
    comp.add_argument("model", type=Path)
    comp.add_argument("measured", type=Path)
    comp.add_argument("--emin", type=float, help="compare bins above this E (meV); default: 3 "
                      "elastic-line FWHM of the maps' resolution (8 where they record none)")
    comp.add_argument("--plot", type=Path, help="save model and data side by side here")
    comp.set_defaults(func=_compare)
    from inslib.datagen.cli import add_parser as add_datagen  # argparse only, no heavy imports

    add_datagen(commands)
    from inslib.inversion.cli import add_parser as add_train_inversion  # argparse only

    add_train_inversion(commands)
    from inslib.ml.cli import add_parser as add_datagen_predictor  # argparse only

    add_datagen_predictor(commands)
    from inslib.ml.batch import add_parser as add_predict_batch  # argparse only

    add_predict_batch(commands)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status (2 for invalid input)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into head, less...: not an error
        sys.stderr.close()
        return 0
    except (InvalidArgumentsError, KeyError, ValueError, OSError) as err:
        end_progress_line()
        message = str(err)
        if isinstance(err, KeyError):  # str(KeyError) quotes its message
            message = message.strip(chr(39))
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
