"""``inslib train-predictor --maps``'s core: train and evaluate the Direct route's map networks.

Two stages on the usable records' intrinsic maps (:mod:`inslib.ml.map_data`), split by
prototype as the DOS networks are:

1. :class:`inslib.ml.map_networks.MapAutoencoder` on the training maps' shapes (mean squared
   error of the decoded shape), the state with the lowest validation loss kept;
2. one :class:`inslib.ml.map_networks.LatentNet` per seed, on the frozen autoencoder's codes of
   the training maps: the loss is the squared error of the decoded shape (what is used), plus
   that of the codes (standardised by the training codes' spread).

Figures on the held-out test part (:func:`evaluate_maps`): Pearson r of the predicted map
against the true intrinsic map, next to the autoencoder's own reconstruction (the ceiling) and
the training mean shape (a structure-blind baseline).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inslib.inversion.metrics import pearson_r
from inslib.ml.direct_training import fit_best
from inslib.ml.map_data import (
    DIRECTIONS,
    E_EDGES,
    INTRINSIC_FWHM,
    MESH,
    Q_EDGES,
    cached_maps,
)


@dataclass(frozen=True)
class MapSample:
    """One structure's graph and intrinsic map, ready for training.

    Attributes
    ----------
    id, part : str
    graph : inslib.ml.graph.Graph
    shape : numpy.ndarray, shape (n_q, n_e)
        The map over its mean (mean 1).
    """

    id: str
    part: str
    graph: object
    shape: np.ndarray


def map_samples(samples: list, labels, log=print) -> list:
    """MapSamples of DOS samples (:func:`inslib.ml.direct_data.load_samples`) with a map.

    Records without a map (:func:`inslib.ml.map_data.cached_maps` leaves out those whose
    set-up is refused) or with an empty one (no coherent cross-section) are left out.
    """
    maps = cached_maps(labels, [s.id for s in samples], log=log)
    out = []
    for s in (s for s in samples if s.id in maps):
        total = float(maps[s.id].sum())
        if total > 0:
            out.append(MapSample(s.id, s.part, s.graph, maps[s.id] * maps[s.id].size / total))
    return out


def _shapes(samples: list):
    import torch

    return torch.as_tensor(np.stack([s.shape for s in samples]), dtype=torch.float32)


def _summary(history: dict, start: float) -> dict:
    """Return what the card keeps of a training history: best epoch, its loss, seconds."""
    return {"best_epoch": history["best_epoch"], "val_loss": history["val_loss"],
            "seconds": time.perf_counter() - start}


def _autoencoder_loss(autoencoder):
    """Loss of a list of MapSamples: mean squared error of their decoded shapes."""

    def loss_of(chunk: list):
        shapes = _shapes(chunk)
        return ((autoencoder.decode(autoencoder.encode(shapes)) - shapes) ** 2).mean()

    return loss_of


def _latent_loss(net, autoencoder, centre, spread):
    """Loss of a list of MapSamples: decoded-shape and code squared errors."""
    import torch

    from inslib.ml.graph import batch

    def loss_of(chunk: list):
        shapes = _shapes(chunk)
        with torch.no_grad():
            codes = (autoencoder.encode(shapes) - centre) / spread
        predicted = net(batch([s.graph for s in chunk]))
        decoded = autoencoder.decode(predicted * spread + centre)
        return ((decoded - shapes) ** 2).mean() + ((predicted - codes) ** 2).mean()

    return loss_of


def train_autoencoder(samples: list, config, epochs: int = 120, lr: float = 2e-3, seed: int = 0,
                      log=print):
    """Train the autoencoder; return it (best validation state) and its summary."""
    import torch

    from inslib.ml.map_networks import MapAutoencoder

    torch.manual_seed(seed)
    autoencoder = MapAutoencoder(config)
    train = [s for s in samples if s.part == "train"]
    val = [s for s in samples if s.part == "val"]
    start = time.perf_counter()
    loss_of = _autoencoder_loss(autoencoder)
    history = fit_best(autoencoder, loss_of, train, lambda: loss_of(val), epochs=epochs, lr=lr,
                       seed=seed, batch_size=32, log=log, label="autoencoder", every=20)
    return autoencoder.eval(), _summary(history, start)


def code_statistics(autoencoder, samples: list) -> tuple:
    """Mean and standard deviation (torch, (latent,)) of the training maps' codes."""
    import torch

    with torch.no_grad():
        codes = autoencoder.encode(_shapes([s for s in samples if s.part == "train"]))
    return codes.mean(dim=0), codes.std(dim=0).clamp(min=1e-6)


def train_latent(samples: list, autoencoder, config, seed: int, epochs: int = 60,
                 lr: float = 3e-3, log=print):
    """Train one LatentNet; return it (best validation state, codes de-standardised) and summary.

    The returned network's outputs are raw codes: the standardisation is folded into the
    last layer's weights and bias.
    """
    import torch

    from inslib.ml.map_networks import LatentNet

    torch.manual_seed(seed)
    centre, spread = code_statistics(autoencoder, samples)
    net = LatentNet(config)
    for p in autoencoder.parameters():
        p.requires_grad_(False)
    start = time.perf_counter()
    loss_of = _latent_loss(net, autoencoder, centre, spread)
    val = [s for s in samples if s.part == "val"]
    history = fit_best(net, loss_of, [s for s in samples if s.part == "train"],
                       lambda: loss_of(val), epochs=epochs, lr=lr, seed=seed, batch_size=16,
                       log=log, label=f"latent seed {seed}", every=20)
    last = net.head[-1]
    with torch.no_grad():
        last.weight.mul_(spread[:, None])
        last.bias.mul_(spread).add_(centre)
    return net.eval(), _summary(history, start) | {"seed": seed}


def evaluate_maps(ensemble, samples: list, part: str = "test") -> dict:
    """Test figures of a map ensemble (see the module docstring).

    Returns
    -------
    dict
        ``n``; median and 10th percentile of r for ``predicted``, ``autoencoder`` and
        ``baseline`` (training mean shape).
    """
    import torch

    chosen = [s for s in samples if s.part == part]
    baseline = np.mean([s.shape for s in samples if s.part == "train"], axis=0)
    with torch.no_grad():
        recon = ensemble.autoencoder.decode(ensemble.autoencoder.encode(_shapes(chosen)))
    rows = {"predicted": [], "autoencoder": [], "baseline": []}
    for sample, again in zip(chosen, recon.numpy(), strict=True):
        rows["predicted"].append(pearson_r(ensemble.shapes(sample.graph).mean(axis=0),
                                           sample.shape))
        rows["autoencoder"].append(pearson_r(again, sample.shape))
        rows["baseline"].append(pearson_r(baseline, sample.shape))
    figures = {name: {"median": float(np.median(v)), "p10": float(np.percentile(v, 10))}
               for name, v in rows.items()}
    return {"part": part, "n": len(chosen), "r": figures}


def train_map_predictor(manifest, labels, out, seeds=(0, 1, 2), epochs: int = 60,
                        config=None, log=print):
    """Train the autoencoder and one LatentNet per seed; evaluate; save to ``<out>/map``.

    Parameters
    ----------
    manifest, labels : str or Path
        As :func:`inslib.ml.direct_data.load_samples`.
    out : str or Path
        The DirectModel folder (the networks go to its ``map/``).
    seeds : tuple of int
    epochs : int
        Of each LatentNet (the autoencoder trains 120).
    config : inslib.ml.map_networks.MapConfig, optional

    Returns
    -------
    inslib.ml.map_model.MapEnsemble
    """
    import torch

    from inslib.ml.direct_data import load_samples, records_digest
    from inslib.ml.direct_training import LABEL_LICENCE, average_neighbours
    from inslib.ml.map_model import MAP_FOLDER, MapEnsemble
    from inslib.ml.map_networks import MapConfig

    torch.set_num_threads(1)
    config = config or MapConfig()
    samples, _ = load_samples(manifest, labels, config.backbone().cutoff, log=log)
    chosen = map_samples(samples, labels, log=log)
    ids = [s.id for s in chosen]
    data_hash = records_digest(labels, ids)
    graph = {**config.backbone().to_dict(), "avg_neighbours": average_neighbours(chosen)}
    config = MapConfig(**{**config.to_dict(), "graph": graph})
    autoencoder, summary = train_autoencoder(chosen, config, log=log)
    members, summaries = [], []
    for seed in seeds:
        net, history = train_latent(chosen, autoencoder, config, seed, epochs, log=log)
        members.append(net)
        summaries.append(history)
    card = {"name": "inslib Direct powder-map networks", "config": config.to_dict(),
            "grid": {"q_edges": Q_EDGES.tolist(), "e_edges": E_EDGES.tolist(),
                     "intrinsic_fwhm_mev": INTRINSIC_FWHM, "mesh": MESH,
                     "directions": DIRECTIONS},
            "training_data": {"labels": str(labels), "sha256": data_hash,
                              "records": sorted(ids),
                              "split": "inslib.ml.structures.split (prototype-disjoint, "
                                       "80/10/10, seed 0)",
                              "counts": {p: sum(s.part == p for s in chosen)
                                         for p in ("train", "val", "test")}},
            "labels_licence": LABEL_LICENCE, "autoencoder_training": summary,
            "members_training": summaries,
            "output": "intrinsic coherent one-phonon powder S(|Q|,E) at 0 K (energy loss), "
                      f"{INTRINSIC_FWHM} meV FWHM, mbarn/meV per atom"}
    ensemble = MapEnsemble(autoencoder, members, card)
    ensemble.card["metrics"] = evaluate_maps(ensemble, chosen)
    ensemble.save(Path(out) / MAP_FOLDER)
    return ensemble
