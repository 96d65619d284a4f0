r"""``inslib datagen``: the training-data engine from the command line.

Examples
--------
Su & Li (2024) Al on ARCS, 10,000 maps, both cores::

    inslib datagen --force-constants phonopy.yaml --output al_arcs -n 10000 \
        --instrument ARCS --ei 50 --q-binning 0,0.09,9.09 --e-binning=-7,0.8,49

Resume (or extend the same configuration) from the folder's manifest, on a cluster::

    inslib datagen --config al_arcs/manifest.json --output al_arcs \
        --scheduler tcp://host:8786
"""

import json
import sys
from pathlib import Path

from inslib.datagen.config import (
    DEFAULT_DIRECTIONS,
    OUTPUTS,
    DatagenConfig,
    DatagenConfigError,
    NoiseSpec,
    TemplateSpec,
)


def add_parser(subparsers) -> None:
    """Add the ``datagen`` sub-command to an argparse sub-parser collection."""
    p = subparsers.add_parser("datagen", help="generate seeded, resumable training spectra "
                              "(HDF5 shards)", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, help="JSON configuration (or a dataset's "
                   "manifest.json); the options below are then ignored")
    p.add_argument("--output", type=Path, required=True, help="folder of the shards")
    p.add_argument("--force-constants", help="reference force-constants file")
    p.add_argument("-n", "--n-spectra", type=int, help="number of spectra")
    p.add_argument("--kind", choices=OUTPUTS, default="PowderSQE", help="what each spectrum is")
    p.add_argument("--instrument", default="")
    p.add_argument("--ei", type=float, help="incident energy, meV")
    p.add_argument("--efixed", type=float, help="final energy, meV (indirect)")
    p.add_argument("--q-binning", default="", help="start,step,end in 1/Angstrom")
    p.add_argument("--e-binning", default="", help="start,step,end in meV")
    p.add_argument("--workspace", default="", help="measured template workspace file")
    p.add_argument("--path", default="", help='QPath: "auto" or labels, e.g. "G-X-U|K-G-L"')
    p.add_argument("--path-step", type=float, default=0.02, help="QPath bin width, 1/Angstrom")
    p.add_argument("--samples", type=int, default=4, help="QPath: q-points per path bin")
    p.add_argument("--fwhm", type=float, default=0.0,
                   help="QPath without --instrument: energy resolution FWHM, meV")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--shells", type=int, default=2, help="neighbour shells of the parameters")
    p.add_argument("--box", type=float, nargs=2, default=(0.5, 1.5), metavar=("LOW", "HIGH"),
                   help="factors of the reference parameters")
    p.add_argument("--box-parameter", action="append", default=[], metavar="NAME=LOW,HIGH",
                   help='box of one parameter, e.g. "1NN xx=0.8,1.2" (repeatable)')
    p.add_argument("--sets", nargs="+", default=[], help="force-constant files to project "
                   "instead of the box")
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", type=int, default=16, help="mesh n^3 for DW and DOS")
    p.add_argument("--max-order", type=int, default=10, help="highest multiphonon order")
    p.add_argument("--no-coherent", action="store_true")
    p.add_argument("--no-incoherent", action="store_true")
    p.add_argument("--shells-per-bin", type=int, default=1)
    p.add_argument("--directions", type=int, default=DEFAULT_DIRECTIONS,
                   help="directions per |Q| shell (in the irreducible wedge)")
    p.add_argument("--store-noise", action="store_true", help="also store a noisy copy")
    p.add_argument("--scheduler", default="local", help='"local" (LocalCluster), "none" '
                   '(this process) or a dask scheduler address tcp://host:port')
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: CPU count)")
    p.set_defaults(func=run)


def config_from_args(args) -> DatagenConfig:
    """Build the (validated) configuration an argparse namespace describes."""
    if args.config is not None:
        data = json.loads(args.config.read_text())
        return DatagenConfig.from_dict(data.get("config", data))
    boxes = dict(_parameter_box(item) for item in args.box_parameter)
    return DatagenConfig(
        force_constants=args.force_constants, n_spectra=args.n_spectra,
        template=TemplateSpec(args.instrument, args.ei, args.efixed, args.q_binning,
                              args.e_binning, args.workspace, args.path, args.path_step,
                              args.samples, args.fwhm),
        output=args.kind, temperature=args.temperature, shells=args.shells,
        box=tuple(args.box), box_per_parameter=boxes, sets=tuple(args.sets),
        shard_size=args.shard_size, seed=args.seed, grid=args.grid, max_order=args.max_order,
        coherent=not args.no_coherent, incoherent=not args.no_incoherent,
        n_shells=args.shells_per_bin, n_directions=args.directions,
        noise=NoiseSpec(store=args.store_noise))


def _parameter_box(item: str) -> tuple[str, tuple]:
    name, sep, bounds = item.rpartition("=")
    try:
        low, high = (float(b) for b in bounds.split(","))
    except ValueError:
        sep = ""
    if not sep:
        msg = f'--box-parameter={item!r}: give NAME=LOW,HIGH, e.g. "1NN xx=0.8,1.2"'
        raise DatagenConfigError(msg)
    return name.strip(), (low, high)


def run(args) -> int:
    """Run ``inslib datagen``; 0 on success, 2 on a configuration error."""
    from inslib.datagen.run import generate

    try:
        config = config_from_args(args)
        scheduler = None if args.scheduler.lower() == "none" else args.scheduler
        with _ProgressBar(config) as bar:
            summary = generate(config, args.output, scheduler, args.workers, bar.update)
    except DatagenConfigError as error:
        print(f"inslib datagen: {error}", file=sys.stderr)
        return 2
    print(summary.text())
    print(f"dataset {config.config_hash()[:16]} in {args.output}")
    return 0


class _ProgressBar:
    """tqdm bar over spectra (shards arrive whole)."""

    def __init__(self, config: DatagenConfig):
        self.config, self.bar, self.done = config, None, 0

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=self.config.n_spectra, unit="spectra", file=sys.stderr)
        return self

    def update(self, _shards: int, _total: int, done: int) -> None:
        """progress(shards_done, n_shards, spectra_done) callback of generate()."""
        self.bar.update(done - self.done)
        self.done = done

    def __exit__(self, *exc):
        self.bar.close()
