"""``inslib train-predictor``'s core: train, evaluate and save the Direct ensemble.

Each member is a :class:`inslib.ml.equivariant.DirectNet` trained with its own seed (weights
and batch order) on the training prototypes; the state with the lowest validation loss is
kept. The targets are the partial DOS per element as fractions of the 3 N modes per bin; the
loss per structure is the squared error of those fractions summed over bins and elements times
the number of bins (the shape), plus the squared error of their cumulative sums over energy
summed over bins (where the modes are: mass put far from its place costs in proportion to the
distance, which the first term hardly sees when it is spread thinly), averaged over structures.
"""

import time

import numpy as np

from inslib.ml.direct_data import load_samples
from inslib.ml.direct_model import DirectEnsemble
from inslib.ml.equivariant import DirectConfig, DirectNet
from inslib.ml.graph import batch

LABEL_LICENCE = ("force constants and spectra computed with SevenNet 7net-0 (sevenn 0.13.0, "
                 "MIT; trained on MPtrj, CC BY 4.0) through inslib's ForceField route")


def collate(samples: list):
    """Batch, target rows and the target row of each node.

    Returns
    -------
    graphs : inslib.ml.graph.Batch
    rows : torch.Tensor of int64, shape (n_nodes,)
        Row of ``target`` each node's fractions add to.
    scale : torch.Tensor, shape (n_nodes, 1)
        Bin width / 3 N of each node's structure (states/meV -> fraction of modes per bin).
    target : torch.Tensor, shape (n_rows, n_bins)
    """
    import torch

    offsets = np.cumsum([0] + [len(s.target) for s in samples[:-1]])
    rows = np.concatenate([s.element_of_atom + o for s, o in zip(samples, offsets, strict=True)])
    n_modes = np.concatenate([np.full(s.graph.n_atoms, 3.0 * s.graph.n_atoms) for s in samples])
    return (batch([s.graph for s in samples]), torch.as_tensor(rows),
            torch.as_tensor(1.0 / n_modes, dtype=torch.float32)[:, None],
            torch.as_tensor(np.concatenate([s.target for s in samples]), dtype=torch.float32))


def batch_loss(net, collated):
    """Loss of a collated batch (scalar tensor; see the module docstring)."""
    import torch

    graphs, rows, scale, target = collated
    fractions = net(graphs) * scale * net.bin_width
    error = torch.zeros_like(target).index_add(0, rows, fractions) - target
    shape = (error**2).sum() * target.shape[1]
    placement = (error.cumsum(dim=1) ** 2).sum()
    return (shape + placement) / graphs.n_graphs


def train_member(samples: list, config: DirectConfig, seed: int, epochs: int = 60,
                 batch_size: int = 16, lr: float = 3e-3, log=print):
    """Train one network; return it (best validation state) and its history.

    Parameters
    ----------
    samples : list of inslib.ml.direct_data.Sample
        "train" ones fit the weights, "val" ones choose the kept state.
    config : DirectConfig
    seed : int
        Weights and batch order.
    epochs, batch_size, lr : int, int, float
        Adam with a cosine learning rate from ``lr`` to ``lr / 100``.

    Returns
    -------
    net : DirectNet
    history : dict
        ``train`` and ``val`` loss per epoch, ``best_epoch``, ``seconds``.
    """
    import torch

    torch.manual_seed(seed)
    val = collate([s for s in samples if s.part == "val"])
    net = DirectNet(config)
    start = time.perf_counter()
    history = fit_best(net, lambda chunk: batch_loss(net, collate(chunk)),
                       [s for s in samples if s.part == "train"], lambda: batch_loss(net, val),
                       epochs=epochs, lr=lr, seed=seed, batch_size=batch_size, log=log,
                       label=f"seed {seed}", every=25)
    history["seconds"] = time.perf_counter() - start
    return net.eval(), history


def fit_best(module, loss_of, train: list, val_loss, *, epochs: int, lr: float, seed: int,
             batch_size: int, log, label: str, every: int) -> dict:
    """Train ``module`` with Adam and a cosine learning rate; keep its best validation state.

    The one training loop of the Direct route's networks (DOS and map networks alike).

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters are optimised; its state of lowest validation loss is loaded at the end.
    loss_of : callable
        list of training items -> scalar loss (torch) of that batch.
    train : list
        Training items, in seeded random order each epoch.
    val_loss : callable
        () -> scalar validation loss (torch), evaluated without gradients after each epoch.
    epochs, lr, seed, batch_size : int, float, int, int
        Learning rate from ``lr`` to ``lr / 100``; ``seed`` sets the batch order.
    log : callable
        Receives a line every ``every`` epochs and at the last, prefixed by ``label``.

    Returns
    -------
    dict
        ``train`` (batch-size-weighted mean loss) and ``val`` per epoch, ``best_epoch``,
        ``val_loss`` (the lowest).
    """
    import torch

    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs, eta_min=lr / 100)
    rng = np.random.default_rng(seed)
    history, best = {"train": [], "val": []}, (np.inf, None, -1)
    for epoch in range(epochs):
        order, total = rng.permutation(len(train)), 0.0
        for k in range(0, len(order), batch_size):
            chunk = [train[i] for i in order[k:k + batch_size]]
            loss = loss_of(chunk)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(chunk)
        schedule.step()
        with torch.no_grad():
            current = float(val_loss())
        history["train"].append(total / len(train))
        history["val"].append(current)
        if current < best[0]:
            best = (current, {k: v.clone() for k, v in module.state_dict().items()}, epoch)
        if epoch % every == 0 or epoch == epochs - 1:
            log(f"{label} epoch {epoch}: train {history['train'][-1]:.4f} val {current:.4f}")
    module.load_state_dict(best[1])
    return history | {"best_epoch": best[2], "val_loss": best[0]}


def training_elements(samples: list) -> list:
    """Sorted symbols of the elements in the training part (what the model may be asked)."""
    from ase.data import chemical_symbols

    numbers = {int(z) for s in samples if s.part == "train" for z in s.graph.numbers}
    return sorted(chemical_symbols[z] for z in numbers)


def average_neighbours(samples: list) -> float:
    """Mean edges per node over the training samples."""
    train = [s.graph for s in samples if s.part == "train"]
    return float(sum(len(g.src) for g in train) / sum(g.n_atoms for g in train))


def train_predictor(manifest, labels, out, seeds=(0, 1, 2), epochs: int = 60,
                    config: DirectConfig | None = None, log=print) -> DirectEnsemble:
    """Train one member per seed on a label folder, evaluate, and save the ensemble to ``out``.

    Returns
    -------
    DirectEnsemble
        Its card holds the config, the data hash, the split counts, each member's history
        summary and the test metrics (:func:`inslib.ml.direct_eval.evaluate`).
    """
    import torch

    from inslib.ml.direct_eval import evaluate

    torch.set_num_threads(1)
    config = config or DirectConfig()
    samples, data_hash = load_samples(manifest, labels, config.cutoff, log=log)
    config = DirectConfig(**{**config.to_dict(), "avg_neighbours": average_neighbours(samples)})
    members, summaries = [], []
    for seed in seeds:
        net, history = train_member(samples, config, seed, epochs, log=log)
        members.append(net)
        summaries.append({"seed": seed, "best_epoch": history["best_epoch"],
                          "val_loss": min(history["val"]), "seconds": history["seconds"]})
    card = {"name": "inslib Direct DOS ensemble", "config": config.to_dict(),
            "training_data": {"labels": str(labels), "sha256": data_hash,
                              "records": sorted(s.id for s in samples),
                              "split": "inslib.ml.structures.split (prototype-disjoint, "
                                       "80/10/10, seed 0)",
                              "counts": {p: sum(s.part == p for s in samples)
                                         for p in ("train", "val", "test")}},
            "elements": training_elements(samples),
            "labels_licence": LABEL_LICENCE, "members_training": summaries,
            "output": "partial DOS per atom, states/meV, 3 states per atom on the grid"}
    ensemble = DirectEnsemble(members, card)
    ensemble.card["metrics"] = evaluate(ensemble, samples)
    ensemble.save(out)
    return ensemble
