"""A trained Direct ensemble on disk: weights, model card, loading with checks, prediction.

Folder layout (``models/direct/``)::

    card.json        architecture, training data hash, split, metrics, licences, and the
                     SHA-256 of every member's weights
    member-K.pt      state dict of member K (read with ``torch.load(weights_only=True)``)
    README.md        the model card for people

A member whose file does not hash to the card's value is refused, so a card always describes
the weights it loads.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.datagen.config import file_digest
from inslib.ml.equivariant import DirectConfig

MODEL_FOLDER = Path(__file__).resolve().parents[2] / "models" / "direct"
CARD = "card.json"


class DirectModelError(ValueError):
    """A Direct model folder that cannot be used (the message names the file and the fix)."""


@dataclass
class DirectEnsemble:
    """Trained networks of the same architecture and their card.

    Attributes
    ----------
    members : list of inslib.ml.equivariant.DirectNet
    card : dict
        The parsed card.json.
    """

    members: list
    card: dict

    @property
    def config(self) -> DirectConfig:
        """Architecture and output grid."""
        return DirectConfig.from_dict(self.card["config"])

    def edges(self) -> np.ndarray:
        """Output energy bin edges, meV, shape (n_bins + 1,)."""
        return np.linspace(0.0, self.config.e_max, self.config.n_bins + 1)

    def predict(self, crystal) -> np.ndarray:
        """Partial DOS per atom of each member, states/meV, shape (n_members, n_atoms, n_bins).

        Each (member, atom) row integrates to 3 over the output grid.
        """
        import torch

        from inslib.ml.graph import batch, crystal_graph

        graphs = batch([crystal_graph(crystal, self.config.cutoff)])
        with torch.no_grad():
            return np.stack([m(graphs).double().numpy() for m in self.members])

    def save(self, folder) -> Path:
        """Write member-K.pt and card.json (with the weights' SHA-256) atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.card["members"] = [save_weights(folder, f"member-{k}.pt", member)
                                for k, member in enumerate(self.members)]
        return write_card(folder, self.card, card_markdown(self.card))


def _pair(figure: dict, a: str, b: str, digits: int) -> str:
    """'x / y' of two entries of a metrics figure."""
    return f"{figure[a]:.{digits}f} / {figure[b]:.{digits}f}"


def metric_rows(metrics: dict) -> str:
    """Markdown table rows of the test metrics of a card."""
    rows = [("total DOS, normalised MSE (median / mean)",
             _pair(metrics["dos_mse"], "median", "mean", 4)),
            ("structure-blind baseline: training mean DOS (median / mean)",
             _pair(metrics["baseline_dos_mse"], "median", "mean", 4)),
            ("partial DOS per element, normalised MSE (median)",
             f"{metrics['pdos_mse']['median']:.4f}"),
            ("highest-peak shift, meV (median / 90th percentile)",
             _pair(metrics["peak_shift_mev"], "median", "p90", 2)),
            ("first moment of the DOS, relative error (median)",
             f"{metrics['mean_energy_error']['median']:.3f}")]
    return "\n".join(f"| {label} | {value} |" for label, value in rows)


def card_markdown(card: dict) -> str:
    """Return the model card for people (README.md), from card.json's content."""
    data, metrics = card["training_data"], card["metrics"]
    members = "\n".join(f"| {m['seed']} | {m['best_epoch']} | {m['val_loss']:.3f} | "
                         f"{m['seconds']:.0f} |" for m in card["members_training"])
    return f"""# {card['name']}

PredictSQE `Method=Direct` (docs/prediction.md, "The Direct route"). Written by
`inslib train-predictor` with card.json, which holds the same facts for programs and the
SHA-256 of each member's weights (checked at every load).

- **Output**: {card['output']}, on {card['config']['n_bins']} bins from 0 to
  {card['config']['e_max']:g} meV.
- **Intended use**: a first look at the DOS, partial DOS, indirect-geometry S(E) and the
  incoherent terms of a powder map (the coherent term: the map networks in map/) of an
  ordered crystal of at most 10 atoms in the primitive cell made of the
  {len(card['elements'])} elements below, in well under a second. Not for dispersion or
  quantitative fits: use the ForceField route or DFT.
- **Labels**: {card['labels_licence']}. They inherit 7net-0's softness (15-35 % on Al, Si,
  Ge; docs/validation.md).
- **Training data**: {len(data['records'])} records of {data['labels']} (SHA-256 of their
  files {data['sha256']}), split {data['split']}: {data['counts']}.
- **Elements**: {', '.join(card['elements'])}.
- **Architecture**: {json.dumps(card['config'])}.
- **Licence of the weights**: BSD-3-Clause (this repository's).

## Test metrics ({metrics['n']} held-out structures, no prototype shared with training)

| figure | value |
|---|---|
{metric_rows(metrics)}

Normalised MSE: each spectrum divided by its maximum, mean over the bins of the squared
difference. The labels are the ForceField route's own spectra (not measurements).

## Members

| seed | kept epoch | validation loss | training seconds |
|---|---|---|---|
{members}
"""


def load_ensemble(folder=MODEL_FOLDER) -> DirectEnsemble:
    """Read a Direct model folder, checking every member's weights against the card.

    Raises
    ------
    DirectModelError
        No card, an unreadable card, a missing member, or weights whose SHA-256 is not the
        card's.
    """
    from inslib.ml.equivariant import DirectNet

    folder = Path(folder)
    card_path = folder / CARD
    try:
        card = json.loads(card_path.read_text())
        config = DirectConfig.from_dict(card["config"])
        entries = card["members"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = (f"{card_path}: no readable Direct model card ({err}); train one with "
               "'inslib train-predictor' or restore models/direct from the repository")
        raise DirectModelError(msg) from err
    members = []
    for entry in entries:
        net = DirectNet(config)
        net.load_state_dict(checked_weights(folder, entry, card_path))
        members.append(net.eval())
    return DirectEnsemble(members, card)


def write_card(folder: Path, card: dict, markdown: str) -> Path:
    """Write card.json and its README.md (the card for people) atomically; return card.json."""
    from inslib.io.atomic import atomic_path

    with atomic_path(folder / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=1))
    with atomic_path(folder / "README.md") as tmp:
        tmp.write_text(markdown)
    return folder / CARD


def save_weights(folder: Path, name: str, module) -> dict:
    """Write a module's state dict atomically; return its card entry {"file", "sha256"}."""
    import torch

    from inslib.io.atomic import atomic_path

    with atomic_path(folder / name) as tmp:
        torch.save(module.state_dict(), tmp)
    return {"file": name, "sha256": file_digest(folder / name)}


def checked_weights(folder: Path, entry: dict, card_path: Path) -> dict:
    """State dict of a card's weights entry ({"file", "sha256"}), read only if the hash matches.

    Raises
    ------
    DirectModelError
        The file is missing or its SHA-256 is not the card's.
    """
    import torch

    path = folder / entry["file"]
    if not path.is_file() or file_digest(path) != entry["sha256"]:
        msg = (f"{path}: the weights are missing or not those its card {card_path} "
               "describes (SHA-256 differs); restore the folder or retrain")
        raise DirectModelError(msg)
    return torch.load(path, map_location="cpu", weights_only=True)
