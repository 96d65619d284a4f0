"""Fully connected torch networks of the amortized inversion (Su & Li 2024).

:class:`VAE` compresses a standardised, masked and flattened spectrum into a small Gaussian
latent space and decodes it back; :class:`Regressor` maps a latent vector to normalised
force-constant parameters. Both use tanh activations, as Su & Li's networks do.
"""

import itertools

import torch
from torch import nn


def mlp(sizes, final_activation: bool = False) -> nn.Sequential:
    """Linear layers with tanh between them.

    Parameters
    ----------
    sizes : sequence of int
        Widths from input to output, length >= 2.
    final_activation : bool
        Also apply tanh after the last layer.

    Returns
    -------
    torch.nn.Sequential
    """
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Variational autoencoder of flattened spectra.

    Parameters
    ----------
    n_inputs : int
        Bins per spectrum (the covered bins of the template).
    hidden : sequence of int
        Hidden widths of the encoder (the decoder mirrors them).
    latent : int
        Latent dimension.
    """

    def __init__(self, n_inputs: int, hidden, latent: int):
        super().__init__()
        hidden = list(hidden)
        self.encoder = mlp([n_inputs, *hidden], final_activation=True)
        self.mean = nn.Linear(hidden[-1], latent)
        self.log_var = nn.Linear(hidden[-1], latent)
        self.decoder = mlp([latent, *hidden[::-1], n_inputs])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance, each (batch, latent), of spectra x (batch, n_inputs)."""
        h = self.encoder(x)
        return self.mean(h), self.log_var(h)

    def forward(self, x: torch.Tensor, generator=None):
        """Reconstruct spectra through one latent sample each.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_inputs)
        generator : torch.Generator, optional
            Seeds the latent sample.

        Returns
        -------
        reconstruction : torch.Tensor, shape (batch, n_inputs)
        mean, log_var : torch.Tensor, shape (batch, latent)
        """
        mean, log_var = self.encode(x)
        z = sample_latent(mean, log_var, 1, generator)[0]
        return self.decoder(z), mean, log_var


def sample_latent(mean: torch.Tensor, log_var: torch.Tensor, n: int,
                  generator=None) -> torch.Tensor:
    """Draw n latent vectors per row of (mean, log_var): shape (n, batch, latent)."""
    eps = torch.randn((n, *mean.shape), generator=generator, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * eps


def vae_loss(x, reconstruction, mean, log_var, beta: float, weight=None):
    """Reconstruction and Kullback-Leibler terms of the VAE loss, per spectrum.

    Parameters
    ----------
    x, reconstruction : torch.Tensor, shape (batch, n_inputs)
    mean, log_var : torch.Tensor, shape (batch, latent)
    beta : float
        Weight of the KL term.
    weight : torch.Tensor, optional, shape (batch, n_inputs)
        1 for bins that count, 0 for bins to ignore (e.g. not measured); all count when None.

    Returns
    -------
    total, reconstruction_error, kl : torch.Tensor (scalars)
        Batch means of: error + beta x KL, the summed squared error over the counted bins,
        and KL(q(z|x) || N(0, 1)).
    """
    squared = (reconstruction - x) ** 2
    if weight is not None:
        squared = squared * weight
    error = squared.sum(dim=1).mean()
    kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1)).mean()
    return error + beta * kl, error, kl


class Regressor(nn.Module):
    """Latent vector -> normalised parameters (tanh hidden layers, linear output).

    Parameters
    ----------
    latent : int
    hidden : sequence of int
    n_params : int
    """

    def __init__(self, latent: int, hidden, n_params: int):
        super().__init__()
        self.net = mlp([latent, *hidden, n_params])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised parameters (..., n_params) of latent vectors (..., latent)."""
        return self.net(z)
