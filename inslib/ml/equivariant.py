"""The e3nn network of PredictSQE Method=Direct: crystal graph -> partial DOS per atom.

Nodes start from a learned embedding of the element next to ln(mass) (the crystal's own
masses, isotopes included) and fixed element facts (covalent radius, group and period, from
ase.data), which let elements seen in few training structures borrow from similar ones. Edges
carry spherical harmonics (l <= ``lmax``) of their direction, a smooth radial basis of their
length and a basis of their length over the sum of the two covalent radii (how compressed the
bond is), both vanishing at the cutoff. Each convolution is a depthwise ("uvu") tensor product
of neighbour features with the edge harmonics, weighted per edge by a radial network, summed
over neighbours, mixed by an equivariant linear layer, added to the node's own (linear)
features and passed through a gate (scalars: SiLU; l >= 1: multiplied by sigmoid scalar
gates). A final convolution to scalars and a per-atom head give logits over the energy bins;
their softmax times 3 / bin width is the atom's partial DOS, so every atom holds exactly its
3 modes (the sum rule holds by construction) and the DOS is non-negative.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from ase.data import covalent_radii
from e3nn import o3
from e3nn.math import soft_one_hot_linspace, soft_unit_step
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

N_ELEMENTS = 95  # atomic numbers 0..94 embedded
N_FACTS = 3  # element facts per node: covalent radius, group, period
PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87)  # first atomic number of each period


def group_and_period(z: int) -> tuple[int, int]:
    """IUPAC group (1-18; lanthanides and actinides 3) and period of atomic number z."""
    period = sum(z >= start for start in PERIOD_STARTS)
    index = z - PERIOD_STARTS[period - 1]
    if period == 1:
        return (1 if z == 1 else 18), 1
    if period <= 3:
        return (index + 1 if index < 2 else index + 11), period
    if period <= 5:
        return index + 1, period
    return (index + 1 if index < 2 else 3 if index <= 16 else index - 13), period


def element_facts() -> np.ndarray:
    """Scaled facts per atomic number 0..94, shape (N_ELEMENTS, N_FACTS) (row 0 unused).

    Covalent radius - 1.4 Angstrom, group / 18, period / 7.
    """
    rows = [[0.0] * N_FACTS]
    for z in range(1, N_ELEMENTS):
        group, period = group_and_period(z)
        rows.append([covalent_radii[z] - 1.4, group / 18.0, period / 7.0])
    return np.array(rows)


@dataclass(frozen=True)
class DirectConfig:
    """Architecture and output grid of a Direct network (stored in its model card).

    Attributes
    ----------
    cutoff : float
        Neighbour radius, Angstrom.
    channels : int
        Multiplicity of each irrep in the hidden layers.
    lmax : int
        Highest angular momentum of the edge harmonics and hidden features.
    layers : int
        Gated convolutions before the final one to scalars.
    n_radial : int
        Radial basis functions of the length, and again of the length over the covalent
        radii.
    avg_neighbours : float
        Messages are summed and divided by sqrt(avg_neighbours) (from the training set).
    e_max : float
        Top of the output energy grid, meV (from 0).
    n_bins : int
        Output energy bins.
    """

    cutoff: float = 6.0
    channels: int = 32
    lmax: int = 1
    layers: int = 2
    n_radial: int = 10
    avg_neighbours: float = 50.0
    e_max: float = 150.0
    n_bins: int = 120

    def to_dict(self) -> dict:
        """Plain dictionary (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DirectConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**values)


def hidden_irreps(channels: int, lmax: int) -> o3.Irreps:
    """Channels x (0e + 1o + 2e + ...) up to lmax: the parities of polar vectors' harmonics."""
    return o3.Irreps([(channels, (degree, (-1) ** degree)) for degree in range(lmax + 1)])


class Convolution(nn.Module):
    """One message-passing step between given irreps (see the module docstring)."""

    def __init__(self, irreps_in, irreps_sh, irreps_out, config: DirectConfig):
        super().__init__()
        irreps_in, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir in ir_in * ir_sh:
                    if ir in irreps_out:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir))
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, o3.Irreps(mid), instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = FullyConnectedNet([2 * config.n_radial, 32, self.tp.weight_numel],
                                        torch.nn.functional.silu)
        self.mix = o3.Linear(o3.Irreps(mid), irreps_out)
        self.own = o3.Linear(irreps_in, irreps_out)
        self.norm = config.avg_neighbours ** 0.5

    def forward(self, x, src, dst, sh, radial):
        """Return new node features (n_nodes, irreps_out.dim) of x (n_nodes, irreps_in.dim)."""
        messages = self.tp(x[src], sh, self.radial(radial))
        summed = torch.zeros((x.shape[0], messages.shape[1]), dtype=x.dtype)
        summed = summed.index_add(0, dst, messages) / self.norm
        return self.own(x) + self.mix(summed)


def gated(irreps_hidden: o3.Irreps) -> Gate:
    """Gate whose output is ``irreps_hidden`` (scalars SiLU, others sigmoid-gated)."""
    scalars = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l == 0])
    others = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l > 0])
    gates = o3.Irreps(f"{others.num_irreps}x0e")
    return Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], others)


class DirectNet(nn.Module):
    """Crystal graph -> partial DOS per atom (see the module docstring).

    Parameters
    ----------
    config : DirectConfig
    n_out : int, optional
        Outputs of the per-atom head (default ``config.n_bins``, the DOS bins); another count
        makes the network a feature extractor (:meth:`atom_features`).
    """

    def __init__(self, config: DirectConfig, n_out: int | None = None):
        super().__init__()
        self.config = config
        c = config.channels
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        self.embed = nn.Embedding(N_ELEMENTS, c - N_FACTS - 1)
        self.register_buffer("facts", torch.as_tensor(element_facts(), dtype=torch.float32))
        self.register_buffer("radii", torch.as_tensor(covalent_radii[:N_ELEMENTS],
                                                      dtype=torch.float32))
        hidden = hidden_irreps(c, config.lmax)
        irreps, blocks = o3.Irreps(f"{c}x0e"), []
        for _ in range(config.layers):
            gate = gated(hidden)
            blocks.append(nn.ModuleList([Convolution(irreps, self.irreps_sh, gate.irreps_in,
                                                     config), gate]))
            irreps = gate.irreps_out
        self.blocks = nn.ModuleList(blocks)
        self.last = Convolution(irreps, self.irreps_sh, o3.Irreps(f"{2 * c}x0e"), config)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(2 * c, 4 * c), nn.SiLU(),
                                  nn.Linear(4 * c, n_out or config.n_bins))

    @property
    def bin_width(self) -> float:
        """Output bin width, meV."""
        return self.config.e_max / self.config.n_bins

    def edge_basis(self, graphs) -> torch.Tensor:
        """Radial features of the edges, shape (n_edges, 2 n_radial), zero at the cutoff."""
        n, cutoff = self.config.n_radial, self.config.cutoff
        length = graphs.vectors.norm(dim=1)
        by_length = soft_one_hot_linspace(length, 0.0, cutoff, n, basis="smooth_finite",
                                          cutoff=True)
        bond = self.radii[graphs.numbers[graphs.src]] + self.radii[graphs.numbers[graphs.dst]]
        by_ratio = soft_one_hot_linspace(length / bond, 0.6, 2.6, n, basis="gaussian",
                                         cutoff=False)
        envelope = soft_unit_step(10.0 * (1.0 - length / cutoff))[:, None]
        return torch.cat([by_length, by_ratio * envelope], dim=1) * n**0.5

    def forward(self, graphs) -> torch.Tensor:
        """Partial DOS per atom, states/meV, shape (n_nodes, n_bins); each row integrates to 3.

        Parameters
        ----------
        graphs : inslib.ml.graph.Batch
        """
        return 3.0 * torch.softmax(self.atom_features(graphs), dim=1) / self.bin_width

    def atom_features(self, graphs) -> torch.Tensor:
        """Per-atom head outputs (invariant scalars), shape (n_nodes, n_out)."""
        sh = o3.spherical_harmonics(self.irreps_sh, graphs.vectors, normalize=True,
                                    normalization="component")
        radial = self.edge_basis(graphs)
        x = torch.cat([self.embed(graphs.numbers), graphs.log_mass[:, None] - np.log(33.0),
                       self.facts[graphs.numbers]], dim=1)
        for convolution, gate in self.blocks:
            x = gate(convolution(x, graphs.src, graphs.dst, sh, radial))
        x = self.last(x, graphs.src, graphs.dst, sh, radial)
        return self.head(x)
