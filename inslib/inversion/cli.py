r"""``inslib train-inversion CONFIG``: train (or find cached) an amortized inverter.

CONFIG is a YAML file with the keys of ``inslib datagen`` (a DatagenConfig) plus a
``training:`` section (a TrainingSpec); relative paths are relative to the file::

    force_constants: phonopy.yaml
    n_spectra: 10000
    template: {instrument: ARCS, ei: 50.0, q_binning: "0,0.09,9.09", e_binning: "-7,0.8,49"}
    training: {latent: 30, vae_hidden: [256], vae_epochs: 60, output: models}
"""

import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    """Add the ``train-inversion`` sub-command to an argparse sub-parser collection."""
    p = subparsers.add_parser("train-inversion", help="train the amortized inversion (VAE + "
                              "regressor) on datagen maps; cached by content",
                              description=__doc__.splitlines()[0])
    p.add_argument("config", type=Path, help="YAML: datagen keys plus a training: section")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``inslib train-inversion``; 0 on success, 2 on a configuration error."""
    from inslib.datagen.config import DatagenConfigError
    from inslib.inversion.amortized import AmortizedModelError
    from inslib.inversion.training import train

    try:
        inverter = train(args.config, lambda line: print(line, flush=True))
    except (DatagenConfigError, AmortizedModelError) as error:
        print(f"inslib train-inversion: {error}", file=sys.stderr)
        return 2
    figures = inverter.metadata.get("training", {}).get("validation", {}).get("r2", {})
    print(f"model {inverter.key}")
    if figures:
        print("validation R^2: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    return 0
