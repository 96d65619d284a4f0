"""The Direct route's powder-map networks: a map autoencoder and a graph -> latent regressor.

:class:`MapAutoencoder` compresses the *shape* of an intrinsic map (:mod:`inslib.ml.map_data`:
the map divided by its sum over the grid, times the number of bins, so its mean is 1) into
``latent`` numbers with a small convolutional encoder, and decodes them with a linear layer,
two upsampling convolutions and a softmax over the whole grid (the decoded shape is positive
and sums to the number of bins by construction). :class:`LatentNet` predicts, from the crystal
graph, those latent numbers (the map's intensity is not learned: the coherent one-phonon sum
rule gives it from the predicted DOS, :func:`inslib.ml.map_data.incoherent_intrinsic`): the
e3nn backbone of :class:`inslib.ml.equivariant.DirectNet` gives invariant features per
atom, their mean over the cell goes through a small MLP.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from inslib.ml.equivariant import DirectConfig, DirectNet


@dataclass(frozen=True)
class MapConfig:
    """Architecture of the map networks (stored in the model card).

    Attributes
    ----------
    n_q, n_e : int
        Grid of the intrinsic map (divisible by 4).
    latent : int
        Size of the latent code.
    channels : int
        Convolution channels of the autoencoder.
    features : int
        Invariant features per atom of :class:`LatentNet`'s backbone.
    graph : dict
        :class:`inslib.ml.equivariant.DirectConfig` of the backbone, as a dictionary.
    """

    n_q: int = 60
    n_e: int = 120
    latent: int = 16
    channels: int = 16
    features: int = 64
    graph: dict = None

    def backbone(self) -> DirectConfig:
        """Return the backbone's configuration (the defaults where ``graph`` is None)."""
        return DirectConfig.from_dict(self.graph) if self.graph else DirectConfig()

    def to_dict(self) -> dict:
        """Plain dictionary (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "MapConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**values)


class MapAutoencoder(nn.Module):
    """Intrinsic-map shape <-> latent code (see the module docstring)."""

    def __init__(self, config: MapConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.SiLU(), nn.Flatten(),
            nn.Linear(2 * c * (config.n_q // 4) * (config.n_e // 4), config.latent))
        self.expand = nn.Linear(config.latent, 2 * c * (config.n_q // 4) * (config.n_e // 4))
        self.decoder = nn.Sequential(
            nn.SiLU(), nn.Upsample(scale_factor=2), nn.Conv2d(2 * c, c, 3, padding=1),
            nn.SiLU(), nn.Upsample(scale_factor=2), nn.Conv2d(c, c, 3, padding=1),
            nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))

    def encode(self, shapes: torch.Tensor) -> torch.Tensor:
        """Latent codes (n, latent) of map shapes (n, n_q, n_e) (mean 1 per map)."""
        return self.encoder(torch.sqrt(shapes.clamp(min=0.0))[:, None])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Map shapes (n, n_q, n_e), positive, mean 1 per map, of latent codes (n, latent)."""
        cfg = self.config
        x = self.expand(codes).reshape(len(codes), -1, cfg.n_q // 4, cfg.n_e // 4)
        logits = self.decoder(x).reshape(len(codes), -1)
        return (torch.softmax(logits, dim=1) * logits.shape[1]).reshape(-1, cfg.n_q, cfg.n_e)


class LatentNet(nn.Module):
    """Crystal graph -> latent code of its intrinsic map's shape (see the module docstring)."""

    def __init__(self, config: MapConfig):
        super().__init__()
        self.config = config
        self.backbone = DirectNet(config.backbone(), n_out=config.features)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(config.features, 2 * config.features),
                                  nn.SiLU(), nn.Linear(2 * config.features, config.latent))

    def forward(self, graphs) -> torch.Tensor:
        """Latent codes (n_graphs, latent) of a graph batch (mean of per-atom features)."""
        per_atom = self.backbone.atom_features(graphs)
        total = torch.zeros((graphs.n_graphs, per_atom.shape[1]), dtype=per_atom.dtype)
        total = total.index_add(0, graphs.graph, per_atom)
        counts = torch.bincount(graphs.graph, minlength=graphs.n_graphs).to(per_atom.dtype)
        return self.head(total / counts[:, None])
