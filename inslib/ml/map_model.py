"""The Direct route's trained map networks on disk: ``<DirectModel>/map/``.

Folder layout (``models/direct/map/``)::

    card.json         architecture, grid, training data hash, split, metrics and the SHA-256
                      of every weights file
    autoencoder.pt    the map autoencoder (its decoder is used at prediction time)
    member-K.pt       LatentNet member K
    README.md         the model card for people

Weights are read with ``torch.load(weights_only=True)`` and only when their SHA-256 is the
card's (:func:`inslib.ml.direct_model.checked_weights`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.ml.direct_model import (
    CARD,
    DirectModelError,
    checked_weights,
    save_weights,
    write_card,
)
from inslib.ml.map_networks import MapConfig

MAP_FOLDER = "map"  # inside a DirectModel folder


@dataclass
class MapEnsemble:
    """A map autoencoder, LatentNet members and their card.

    Attributes
    ----------
    autoencoder : inslib.ml.map_networks.MapAutoencoder
    members : list of inslib.ml.map_networks.LatentNet
    card : dict
    """

    autoencoder: object
    members: list
    card: dict

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """|Q| (1/Angstrom) and energy (meV) bin edges of the intrinsic grid."""
        grid = self.card["grid"]
        return np.asarray(grid["q_edges"]), np.asarray(grid["e_edges"])

    def shapes(self, graph) -> np.ndarray:
        """Each member's map shape (mean 1), shape (n_members, n_q, n_e), of a crystal graph."""
        import torch

        from inslib.ml.graph import batch

        graphs = batch([graph])
        with torch.no_grad():
            codes = torch.cat([m(graphs) for m in self.members])
            return self.autoencoder.decode(codes).double().numpy()

    def predict(self, crystal, integral: float) -> np.ndarray:
        """Each member's intrinsic map, mbarn/meV per atom, shape (n_members, n_q, n_e).

        Parameters
        ----------
        crystal : inslib.structure.Crystal
        integral : float
            The map's integral over the grid, mbarn per atom x 1/Angstrom (the sum rule:
            that of :func:`inslib.ml.map_data.incoherent_intrinsic`).
        """
        from inslib.ml.graph import crystal_graph

        q_edges, e_edges = self.edges()
        shapes = self.shapes(crystal_graph(crystal, self.config.backbone().cutoff))
        area = (q_edges[1] - q_edges[0]) * (e_edges[1] - e_edges[0])
        return shapes * integral / (shapes[0].size * area)

    @property
    def config(self) -> MapConfig:
        """Architecture."""
        return MapConfig.from_dict(self.card["config"])

    def save(self, folder) -> Path:
        """Write the weights, card.json and README.md into ``folder`` atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.card["autoencoder"] = save_weights(folder, "autoencoder.pt", self.autoencoder)
        self.card["members"] = [save_weights(folder, f"member-{k}.pt", m)
                                for k, m in enumerate(self.members)]
        return write_card(folder, self.card, map_card_markdown(self.card))


def map_card_markdown(card: dict) -> str:
    """Return the model card for people (README.md) from card.json's content."""
    data, metrics = card["training_data"], card["metrics"]
    rows = "\n".join(f"| {name} | {fig['median']:.3f} | {fig['p10']:.3f} |"
                     for name, fig in metrics["r"].items())
    return f"""# {card['name']}

PredictSQE `Method=Direct` with `Coherent=True` and `Output=PowderSQE` (docs/prediction.md).
Written by `inslib train-predictor --maps`; card.json holds the same facts and the SHA-256 of
every weights file (checked at every load).

- **Output**: {card['output']}
- **Labels**: {card['labels_licence']}.
- **Training data**: {len(data['records'])} records (SHA-256 of their files {data['sha256']}),
  split {data['split']}: {data['counts']}.
- **Architecture**: {json.dumps(card['config'])}.
- **Licence of the weights**: BSD-3-Clause (this repository's).

## Test figures ({metrics['n']} held-out structures; Pearson r against the true intrinsic map)

| map | median r | 10th percentile |
|---|---|---|
{rows}

The maps' intensity is not learned: the coherent one-phonon sum rule sets it from the predicted
DOS (inslib.ml.map_data.incoherent_intrinsic).
"""


def load_map_ensemble(direct_folder) -> MapEnsemble:
    """Read ``<direct_folder>/map``, checking every weights file against its card.

    Raises
    ------
    DirectModelError
        No readable card, or weights missing or not those the card describes.
    """
    from inslib.ml.map_networks import LatentNet, MapAutoencoder

    folder = Path(direct_folder) / MAP_FOLDER
    card_path = folder / CARD
    try:
        card = json.loads(card_path.read_text())
        config = MapConfig.from_dict(card["config"])
        entries = card["members"]
        autoencoder_entry = card["autoencoder"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = (f"{card_path}: no readable Direct map-model card ({err}); train one with "
               "'inslib train-predictor --maps', restore models/direct/map, or set "
               "Coherent=False (incoherent approximation of the predicted DOS)")
        raise DirectModelError(msg) from err
    autoencoder = MapAutoencoder(config)
    autoencoder.load_state_dict(checked_weights(folder, autoencoder_entry, card_path))
    members = []
    for entry in entries:
        net = LatentNet(config)
        net.load_state_dict(checked_weights(folder, entry, card_path))
        members.append(net.eval())
    return MapEnsemble(autoencoder.eval(), members, card)
