"""Incoherent approximation with multiphonon terms (Sjolander 1958; as in OCLIMAX and AbINS).

For atom k with partial DOS g_k (3 states per atom) and isotropic mean-square displacement
u_k^2 = 2 Tr(W_k) / 3 (W_k the Debye-Waller matrix from the mode sum, W = <u u>/2), the
n-phonon term is

    S_n,k(Q, E) = sigma_k / (4 pi) exp(-Q^2 u_k^2) (Q^2 u_k^2)^n / n! T_n,k(E),

T_1 ~ g_k(|E|)/|E| (n(|E|) + 1 for E > 0, n(|E|) for E < 0) normalised to 1, T_n = T_1 * T_n-1.
Energies in meV (positive = neutron energy loss), |Q| in 1/Angstrom, S in mbarn/meV per atom.

u_k^2 is taken from the mode sum (AbINS's Tr A / 3, OCLIMAX's mesh average), not from the DOS
integral hbar^2/(2 M_k) int g_k(E)/(3E) coth(E/2kT) dE: the two agree on the raw mesh DOS, but
the regularised DOS (:func:`inslib.scattering.dos.regularise`) replaces the states below
E_max/n by a Debye law, which misses the soft flexural modes of layered crystals (graphite on a
16^3 mesh: 0.00551 instead of 0.00624 Angstrom^2, -12 %, i.e. -20 % on the two-phonon term at
|Q| = 10 1/Angstrom). The mode sum is also what the coherent one-phonon term's exp(-2W) uses.
T_1 comes from the regularised DOS with its Debye region rescaled to carry the same u_k^2
(:func:`match_debye_region`), so that shape and weight describe the same modes.

The powder average is isotropic (u_k^2 for every direction of Q), as OCLIMAX does and AbINS
does beyond second order. For graphite's anisotropic displacements (u^2 0.0021 in the layers,
0.0144 Angstrom^2 along c) the exact direction average of the same terms gives 13 % less
multiphonon above 205 meV at Ei = 300 meV (benchmarks/multiphonon_graphite.py).
"""

import math

import numpy as np

from inslib.scattering.thermal import HBAR2_AMU_MEV, K_B, bose

BARN_TO_MBARN = 1000.0


def _interp_uniform(x, grid_start: float, grid_step: float, values):
    """Linear interpolation of values (..., n) on a uniform grid at x (m,), 0 outside."""
    import torch

    pos = (x - grid_start) / grid_step
    low = pos.floor().long()
    frac = (pos - low).to(values.dtype)
    n = values.shape[-1]
    inside_low = (low >= 0) & (low < n)
    inside_high = (low + 1 >= 0) & (low + 1 < n)
    left = torch.where(inside_low, values[..., low.clamp(0, n - 1)], 0.0)
    right = torch.where(inside_high, values[..., (low + 1).clamp(0, n - 1)], 0.0)
    return left * (1 - frac) + right * frac


def thermal_one_phonon(partial, dos_energy: np.ndarray, temperature: float,
                       energy: np.ndarray):
    """T_1 (unnormalised): g_k(|E|)/|E| times n(|E|) + 1 (E > 0) or n(|E|) (E < 0).

    Parameters
    ----------
    partial : torch.Tensor, shape (n_sets, n_atoms, n_dos)
        Partial DOS (states per meV per atom) on the uniform bin centres ``dos_energy`` (meV).
    energy : numpy.ndarray, shape (n_e,)
        Energy transfers, meV.

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms, n_e)
    """
    import torch

    opts = {"dtype": partial.dtype, "device": partial.device}
    absolute = torch.as_tensor(np.abs(energy), **opts)
    step = float(dos_energy[1] - dos_energy[0])
    g = _interp_uniform(absolute, float(dos_energy[0]), step, partial)
    g = torch.where(absolute >= dos_energy[0], g, 0.0)  # np.interp's left=0 below the grid
    safe = torch.where(absolute > 0, absolute, 1.0)
    occupation = bose(absolute, temperature)
    factor = torch.where(torch.as_tensor(energy, **opts) > 0, occupation + 1.0, occupation)
    return torch.where(absolute > 0, g / safe, 0.0) * factor


def mean_square_displacement(partial, dos_energy: np.ndarray, masses, temperature: float):
    """Isotropic u^2 per atom from partial DOS, Angstrom^2, shape (n_sets, n_atoms).

    u^2 = hbar^2 / (2 M) int g(E) / (3 E) coth(E / 2kT) dE, on the bin centres ``dos_energy``
    (meV, uniform); ``partial`` (n_sets, n_atoms, n_dos) in states per meV per atom. A check
    of a DOS against the mode sum (:func:`isotropic_msd`), which the terms themselves use.
    """
    import torch

    opts = {"dtype": partial.dtype, "device": partial.device}
    e = torch.as_tensor(dos_energy, **opts)
    coth = 1.0 / torch.tanh(e / (2 * K_B * temperature)) if temperature > 0 else 1.0
    width = float(dos_energy[1] - dos_energy[0])
    integral = (partial / 3.0 / e * coth).sum(dim=-1) * width
    return HBAR2_AMU_MEV / (2 * torch.as_tensor(masses, **opts)) * integral


def isotropic_msd(dw):
    """Isotropic mean-square displacement u^2 = 2 Tr(W) / 3 per atom (torch).

    Parameters
    ----------
    dw : torch.Tensor, shape (n_sets, n_atoms, 3, 3)
        Debye-Waller matrices W = <u u> / 2, Angstrom^2.

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms)
        u^2 (the mean over directions of <u_a^2>), Angstrom^2.
    """
    return 2.0 * dw.diagonal(dim1=-2, dim2=-1).sum(dim=-1) / 3.0


def match_debye_region(partial, dos_energy: np.ndarray, masses, temperature: float, msd,
                       cut: np.ndarray):
    """Rescale the Debye region of a partial DOS so that its u^2 is the mode sum's (torch).

    T_1 (the normalised shape of the one-phonon term) comes from the DOS, its weight Q^2 u^2
    from the mode sum (:func:`isotropic_msd`); both must describe the same modes. Below
    E_c the regularised DOS is a Debye law a E^2 holding the mesh's states there, which can
    miss u^2 (graphite's flexural modes) or add it (Ge: the law adds states the mesh lacks).
    The states below E_c are scaled by f = 1 + (u^2 - u_DOS^2) / u_low^2 (clamped at >= 0),
    u_DOS^2 and u_low^2 the DOS integral of :func:`mean_square_displacement` over all E and
    over E < E_c. Graphite, 16^3 mesh, 300 K: u_DOS^2 = 0.00551, u^2 = 0.00624 Angstrom^2,
    f = 1.33; the Q-summed multiphonon profile then follows OCLIMAX's (raw 32x32x16 mesh) with
    r = 0.9994 instead of 0.9976.

    Parameters
    ----------
    partial : torch.Tensor, shape (n_sets, n_atoms, n_dos)
        Regularised partial DOS, states per meV per atom, on the uniform centres
        ``dos_energy`` (meV).
    masses : numpy.ndarray, shape (n_atoms,)
        amu.
    temperature : float
        K.
    msd : torch.Tensor, shape (n_sets, n_atoms)
        Mode-sum u^2, Angstrom^2.
    cut : numpy.ndarray, shape (n_sets,)
        E_c of each set, meV (0 = no Debye region: unchanged).

    Returns
    -------
    torch.Tensor, shape (n_sets, n_atoms, n_dos)
        States per meV per atom (no longer 3 per atom when f != 1).
    """
    import torch

    cut = torch.as_tensor(cut, dtype=partial.dtype, device=partial.device)
    energy = torch.as_tensor(dos_energy, dtype=partial.dtype, device=partial.device)
    low = energy[None, None, :] < cut[:, None, None]
    whole = mean_square_displacement(partial, dos_energy, masses, temperature)
    share = mean_square_displacement(torch.where(low, partial, 0.0), dos_energy, masses,
                                     temperature)
    safe = torch.where(share > 0, share, 1.0)
    factor = torch.where(share > 0, 1.0 + (msd - whole) / safe, 1.0).clamp_min(0.0)
    return torch.where(low, partial * factor[..., None], partial)


def multiphonon_grid(dos_top: float, max_order: int, e_limit: float, step: float) -> np.ndarray:
    """Symmetric energy grid (meV, odd length) holding +-e_limit and max_order x the band."""
    half = math.ceil((e_limit + dos_top * max_order) / step)
    return np.arange(-half, half + 1) * step


def multiphonon_orders(partial, dos_energy: np.ndarray, temperature: float, max_order: int,
                       energy: np.ndarray, creation_only: bool = False):
    """T_n for n = 1..max_order of force-constant sets (torch, batched, differentiable).

    T_n = T_1 * T_n-1 by FFT on the symmetric grid ``energy`` (:func:`multiphonon_grid`, wide
    enough that no order wraps around); ``creation_only`` builds n >= 2 from the E > 0 part
    of T_1 alone ("0 -> n" events only: what OCLIMAX computes when its energy window starts
    at MINE >= 0, and AbINS's convention). The complete expansion (default) lets an n-phonon
    process annihilate thermal phonons too and obeys detailed balance; OCLIMAX reproduces it
    with MINE < 0, as its manual advises at finite temperature (graphite at 300 K, orders
    2..6 above 205 meV: a constant ratio to the matching OCLIMAX run within 2 % complete,
    6 % creation only; tests/reference/test_multiphonon_oclimax.py).

    Parameters
    ----------
    partial : torch.Tensor, shape (n_sets, n_atoms, n_dos)
        Partial DOS, states per meV per atom, on the uniform centres ``dos_energy`` (meV).
    energy : numpy.ndarray, shape (n_e,)
        Symmetric grid, meV.

    Returns
    -------
    torch.Tensor, shape (n_sets, max_order, n_atoms, n_e)
        T_n,k(E) per meV. Each integrates to 1 in the complete expansion; with
        ``creation_only`` the n >= 2 terms keep the creation part's weight (below 1), as
        OCLIMAX's columns do.
    """
    import torch

    step = float(energy[1] - energy[0])
    one = thermal_one_phonon(partial, dos_energy, temperature, energy)
    one = one / (one.sum(dim=-1, keepdim=True) * step)
    positive = torch.as_tensor(energy > 0, device=one.device)
    base = torch.where(positive, one, 0.0) if creation_only else one
    n = len(energy)
    centre = torch.fft.ifftshift
    spectrum_base = torch.fft.rfft(centre(base, dim=-1), n=n)
    orders, current = [one], spectrum_base
    for _ in range(1, max_order):  # T_n = base * ... * base (n times; base = T_1 by default)
        current = current * spectrum_base * step
        order = torch.fft.fftshift(torch.fft.irfft(current, n=n), dim=-1)
        orders.append(order.clamp_min(0.0))  # FFT round-off below zero
    return torch.stack(orders, dim=1)


def order_weights(msd, q, max_order: int):
    """Weights exp(-Q^2 u^2) (Q^2 u^2)^n / n!, n = 1..max_order (torch).

    Parameters
    ----------
    msd : torch.Tensor, shape (n_sets, n_atoms)
        u^2, Angstrom^2.
    q : torch.Tensor, shape (n_q,)
        |Q|, 1/Angstrom.

    Returns
    -------
    torch.Tensor, shape (n_sets, max_order, n_atoms, n_q)
    """
    import torch

    x = q[None, None, :] ** 2 * msd[:, :, None]  # (n_sets, n_atoms, n_q)
    n = torch.arange(1, max_order + 1, dtype=x.dtype, device=x.device)[None, :, None, None]
    safe = torch.where(x > 0, x, 1.0)[:, None]
    log_w = -safe + n * torch.log(safe) - torch.lgamma(n + 1)
    return torch.where(x[:, None] > 0, torch.exp(log_w), 0.0)


def incoherent_sqe(orders, msd, q, sigma_one, sigma_multi, n_atoms: int):
    """S_inc(|Q|, E) per atom, summed over orders, on the orders' energy grid (torch).

    Parameters
    ----------
    orders : torch.Tensor, shape (n_sets, max_order, n_atoms, n_e)
        T_n (per meV), :func:`multiphonon_orders`.
    msd : torch.Tensor, shape (n_sets, n_atoms)
        u^2, Angstrom^2 (:func:`isotropic_msd`).
    q : torch.Tensor, shape (n_q, n_sub)
        |Q| sample points of each output |Q| bin (1/Angstrom); the weights are averaged.
    sigma_one, sigma_multi : numpy.ndarray, shape (n_atoms,)
        Cross-sections (barn) for the one-phonon and the n >= 2 terms.

    Returns
    -------
    torch.Tensor, shape (n_sets, n_q, n_e)
        mbarn/meV per atom.
    """
    import torch

    max_order = orders.shape[1]
    weights = order_weights(msd, q.reshape(-1), max_order)
    weights = weights.reshape(*weights.shape[:3], *q.shape).mean(dim=-1)
    sigma = np.stack([sigma_one] + [sigma_multi] * (max_order - 1))  # (n_orders, n_atoms)
    scale = torch.as_tensor(sigma * BARN_TO_MBARN / (4 * math.pi) / n_atoms,
                            dtype=orders.dtype, device=orders.device)
    return torch.einsum("oa,soaq,soae->sqe", scale, weights, orders)
