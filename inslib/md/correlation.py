"""Correlation functions of a trajectory through dynasor, weighted by neutron scattering lengths.

dynasor streams the trajectory (a sliding window of W + 1 frames is all it holds) and returns
per q-point the classical dynamic structure factors

    S(q, w) = int dt exp(-i w t) F(q, t),  F(q, t) = (1 / N) sum_ij b_i b_j <exp(-i q.r_i(0))
              exp(i q.r_j(t))>

(coherent, b = b_coh; incoherent: the self part i = j with b_inc^2 = sigma_inc / 4 pi, or in
the incoherent approximation b^2 = (sigma_coh + sigma_inc) / 4 pi, the total cross-section, as
the harmonic route with its coherent term off). Before
the Fourier transform F(q, t) is tapered by dynasor's Gaussian decay exp(-t^2 / 2 tau^2),
tau = W dt / :data:`TAPER_FRACTION`: the window's truncation then rings by < 1.2 % instead of
a sinc, and S is convolved with a Gaussian of sigma_E = hbar / tau, which the instrument
resolution applied afterwards takes into account (the window is long enough for sigma_E to
stay below the narrowest resolution: :func:`inslib.md.trajectory.window_size`). S_cl is even
in w; dynasor gives w >= 0. Converted here to the energy density per atom
S(q, E) = S(q, w) / (2 pi hbar) in mbarn/meV, so that int S dE = F(q, 0). The scattering
lengths are inslib's (periodictable), as in the harmonic route.

The static part of F(q, t), estimated as its mean over the second half of the window (lags
W/2..W), is subtracted before the transform. Without the elastic line (``elastic=False``) it
stays out: Bragg peaks and the incoherent elastic line vanish, as in the harmonic route's
inelastic S(Q,E), and motion slower than W dt / 2 goes with them (below ~2 h / (W dt) in
energy). With it, it is added back as the exact transform of the tapered constant, a Gaussian
of sigma_E at E = 0: transformed with the rest, the 1.1 % left of a Bragg plateau at the last
lag would ring through the whole spectrum at the level of the phonons.
"""

import logging
from dataclasses import dataclass

import numpy as np

from inslib.md.trajectory import HBAR_MEV_FS, TAPER_FRACTION, TrajectoryInfo
from inslib.structure import Crystal

MBARN_PER_FM2 = 10.0  # 1 fm^2 = 0.01 barn
# static / total F_coh(q, 0) that marks a Bragg point: N exp(-2W) / (N exp(-2W) + 1 - exp(-2W))
# there (> 0.9 for N >= 64 up to 2W = 2), while elsewhere in a crystal the static part is ~0
BRAGG_FRACTION = 0.5


@dataclass(frozen=True)
class MDSpectra:
    """Classical S(q, E) per q-point on E >= 0.

    Attributes
    ----------
    energy : numpy.ndarray, shape (n_w,)
        Energies hbar w, meV, from 0 in uniform steps.
    coherent, incoherent : numpy.ndarray, shape (n_q, n_w)
        mbarn/meV per atom (zeros where not asked for).
    taper_sigma : float
        Gaussian standard deviation (meV) the time taper convolves S with.
    n_windows : int
        Full correlation windows averaged.
    bragg : numpy.ndarray of bool, shape (n_q,)
        q-points where the static part holds more than :data:`BRAGG_FRACTION` of F_coh(q, 0):
        reciprocal-lattice vectors of the crystal (Bragg peaks).
    """

    energy: np.ndarray
    coherent: np.ndarray
    incoherent: np.ndarray
    taper_sigma: float
    n_windows: int
    bragg: np.ndarray


def scattering_lengths(info: TrajectoryInfo, total: bool = False) -> tuple[dict, dict]:
    """Return ({symbol: b_coh}, {symbol: b_self}) in fm, from the tables of the harmonic route.

    b_self = sqrt(sigma / 4 pi) (barn = 100 fm^2), sigma = sigma_inc, or with ``total``
    sigma_coh + sigma_inc (the incoherent approximation).
    """
    crystal = Crystal(info.cell, np.linalg.solve(info.cell.T, info.positions.T).T,
                      list(info.symbols))
    data = crystal.scattering
    sigma = data["sigma_inc"] + (data["sigma_coh"] if total else 0.0)
    b_inc = np.sqrt(sigma * 100.0 / (4 * np.pi))
    coherent, incoherent = {}, {}
    for index, symbol in enumerate(info.symbols):
        coherent[symbol] = float(data["b_coh"][index])
        incoherent[symbol] = float(b_inc[index])
    return coherent, incoherent


def _progress_trajectory(report, n_frames: int):
    """Return a dynasor Trajectory class that calls ``report(fraction)`` as frames are read."""
    from dynasor import Trajectory

    class _Reported(Trajectory):
        def __next__(self):
            frame = super().__next__()
            report(min(1.0, self.number_of_frames_read / n_frames))
            return frame

    return _Reported


def correlate(path: str, info: TrajectoryInfo, *, q_points: np.ndarray, frame_time: float,
              window: int, window_step: int, incoherent: bool, elastic: bool,
              total: bool = False, report=None) -> MDSpectra:
    """Run dynasor over a trajectory; weight and convert its S(q, w) (see the module docstring).

    Parameters
    ----------
    path : str
        ASE-readable trajectory; ``info`` is :func:`scan_trajectory`'s result for it.
    q_points : numpy.ndarray, shape (n_q, 3)
        Commensurate q-vectors, 1/Angstrom.
    frame_time : float
        Time between frames, fs.
    window, window_step : int
        Correlation window (lags) and frames between window starts.
    incoherent : bool
        Also compute the self part (costs W + 1 position differences per window).
    elastic : bool
        Keep the static part of F(q, t) (Bragg peaks, incoherent elastic line).
    total : bool
        Weight the self part with the total cross-section (incoherent approximation).
    report : callable, optional
        Called with the fraction of frames read.
    """
    from dynasor.post_processing import Weights, get_weighted_sample

    sample = _dynasor_sample(path, info, q_points, frame_time, window, window_step, incoherent,
                             report or (lambda _f: None))
    b_coh, b_inc = scattering_lengths(info, total)
    weighted = get_weighted_sample(sample, Weights(b_coh, b_inc if incoherent else None,
                                                   supports_currents=False))
    tau = window * frame_time / TAPER_FRACTION
    fqt = np.asarray(weighted.Fqt_coh, dtype=float)
    bragg = _static(fqt)[:, 0] > BRAGG_FRACTION * fqt[:, 0]
    omega, coherent = _tapered_psd(fqt, weighted.time, tau, frame_time, elastic)
    incoh = (_tapered_psd(weighted.Fqt_incoh, weighted.time, tau, frame_time, elastic)[1]
             if incoherent else np.zeros_like(coherent))
    n_windows = (info.n_frames - window - 1) // window_step + 1
    return MDSpectra(omega * HBAR_MEV_FS, coherent, incoh, HBAR_MEV_FS / tau, n_windows, bragg)


def _static(fqt: np.ndarray) -> np.ndarray:
    """Return the static part of F(q, t), (n_q, n_t) -> (n_q, 1): its mean over lags W/2..W."""
    return fqt[:, fqt.shape[1] // 2:].mean(axis=1, keepdims=True)


def _dynasor_sample(path, info, q_points, frame_time, window, window_step, incoherent, report):
    """Return dynasor's DynamicSample of a trajectory (its INFO log silenced)."""
    from dynasor import compute_dynamic_structure_factors
    from dynasor.logging_tools import logger

    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        reader = _progress_trajectory(report, info.n_frames)
        trajectory = reader(str(path), trajectory_format="ase",
                            atomic_indices="read_from_trajectory", properties="positions")
        return compute_dynamic_structure_factors(
            trajectory, np.asarray(q_points, dtype=float), dt=frame_time, window_size=window,
            window_step=window_step, calculate_incoherent=incoherent, logging_interval=0)
    finally:
        logger.setLevel(level)


def _tapered_psd(fqt, time, tau: float, frame_time: float,
                 elastic: bool) -> tuple[np.ndarray, np.ndarray]:
    """(w in rad/fs, S in mbarn/meV per atom) of F(q, t) (fm^2, (n_q, n_t)) tapered by tau (fs).

    The static part c is transformed exactly: c sqrt(2 pi) tau exp(-(w tau)^2 / 2).
    """
    from dynasor.tools.acfs import gaussian_decay, psd_from_acf_2d

    fqt = np.asarray(fqt, dtype=float)
    static = _static(fqt)
    taper = gaussian_decay(np.asarray(time, dtype=float), tau)
    omega, psd = psd_from_acf_2d((fqt - static) * taper[None, :], frame_time)
    if elastic:
        psd = psd + static * np.sqrt(2 * np.pi) * tau * np.exp(-0.5 * (omega * tau) ** 2)
    return omega, psd * MBARN_PER_FM2 / (2 * np.pi * HBAR_MEV_FS)  # fm^2 fs -> mbarn/meV
