"""Coherent one-phonon neutron structure factors per mode (Dove, Structure and Dynamics 2003).

S_nu(Q) = 1/(2 N) |sum_k b_k / sqrt(M_k E_nu) (Q.e_k*) exp(iQ.r_k) exp(-Q.W_k.Q)|^2 hbar^2,
per atom of sample, in mbarn (no Bose factor, no energy broadening). Modes below
``frequency_min`` (acoustic modes at Gamma, imaginary modes) get zero intensity.
"""


from inslib.scattering.thermal import HBAR2_AMU_MEV, bose

FM2_TO_MBARN = 10.0


def cartesian_q(crystal, q_frac):
    """Fractional Q (nq, 3) in reciprocal lattice units -> Cartesian 1/Angstrom (with 2 pi)."""
    import torch

    recip = torch.as_tensor(crystal.reciprocal, dtype=q_frac.dtype, device=q_frac.device)
    return q_frac @ recip


def coherent_structure_factor(model, modes, dw=None, frequency_min: float = 0.01):
    """Mode-resolved coherent one-phonon intensities.

    Parameters
    ----------
    model : PhononModel
        Gives the crystal (positions, masses) and scattering lengths.
    modes : Modes
        Modes computed at the Q-points themselves (fractional Q, any zone).
    dw : torch.Tensor, optional, shape (n_sets, n_atoms, 3, 3)
        Debye-Waller matrices W (Angstrom^2).
    frequency_min : float
        meV; modes at or below are left out.

    Returns
    -------
    torch.Tensor, shape (n_sets, nq, 3 n_atoms)
        mbarn per atom.
    """
    import torch

    crystal = model.crystal
    opts = model.opts
    q_cart = cartesian_q(crystal, modes.q)
    b = torch.as_tensor(crystal.scattering["b_coh"], **opts)
    mass = torch.as_tensor(crystal.masses, **opts)
    positions = torch.as_tensor(crystal.cartesian, **opts)
    weight = b / torch.sqrt(mass)  # (n_atoms,)
    phase = torch.polar(torch.ones(1, **opts), q_cart @ positions.T)  # (nq, n_atoms)
    amp = weight[None] * phase
    if dw is not None:
        exponent = torch.einsum("qa,siab,qb->sqi", q_cart, dw, q_cart)
        amp = amp[None] * torch.exp(-exponent)
    else:
        amp = amp[None]
    q_dot_e = torch.einsum("qa,sqmia->sqmi", q_cart.to(modes.eigenvectors.dtype),
                           modes.eigenvectors.conj())
    f = torch.einsum("sqmi,sqi->sqm", q_dot_e, amp.to(q_dot_e.dtype))
    energy = modes.frequencies
    keep = energy > frequency_min
    safe = torch.where(keep, energy, torch.ones_like(energy))
    factor = HBAR2_AMU_MEV * FM2_TO_MBARN / (2 * crystal.n_atoms)
    power = f.real**2 + f.imag**2  # |f|^2 without abs(): abs has no gradient at 0
    return torch.where(keep, factor * power / safe, torch.zeros_like(safe))


def deposit_modes(acc, model, q_frac, rows, deposit, temperature, dw=None, fc=None,
                  q_weight=None):
    """Add the coherent one-phonon spectra at q to rows of an accumulator (torch, batched).

    Every mode (n+1 at +E, n at -E) becomes a resolution Gaussian averaged over the energy
    bins (see :mod:`inslib.scattering.binning`), differentiable in the force constants.

    Parameters
    ----------
    acc : torch.Tensor, shape (n_sets, n_rows, deposit.n_columns), contiguous
        Accumulator, added to in place and returned.
    q_frac : numpy.ndarray, shape (nq, 3)
        Fractional Q in the model's reciprocal lattice.
    rows : torch.Tensor of int, shape (nq,)
        Row of acc each q adds to.
    deposit : ExactDeposit or SplineDeposit
        :func:`inslib.scattering.binning.depositor` of the resolution and energy bins.
    temperature : float
        K.
    dw : torch.Tensor, optional, shape (n_sets, n_atoms, 3, 3)
        Debye-Waller matrices, Angstrom^2.
    fc : torch.Tensor, optional, shape (n_sets, n_cells, 3N, 3N)
        Force-constant sets (the model's own by default).
    q_weight : torch.Tensor, optional, shape (nq,)
        Weight of each q (1 by default).

    Returns
    -------
    torch.Tensor, shape (n_sets, n_rows, deposit.n_columns)
        acc plus mbarn/meV per atom of every q, times its weight (``deposit.finish`` bins it).
    """
    import torch

    modes = model.modes(q_frac, fc)
    sf = coherent_structure_factor(model, modes, dw)
    if q_weight is not None:
        sf = sf * q_weight[None, :, None]
    occupation = bose(modes.frequencies, temperature)
    energy = torch.cat([modes.frequencies, -modes.frequencies], dim=-1)
    weight = torch.cat([sf * (occupation + 1), sf * occupation], dim=-1)
    n_sets, n_rows = acc.shape[0], acc.shape[1]
    offset = torch.arange(n_sets, device=energy.device)[:, None, None] * n_rows
    flat_rows = (offset + rows[None, :, None]).expand_as(energy)
    near = ((energy > deposit.lo - deposit.reach) & (energy < deposit.hi + deposit.reach)
            & (weight > 0))
    deposit.add(acc.view(n_sets * n_rows, -1), flat_rows[near], energy[near], weight[near])
    return acc
