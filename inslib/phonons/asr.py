"""Acoustic sum rule in reciprocal space (the correction euphonic calls "reciprocal").

Finite supercells and numerical noise leave the three acoustic modes at Gamma slightly away
from zero. As in CASTEP (Phonons Guide, 2.3.4) and euphonic, the correction works on the force
constants summed over the lattice (the dynamical matrix at Gamma before mass weighting, D0):
it removes the eigenvalues of the three eigenvectors most like rigid translations,
D0 -> D0 - sum_i lambda_i e_i e_i^H, and adds the same constant matrix at every q. Unlike a
change of the on-site force constants it leaves the optical modes unchanged to first order.
"""


def translations(n_atoms: int, dtype, device):
    """Normalised rigid translations.

    Returns
    -------
    torch.Tensor, shape (3 n_atoms, 3)
        Column a moves every atom along Cartesian a (unit norm).
    """
    import torch

    columns = torch.zeros((3 * n_atoms, 3), dtype=dtype, device=device)
    for a in range(3):
        columns[a::3, a] = 1.0 / n_atoms**0.5
    return columns


def acoustic_correction(d0, moves):
    """Return the constant matrix that zeroes the acoustic modes at Gamma.

    Parameters
    ----------
    d0 : torch.Tensor, complex, shape (n_sets, 3N, 3N)
        Dynamical matrices at Gamma without the non-analytic term and without mass weighting
        (eV/Angstrom^2).
    moves : torch.Tensor, shape (3N, 3)
        :func:`translations`.

    Returns
    -------
    torch.Tensor, complex, shape (n_sets, 3N, 3N)
        -P d0 P (eV/Angstrom^2), P the projector on the three acoustic eigenvectors. P is
        held fixed in the gradient (the acoustic triplet is degenerate: its eigenvectors have
        no derivative), so the gradient is that of -P d0 P at fixed P.
    """
    import torch

    with torch.no_grad():
        _, vectors = torch.linalg.eigh(d0)
        overlap = (torch.abs(moves.to(vectors.dtype).T @ vectors) ** 2).sum(dim=-2)
        pick = torch.topk(overlap, 3, dim=-1).indices
        acoustic = torch.gather(vectors, -1, pick[:, None, :].expand(-1, d0.shape[-1], 3))
        projector = acoustic @ acoustic.conj().transpose(-1, -2)
    return -(projector @ d0 @ projector)
