"""Periodic neighbour graphs of crystals, the input of the Direct predictor's networks.

A crystal becomes one node per atom of its cell and one directed edge per neighbour within a
cutoff radius, periodic images included (an atom can neighbour its own images). Several
graphs are batched by concatenating their nodes and offsetting their edges.
"""

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list


@dataclass(frozen=True)
class Graph:
    """One crystal as a graph.

    Attributes
    ----------
    numbers : numpy.ndarray of int, shape (n_atoms,)
        Atomic numbers.
    masses : numpy.ndarray, shape (n_atoms,)
        amu.
    src, dst : numpy.ndarray of int, shape (n_edges,)
        Edge ends: the message of ``src`` goes to ``dst``.
    vectors : numpy.ndarray, shape (n_edges, 3)
        Cartesian vector from ``dst`` to its neighbour ``src`` (periodic image), Angstrom.
    """

    numbers: np.ndarray
    masses: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    vectors: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Atoms (nodes)."""
        return len(self.numbers)


def crystal_graph(crystal, cutoff: float) -> Graph:
    """Graph of a crystal's atoms and their neighbours within ``cutoff`` (Angstrom).

    Parameters
    ----------
    crystal : inslib.structure.Crystal
    cutoff : float
        Neighbour radius, Angstrom.

    Returns
    -------
    Graph
    """
    atoms = Atoms(symbols=crystal.symbols, scaled_positions=crystal.positions,
                  cell=crystal.cell, pbc=True)
    dst, src, vectors = neighbor_list("ijD", atoms, cutoff)
    numbers = np.array([atomic_numbers[s] for s in crystal.symbols])
    return Graph(numbers, np.asarray(crystal.masses, dtype=float), src, dst, vectors)


@dataclass(frozen=True)
class Batch:
    """Graphs joined into one (torch tensors).

    Attributes
    ----------
    numbers : torch.Tensor of int64, shape (n_nodes,)
    log_mass : torch.Tensor, shape (n_nodes,)
        ln(mass / amu).
    src, dst : torch.Tensor of int64, shape (n_edges,)
        Edge ends, indices into the joined nodes.
    vectors : torch.Tensor, shape (n_edges, 3)
        Angstrom.
    graph : torch.Tensor of int64, shape (n_nodes,)
        Index of the graph of each node.
    n_graphs : int
    """

    numbers: object
    log_mass: object
    src: object
    dst: object
    vectors: object
    graph: object
    n_graphs: int


def batch(graphs: list, dtype=None) -> Batch:
    """Join graphs into one :class:`Batch` (node indices offset graph by graph)."""
    import torch

    dtype = dtype or torch.float32
    offsets = np.cumsum([0] + [g.n_atoms for g in graphs[:-1]])
    cat = np.concatenate
    return Batch(
        numbers=torch.as_tensor(cat([g.numbers for g in graphs]), dtype=torch.int64),
        log_mass=torch.as_tensor(np.log(cat([g.masses for g in graphs])), dtype=dtype),
        src=torch.as_tensor(cat([g.src + o for g, o in zip(graphs, offsets, strict=True)]),
                            dtype=torch.int64),
        dst=torch.as_tensor(cat([g.dst + o for g, o in zip(graphs, offsets, strict=True)]),
                            dtype=torch.int64),
        vectors=torch.as_tensor(cat([g.vectors for g in graphs]), dtype=dtype),
        graph=torch.as_tensor(np.repeat(np.arange(len(graphs)), [g.n_atoms for g in graphs]),
                              dtype=torch.int64),
        n_graphs=len(graphs))
