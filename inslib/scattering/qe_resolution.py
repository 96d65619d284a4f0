"""Coherent one-phonon single-crystal spectra broadened by the Q-E resolution covariance.

Monte Carlo over the covariance Sigma(Q0, E) of :mod:`inslib.instruments.covariance`: the
measured intensity at (Q0, E0) is

    I(Q0, E0) = sum_nu int dQ' S_nu(Q0 + Q') N(Q'; Sigma_QQ) N(E0; w_nu(Q0 + Q') - mu, s^2),

mu = Sigma_EQ Sigma_QQ^-1 Q' and s^2 = Sigma_EE - Sigma_EQ Sigma_QQ^-1 Sigma_QE (the energy
kernel conditional on the Q offset). Sigma depends on the energy: it is computed at K probe
energies E_k spanning the output range (:func:`probe_energies`) for each sample point Q0 (in one
of the two mirror orientations of k_i, :func:`inslib.instruments.covariance.
scattering_vectors`: the one the Psi scan measures, drawn at random where it measures both,
:func:`choose_branches`), and interpolated linearly in
energy as a mixture: the modes are computed at Q0 + Q'_k, Q'_k = L_k z (L_k the Cholesky factor
of Sigma_QQ(E_k), z one standard normal draw per point), and mode nu of draw k enters with the
hat weight h_k(w_nu(Q0)) (sum_k h_k = 1; probes that cannot be reached at Q0 carry none),
shifted by -mu_k and broadened by s_k of Sigma(E_k). The mixture's covariance at w_nu is then
the linear interpolation of Sigma between the probes. Modes at energies with no reachable probe
beside them carry no weight (the kinematic limit).

The energies, intensities and shifts stay torch tensors (differentiable in the force
constants); the hat weights use the detached energies at Q0.
"""

from dataclasses import dataclass

import numpy as np

from inslib.instruments.covariance import (
    DirectGeometry,
    conditional_energy,
    qe_covariance,
    scattering_vectors,
)

#: Fraction of Ei up to which probes reach (k_f -> 0 at Ei).
TOP = 0.95


@dataclass(frozen=True)
class QEResolution:
    """Q-E covariance resolution of a single-crystal simulation (:class:`RowsForward` option).

    Attributes
    ----------
    geometry : DirectGeometry
        Instrument setting (:func:`inslib.instruments.covariance.direct_geometry`).
    vertical : numpy.ndarray, shape (3,)
        Unit vector along the goniometer axis (normal to the scattering plane) in the
        crystal's Cartesian reciprocal frame (that of ``crystal.reciprocal``).
    seed : int
        Seed of the offsets and orientations (the same result on every call).
    draws : int
        Offsets per sample point.
    probes : int
        Energies at which Sigma is computed (>= 2).
    orientations : tuple of int
        Which of the two mirror orientations of k_i the points may take (0: k_i along
        cos(psi) e_1 + sin(psi) e_2, 1: the minus sign; :func:`scattering_vectors`).
    beams : numpy.ndarray or None, shape (m, 3)
        Incident-beam directions of the goniometer settings measured (the Psi scan,
        :func:`inslib.instruments.kinematics.beam_directions`), same frame as ``vertical``;
        None: every orientation is measured.
    half_step : float
        Half the angle between settings, radians: a k_i within it of a setting's beam (about
        ``vertical``) counts as measured.
    """

    geometry: DirectGeometry
    vertical: np.ndarray
    seed: int = 0
    draws: int = 1
    probes: int = 5
    orientations: tuple = (0, 1)
    beams: np.ndarray | None = None
    half_step: float = 0.0


@dataclass(frozen=True)
class Offsets:
    """Q offsets of sample points and their energy kernels, one per probe energy.

    Attributes
    ----------
    energies : numpy.ndarray, shape (K,)
        Probe energies, meV.
    dq : numpy.ndarray, shape (n, K, 3)
        Offsets Q'_k = L_k z, 1/Angstrom.
    shift : numpy.ndarray, shape (n, K)
        -Sigma_EQ Sigma_QQ^-1 Q'_k, meV.
    sigma : numpy.ndarray, shape (n, K)
        Conditional energy width, meV.
    reachable : numpy.ndarray of bool, shape (n, K)
    """

    energies: np.ndarray
    dq: np.ndarray
    shift: np.ndarray
    sigma: np.ndarray
    reachable: np.ndarray


def probe_energies(*, ei: float, e_range: tuple[float, float], probes: int) -> np.ndarray:
    """Return ``probes`` energies spanning ``e_range`` within (-TOP Ei, TOP Ei), meV."""
    return np.linspace(max(e_range[0], -TOP * ei), min(e_range[1], TOP * ei), probes)


def probe_covariances(*, resolution: QEResolution, q: np.ndarray, energies: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sigma(Q0, E_k) of every point and probe energy, in the orientation measured there.

    Parameters
    ----------
    resolution : QEResolution
    q : numpy.ndarray, shape (n, 3)
        Sample points, 1/Angstrom.
    energies : numpy.ndarray, shape (K,)
        meV.
    rng : numpy.random.Generator
        For :func:`choose_branches`.

    Returns
    -------
    covariance : numpy.ndarray, shape (n, K, 4, 4)
        :func:`qe_covariance` (1/Angstrom^2, meV/Angstrom, meV^2); identity where unreachable.
    reachable : numpy.ndarray of bool, shape (n, K)
    """
    n, k = len(q), len(energies)
    k_i, k_f, reachable = scattering_vectors(q=np.repeat(q, k, 0), energy=np.tile(energies, n),
                                             ei=resolution.geometry.ei,
                                             vertical=resolution.vertical)
    pick = choose_branches(resolution=resolution, k_i=k_i, probes=k, rng=rng), np.arange(n * k)
    cov = np.broadcast_to(np.eye(4), (n * k, 4, 4)).copy()
    if reachable.any():
        cov[reachable] = qe_covariance(geometry=resolution.geometry,
                                       k_i=k_i[pick][reachable], k_f=k_f[pick][reachable],
                                       vertical=resolution.vertical)
    return cov.reshape(n, k, 4, 4), reachable.reshape(n, k)


def choose_branches(*, resolution: QEResolution, k_i: np.ndarray, probes: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Orientation (0 or 1) of each point at each probe energy.

    Of the allowed orientations (``resolution.orientations``), those the Psi scan measures
    (a setting's beam within ``half_step`` of k_i, :func:`scan_gaps`), or where it measures
    neither, the one nearest to a setting (the kinematic mask, not the resolution, deals with
    unmeasured bins). Where two remain, one uniform draw per point picks the same one at each
    of its probes. Without ``beams`` every allowed orientation remains.

    Parameters
    ----------
    resolution : QEResolution
    k_i : numpy.ndarray, shape (2, n * probes, 3)
        Incident wavevectors of both orientations (:func:`scattering_vectors`), point-major.
    probes : int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int, shape (n * probes,)
    """
    allowed = np.zeros(k_i.shape[:2], dtype=bool)
    allowed[list(resolution.orientations)] = True
    if resolution.beams is not None:
        gap = np.where(allowed, scan_gaps(k_i=k_i, vertical=resolution.vertical,
                                          beams=resolution.beams), np.inf)
        gap = np.nan_to_num(gap, nan=np.inf)
        measured = gap <= resolution.half_step * (1 + 1e-9)
        nearest = allowed & (np.arange(2)[:, None] == np.argmin(gap, axis=0))
        allowed = np.where(measured.any(0), measured, nearest)
    second = np.repeat(rng.random(k_i.shape[1] // probes) >= 0.5, probes)
    return np.where(allowed[0] & allowed[1], second, ~allowed[0]).astype(int)


def scan_gaps(*, k_i: np.ndarray, vertical: np.ndarray, beams: np.ndarray) -> np.ndarray:
    """Angle between each k_i and the nearest setting's beam, as azimuths about the axis.

    Parameters
    ----------
    k_i : numpy.ndarray, shape (..., 3)
        Incident wavevectors (horizontal; NaN where none), 1/Angstrom.
    vertical : numpy.ndarray, shape (3,)
        Unit vector along the goniometer axis.
    beams : numpy.ndarray, shape (m, 3)
        Beam directions of the settings, same frame (their components along ``vertical`` are
        ignored: a goniometer axis tilted from it is approximated).

    Returns
    -------
    numpy.ndarray, shape k_i.shape[:-1]
        Radians in [0, pi]; NaN where k_i is.
    """
    vertical = np.asarray(vertical, dtype=float)
    first = beams[0] - (beams[0] @ vertical) * vertical
    if np.linalg.norm(first) < 1e-9:  # a beam along the axis: any horizontal reference
        first = np.cross(vertical, np.eye(3)[np.argmin(np.abs(vertical))])
    along = first / np.linalg.norm(first)
    across = np.cross(vertical, along)
    settings = np.sort(np.arctan2(beams @ across, beams @ along))
    angle = np.arctan2(k_i @ across, k_i @ along)
    index = np.searchsorted(settings, np.nan_to_num(angle))
    gaps = [np.abs(np.angle(np.exp(1j * (angle - settings[(index + shift) % len(settings)]))))
            for shift in (-1, 0)]
    return np.minimum(*gaps)


def draw_offsets(*, resolution: QEResolution, q: np.ndarray, e_range: tuple[float, float],
                 rng: np.random.Generator) -> Offsets:
    """Draw each point's orientation and Q offsets, and their conditional energy kernels.

    Parameters
    ----------
    resolution : QEResolution
    q : numpy.ndarray, shape (n, 3)
        Sample points, 1/Angstrom.
    e_range : (float, float)
        Output energy range, meV (:func:`probe_energies`).
    rng : numpy.random.Generator

    Returns
    -------
    Offsets
    """
    energies = probe_energies(ei=resolution.geometry.ei, e_range=e_range,
                              probes=resolution.probes)
    cov, reachable = probe_covariances(resolution=resolution, q=q, energies=energies, rng=rng)
    z = rng.standard_normal((len(q), 1, 3, 1))
    dq = (np.linalg.cholesky(cov[..., :3, :3]) @ z)[..., 0]  # (n, K, 3)
    mean, sigma = conditional_energy(covariance=cov.reshape(-1, 4, 4), dq=dq.reshape(-1, 3))
    return Offsets(energies, dq, -mean.reshape(reachable.shape), sigma.reshape(reachable.shape),
                   reachable)


def hat_weights(*, energy: np.ndarray, energies: np.ndarray,
                reachable: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights h_k(E) of the probes, over the reachable ones.

    Parameters
    ----------
    energy : numpy.ndarray, shape (n, M)
        Mode energies at the sample points, meV (held at the ends of the probe range).
    energies : numpy.ndarray, shape (K,)
        Probe energies, meV (ascending).
    reachable : numpy.ndarray of bool, shape (n, K)

    Returns
    -------
    numpy.ndarray, shape (n, K, M)
        Hat weights times reachability, divided by their sum (0 where no neighbour probe is
        reachable).
    """
    position = np.interp(energy, energies, np.arange(len(energies)))  # (n, M)
    hat = np.clip(1.0 - np.abs(position[:, None] - np.arange(len(energies))[None, :, None]),
                  0.0, None) * reachable[..., None]
    total = hat.sum(1, keepdims=True)
    return np.divide(hat, total, out=np.zeros_like(hat), where=total > 0)


def deposit_resolved(acc, model, q_frac, rows, e_edges, resolution: QEResolution,
                     temperature, dw=None, fc=None, rng=None):
    """Add Q-E resolved coherent one-phonon spectra at ``q_frac`` to rows of ``acc`` (torch).

    As :func:`inslib.scattering.coherent.deposit_modes`, each point taken ``resolution.draws``
    times (the sum divided by draws), each draw's modes computed at Q0 and at the K offsets
    (K + 1 mode calculations) and deposited as in the module docstring.

    Parameters
    ----------
    acc : torch.Tensor, shape (n_sets, n_rows, n_e), contiguous
        Accumulator (bin averages), added to in place and returned.
    q_frac : numpy.ndarray, shape (nq, 3)
        Fractional Q of the sample points (the model's reciprocal lattice).
    rows : torch.Tensor of int, shape (nq,)
    e_edges : numpy.ndarray, shape (n_e + 1,)
        meV.
    resolution : QEResolution
    temperature : float
        K.
    dw, fc : torch.Tensor, optional
        As :func:`deposit_modes`.
    rng : numpy.random.Generator, optional
        Source of the offsets (``resolution.seed`` when None).

    Returns
    -------
    torch.Tensor, shape (n_sets, n_rows, n_e)
        mbarn/meV per atom, summed over the points (divide by points per row).
    """
    import torch

    from inslib.scattering.binning import deposit, window

    rng = rng if rng is not None else np.random.default_rng(resolution.seed)
    recip = np.asarray(model.crystal.reciprocal, float)
    q = np.repeat(np.asarray(q_frac, float) @ recip, resolution.draws, 0)
    offsets = draw_offsets(resolution=resolution, q=q, rng=rng,
                           e_range=(float(e_edges[0]), float(e_edges[-1])))
    energy, weight = _mode_spectra(model, q, offsets, recip, temperature, dw, fc)
    opts = {"dtype": energy.dtype, "device": energy.device}
    at_q0 = model.modes(q @ np.linalg.inv(recip), fc).frequencies.detach().cpu().numpy()
    signed = np.concatenate([at_q0, -at_q0], -1)  # (n_sets, n, 2m)
    hat = np.stack([hat_weights(energy=e, energies=offsets.energies,
                                reachable=offsets.reachable) for e in signed])
    weight = weight * torch.as_tensor(hat / resolution.draws, **opts)
    energy = energy + torch.as_tensor(offsets.shift, **opts)[None, ..., None]
    sigma = torch.as_tensor(offsets.sigma, **opts)[None, ..., None].expand_as(energy)
    n_sets, n_rows = acc.shape[0], acc.shape[1]
    point_rows = torch.as_tensor(np.repeat(rows.cpu().numpy(), resolution.draws),
                                 device=energy.device)
    offset = torch.arange(n_sets, device=energy.device)[:, None, None, None] * n_rows
    flat_rows = (offset + point_rows[None, :, None, None]).expand_as(energy)
    keep = weight > 0
    width = float(sigma[keep].max()) if keep.any() else 0.0
    deposit(acc.view(n_sets * n_rows, -1), flat_rows[keep], energy[keep], weight[keep],
            sigma[keep], torch.as_tensor(e_edges, **opts), window(width, e_edges))
    return acc


def _mode_spectra(model, q, offsets: Offsets, recip, temperature, dw, fc):
    """Signed energies and weights (n_sets, n, K, 2m) of the modes at Q0 + Q'_k (torch).

    Weights: S_nu (n + 1) at +w, S_nu n at -w, mbarn per atom.
    """
    import torch

    from inslib.scattering.coherent import coherent_structure_factor
    from inslib.scattering.thermal import bose

    n, k = offsets.dq.shape[:2]
    moved = (q[:, None] + offsets.dq).reshape(n * k, 3) @ np.linalg.inv(recip)
    modes = model.modes(moved, fc)
    sf = coherent_structure_factor(model, modes, dw)
    occupation = bose(modes.frequencies, temperature)
    energy = torch.cat([modes.frequencies, -modes.frequencies], dim=-1)
    weight = torch.cat([sf * (occupation + 1), sf * occupation], dim=-1)
    return energy.reshape(-1, n, k, energy.shape[-1]), weight.reshape(-1, n, k, energy.shape[-1])
