"""Phonon density of states from modes on a Monkhorst-Pack grid.

Partial DOS g_k(E) of atom k is the mode density weighted by |e_k|^2, normalised so that each
atom integrates to 3 (all branches), the total to 3 N. Neutron-weighted DOS weights atom k by
sigma_k / M_k (cross-section in barn, mass in amu).

A finite mesh samples the acoustic branches only at a few low energies, and the incoherent
one-phonon term g(E)/E (times kT/E at high temperature) amplifies that noise. ``regularise``
therefore (1) smooths the histogram with a Gaussian of sigma = E_max / (4 n), n the mesh size,
and (2) below E_c = E_max / n, the energy of one mesh step on a zone-boundary scale, replaces
it by the Debye law g = a E^2 holding the same number of states.
"""

import math

import numpy as np


def weighted_dos(partial: np.ndarray, crystal, cross_section: str = "total") -> np.ndarray:
    """Neutron-weighted DOS (mbarn/meV per atom) from partial DOS (n_atoms, n_e).

    sum_k sigma_k (<M> / M_k) g_k / N: the one-phonon intensity weight of each atom
    (cross-section over mass), scaled by the mean mass so that a monatomic crystal gives sigma
    times its DOS per atom (euphonic's convention for weighted PDOS); ``cross_section``:
    "coherent", "incoherent", "total".
    """
    data = crystal.scattering
    sigma = {"coherent": data["sigma_coh"], "incoherent": data["sigma_inc"],
             "total": data["sigma_coh"] + data["sigma_inc"]}[cross_section] * 1000.0
    factor = sigma * crystal.masses.mean() / crystal.masses / crystal.n_atoms
    return np.einsum("k,ke->e", factor, partial)


def deposit_pdos(freqs, atom_weights, width: float, n_e: int, frequency_min: float = 0.01,
                 q_weights=None):
    """Partial DOS by linear deposit of modes on bin centres (torch, differentiable in energy).

    A mode at E between the centres c_k and c_k+1 gives (1 - t) to bin k and t to bin k+1,
    t = (E - c_k) / width, so its weight moves smoothly with E (a histogram would not). Below
    the first centre the share of the bin at -width/2 goes to bin 0 (no state is lost).

    Parameters
    ----------
    freqs : torch.Tensor, shape (n_sets, nq, n_modes)
        Mode energies, meV (modes at or below ``frequency_min`` are left out).
    atom_weights : torch.Tensor, shape (n_sets, nq, n_modes, n_atoms)
        |e_k|^2 of every mode on every atom.
    width : float
        Bin width, meV; bin k is centred on (k + 1/2) width.
    n_e : int
        Number of bins.
    q_weights : torch.Tensor, optional, shape (nq,)
        Weights of the q-points (an irreducible mesh), any normalisation; equal by default.

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms, n_e)
        States per meV per atom (each row integrates to 3 when every mode is kept).
    """
    import torch

    n_sets, n_q, _, n_atoms = atom_weights.shape
    if q_weights is not None:
        q_weights = torch.as_tensor(q_weights, dtype=atom_weights.dtype, device=freqs.device)
        atom_weights = atom_weights * (q_weights * n_q / q_weights.sum())[None, :, None, None]
    keep = freqs > frequency_min
    pos = freqs / width - 0.5
    low = pos.floor()
    frac = pos - low
    low = low.long()
    out = torch.zeros((n_sets, n_atoms, n_e + 2), dtype=atom_weights.dtype,
                      device=atom_weights.device)
    sets = torch.arange(n_sets, device=freqs.device)[:, None, None].expand_as(low)
    for shift, share in ((0, 1 - frac), (1, frac)):
        slot = (low + shift + 1).clamp(0, n_e + 1)  # slot 0 and n_e + 1 collect the overflow
        value = torch.where(keep, share, 0.0)[..., None] * atom_weights
        index = (sets * (n_e + 2) + slot).reshape(-1)
        flat = out.transpose(1, 2).reshape(-1, n_atoms)
        out = flat.index_add(0, index, value.reshape(-1, n_atoms)).reshape(
            n_sets, n_e + 2, n_atoms).transpose(1, 2)
    # below the first centre the share of the (empty) bin at -width/2 folds back onto bin 0
    inside = out[..., 1:-1] + torch.nn.functional.pad(out[..., :1], (0, n_e - 1))
    return inside / (n_q * width)


def regularise(partial, energy: np.ndarray, width: float, e_max, grid: int):
    """Smooth and Debye-extrapolate mesh partial DOS (see the module notes), torch, batched.

    Parameters
    ----------
    partial : torch.Tensor, shape (n_sets, n_atoms, n_e)
        States per meV per atom on bin centres ``energy`` (meV, uniform ``width``).
    e_max : torch.Tensor, shape (n_sets,)
        Highest mode energy of each set, meV: sets the smoothing width e_max / (4 n) and the
        Debye region E < e_max / n, n = ``grid`` (the mesh size).

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms, n_e)
    """
    import torch

    n_e = partial.shape[-1]
    mirrored = torch.cat([partial.flip(-1), partial], dim=-1)  # even about E = 0
    length = 4 * n_e  # zero padding: no wrap-around of the circular convolution
    k = torch.fft.rfftfreq(length, d=1.0, device=partial.device).to(partial.dtype)
    sigma = (e_max / (4 * grid) / width)[:, None, None]
    transfer = torch.exp(-2 * (math.pi * k) ** 2 * sigma**2)
    smooth = torch.fft.irfft(torch.fft.rfft(mirrored, n=length) * transfer, n=length)
    smooth = smooth[..., n_e:2 * n_e]
    centres = torch.as_tensor(energy, dtype=partial.dtype, device=partial.device)
    cut_energy = (e_max / grid)[:, None, None]
    cut = centres[None, None, :] < cut_energy
    states = torch.where(cut, smooth, 0.0).sum(dim=-1, keepdim=True) * width
    debye = states * 3 * centres**2 / cut_energy**3
    return torch.where(cut, debye, smooth)


def mesh_dos(freqs, atom_weights, width: float, grid: int, e_max=None,
             frequency_min: float = 0.01, smooth: bool = True):
    """Partial DOS of force-constant sets from their mesh modes (torch, differentiable).

    Parameters
    ----------
    freqs : torch.Tensor, shape (n_sets, nq, n_modes)
        Mode energies on the mesh, meV.
    atom_weights : torch.Tensor, shape (n_sets, nq, n_modes, n_atoms)
        |e_k|^2 of every mode on every atom.
    width : float
        Bin width, meV.
    grid : int
        Mesh size n (smallest of the three), for :func:`regularise`.
    e_max : float, optional
        Top of the energy range, meV (1.05 x the highest mode of all sets by default).

    Returns
    -------
    partial : torch.Tensor, shape (n_sets, n_atoms, n_e)
        States per meV per atom.
    centres : numpy.ndarray, shape (n_e,)
        Bin centres, meV.
    """
    top = float(freqs.detach().max()) * 1.05 if e_max is None else float(e_max)
    n_e = max(math.ceil(top / width) + 1, 2)  # the last centre lies above the top
    centres = (np.arange(n_e) + 0.5) * width
    partial = deposit_pdos(freqs, atom_weights, width, n_e, frequency_min)
    highest = freqs.reshape(len(freqs), -1).max(dim=1).values
    if smooth and float(debye_cut(freqs, grid, frequency_min).min()) > 0:
        partial = regularise(partial, centres, width, highest, grid)
    return partial, centres


def debye_cut(freqs, grid: int, frequency_min: float = 0.01) -> np.ndarray:
    """Top of the Debye region :func:`regularise` gives each set, E_c = E_max / n (meV).

    Parameters
    ----------
    freqs : torch.Tensor, shape (n_sets, nq, n_modes)
        Mode energies on the mesh, meV.
    grid : int
        Mesh size n.

    Returns
    -------
    numpy.ndarray, shape (n_sets,)
        E_c, meV; 0 for every set when a set has no mode above ``frequency_min`` (the DOS is
        then left as deposited).
    """
    highest = freqs.detach().reshape(len(freqs), -1).max(dim=1).values.cpu().numpy()
    return highest / grid if highest.min() > frequency_min else np.zeros_like(highest)
