"""Direct-geometry Q-E resolution covariance (single crystal), linearised from PyChop's terms.

Every instrument uncertainty is an independent random variable u_j with variance s_j^2 (time
at the moderator, chopper opening time, aperture / sample / detector positions). Each changes
the incident and final speeds reconstructed by a time-of-flight reduction,

    dv_i = (v_i^2 / x0) alpha_j u_j,      dv_f = (v_f^2 / x2) beta_j u_j,

(dv = true - reconstructed; x0 moderator-chopper, x2 sample-detector, m), and the directions
of k_i and k_f (aperture, sample and pixel positions over the flight paths). Then

    dE = m (v_i dv_i - v_f dv_f),     dQ = k_i dv_i / v_i n_i - k_f dv_f / v_f n_f
                                            + k_i dn_i - k_f dn_f,

and the 4x4 covariance of (Q, E) is Sigma = J diag(s^2) J^T, J_j = d(Q, E) / du_j. The
(alpha, beta) of each time term are those of resins' PyChop model (``_precompute_van_var``):
moderator (1, -x1/x0), chopper and jitter (-1, 1 + x1/x0), aperture (g1, -f1), sample
(-g2 cos(gamma), f2 cos(gamma) + sin(gamma)/v_i - sin(gamma - phi)/v_f), detector depth
(0, 1/v_f), so that Sigma_EE equals PyChop's energy variance term by term (the instrument's
width factor scales every (alpha, beta), hence Sigma_EE by its square; the angular terms are
not scaled). The angular terms PyChop has no use for: k_i direction from the aperture (width
``aperture_width`` at xa before the chopper, assumed as high as wide) and the sample position
over xa + x1; k_f direction from the sample position and the detector pixel (width = tube
diameter ``depth``, height :data:`PIXEL_HEIGHT`) over x2. Flight-path lengths do not change
with the positions (as in PyChop). Sigma is also the covariance of the reconstructed minus
the true (Q, E): the resolution function of a measured point is N(0, Sigma) about it.
"""

import functools
from dataclasses import dataclass

import numpy as np

from inslib.instruments import Instrument
from inslib.units import NEUTRON_E_PER_K2, NEUTRON_V_PER_SQRT_MEV

#: FWHM^2 / sigma^2 of a Gaussian (PyChop's widths are squared FWHM).
FWHM2_PER_VAR = 8.0 * np.log(2.0)
#: Height of a detector pixel (m): not in the resins data. 25 mm assumed (a square pixel as
#: wide as the tube): an upper bound, real pixels are shorter (ARCS: 1 m tubes in 128 pixels,
#: 7.8 mm); the term only widens Q across the scattering plane.
PIXEL_HEIGHT = 0.025


@dataclass(frozen=True)
class DirectGeometry:
    """Flight paths, widths and chopper of one direct-geometry setting (SI units).

    Attributes
    ----------
    ei : float
        Incident energy, meV.
    x0, xa, x1, x2 : float
        Moderator-chopper, aperture-chopper, chopper-sample, sample-detector distances, m.
    omega : float
        Fermi chopper angular frequency, rad/s.
    tan_theta : float
        tan of the moderator-face angle to the beam.
    var_moderator, var_chopper : float
        Moderator emission-time and chopper (with jitter) opening-time variances, s^2.
    aperture_width : float
        Full width of the aperture, m (uniform).
    var_sample : float
        Variance of the sample position across the beam (PyChop's sample term), m^2.
    sample_height : float
        Full height of the sample, m (uniform).
    gamma, phi : float
        PyChop's sample and detector angles, rad.
    detector : dict or None
        resins detector data (depth variance, :meth:`depth_variance`).
    pixel_width, pixel_height : float
        Full width and height of a detector pixel, m (uniform).
    time_scale : float
        The instrument's width factor on every time term.
    """

    ei: float
    x0: float
    xa: float
    x1: float
    x2: float
    omega: float
    tan_theta: float
    var_moderator: float
    var_chopper: float
    aperture_width: float
    var_sample: float
    sample_height: float
    gamma: float
    phi: float
    detector: dict | None
    pixel_width: float
    pixel_height: float
    time_scale: float = 1.0

    def depth_variance(self, energy: np.ndarray) -> np.ndarray:
        """Variance of the detection depth (m^2) at energy transfers ``energy`` (meV, (n,))."""
        from resins.models.pychop import PyChopModel

        if self.detector is None:
            return np.zeros(np.shape(energy))
        width2 = PyChopModel._get_detector_width_squared(self.detector, np.asarray(energy),
                                                          self.ei)
        return np.asarray(width2) / FWHM2_PER_VAR


def setting_geometry(name: str, ei: float, settings: dict | None = None) -> DirectGeometry:
    """Return the geometry of the setting the energy resolution uses at ``ei`` (cached).

    The chopper setting given (algorithm property -> value, e.g. {"ChopperFrequency": 600};
    empty values and missing properties take the instrument default) or, where a setting left
    empty transmits nothing at ``ei``, the nearest one that does
    (:func:`inslib.instruments.resolution.transmitting_settings`, as ``resolution_fwhm``
    takes it), so that Sigma_EE is the energy resolution of the same run.

    Raises
    ------
    ValueError
        For a disk-chopper instrument, a setting the instrument does not offer, or when no
        allowed setting transmits at ``ei``.
    """
    return _setting_geometry(name, float(ei), tuple(sorted((settings or {}).items())))


@functools.lru_cache(maxsize=8)
def _setting_geometry(name: str, ei: float, settings: tuple) -> DirectGeometry:
    from inslib.instruments import load_instrument
    from inslib.instruments.resolution import resolved_settings, transmitting_settings

    instrument = load_instrument(name)
    given = resolved_settings(instrument, dict(settings))
    return direct_geometry(instrument, ei, transmitting_settings(instrument, ei, given))


def direct_geometry(instrument: Instrument, ei: float, settings: dict) -> DirectGeometry:
    """Read the geometry of a Fermi-chopper setting from the resins data of ``instrument``.

    Parameters
    ----------
    instrument : Instrument
        A direct-geometry instrument with a resins PyChop model of a Fermi chopper.
    ei : float
        Incident energy, meV.
    settings : dict
        Output of :func:`inslib.instruments.resolution.resolved_settings` (chopper package
        and frequency, Hz).

    Returns
    -------
    DirectGeometry

    Raises
    ------
    ValueError
        For an instrument without a Fermi-chopper PyChop model (disk-chopper instruments).
    """
    from resins.models.pychop import PyChopModelFermi

    from inslib.instruments.resolution import _resins_instrument, width_factor

    data = _resins_instrument(instrument.resolution["resins_instrument"]).get_model_data(
        instrument.resolution["model"], chopper_package=settings["chopper_package"])
    if data.function != "pychop_fit_fermi":
        msg = (f"{instrument.name}: the Q-E covariance needs a Fermi-chopper PyChop model "
               "(disk-chopper instruments are not covered); use the energy resolution.")
        raise ValueError(msg)
    frequency = settings["chopper_frequency"]
    x0, xa, _ = PyChopModelFermi._get_distances(data.choppers)
    var_chopper = PyChopModelFermi._get_chopper_width_squared(data, ei, [frequency])[0]
    var_moderator = PyChopModelFermi._get_moderator_width_squared(data.moderator, ei)
    sample = data.sample or {"type": 0, "width": 0.0, "height": 0.0, "gamma": 0.0}
    return DirectGeometry(
        ei=float(ei), x0=x0, xa=xa, x1=data.d_chopper_sample, x2=data.d_sample_detector,
        omega=2 * np.pi * frequency, tan_theta=float(np.tan(np.deg2rad(data.theta))),
        var_moderator=float(var_moderator) / FWHM2_PER_VAR,
        var_chopper=(float(var_chopper) + data.tjit**2) / FWHM2_PER_VAR,  # as PyChop adds tjit
        aperture_width=float(data.aperture_width),
        var_sample=PyChopModelFermi._get_sample_width_squared(sample) / FWHM2_PER_VAR,
        sample_height=float(sample.get("height", sample["width"])),
        gamma=float(np.deg2rad(float(sample["gamma"]))),
        phi=float(np.deg2rad((data.detector or {"phi": 0.0})["phi"])), detector=data.detector,
        pixel_width=float((data.detector or {"depth": 0.0})["depth"]), pixel_height=PIXEL_HEIGHT,
        time_scale=width_factor(instrument, ei, settings))


#: The independent variables u_j, in the order of the columns of :func:`jacobian`.
VARIABLES = ("moderator time", "chopper time", "aperture across", "aperture up",
             "sample across", "sample up", "detector depth", "pixel across", "pixel up")


def variances(*, geometry: DirectGeometry, energy: np.ndarray) -> np.ndarray:
    """Variances s_j^2 of the :data:`VARIABLES` (s^2 for times, m^2 for positions).

    Parameters
    ----------
    geometry : DirectGeometry
    energy : numpy.ndarray, shape (n,)
        Energy transfer, meV (the detector-depth term depends on it).

    Returns
    -------
    numpy.ndarray, shape (n, 9)
        Uniform widths w enter as w^2 / 12.
    """
    g = geometry
    aperture = g.aperture_width**2 / 12.0
    fixed = [g.var_moderator, g.var_chopper, aperture, aperture, g.var_sample,
             g.sample_height**2 / 12.0]
    pixel = [g.pixel_width**2 / 12.0, g.pixel_height**2 / 12.0]
    n = len(energy)
    return np.column_stack([np.full(n, v) for v in fixed] + [g.depth_variance(energy)]
                           + [np.full(n, v) for v in pixel])


def time_coefficients(*, geometry: DirectGeometry, v_i: np.ndarray,
                      v_f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alpha_j, beta_j) of every variable: dv_i = v_i^2 alpha u / x0, dv_f = v_f^2 beta u / x2.

    Parameters
    ----------
    geometry : DirectGeometry
    v_i, v_f : numpy.ndarray, shape (n,)
        Incident and final speeds, m/s.

    Returns
    -------
    alpha, beta : numpy.ndarray, shape (n, 9)
        Seconds per unit of the variable (1 for times, s/m for positions), times the
        instrument's width factor; PyChop's f1, g1 (aperture), f2, g2 (sample) for the Fermi
        chopper's opening time across the beam.
    """
    g = geometry
    factor = g.omega * (g.xa + g.x1)
    g1 = 1.0 - (g.omega * g.tan_theta / v_i) * (g.xa + g.x1)
    g2 = 1.0 - (g.omega * g.tan_theta / v_i) * (g.x0 - g.xa)
    f1, f2 = (1.0 + g.x1 / g.x0 * g1) / factor, (1.0 + g.x1 / g.x0 * g2) / factor
    cos, zero, one = np.cos(g.gamma), np.zeros_like(v_i), np.ones_like(v_i)
    sample = f2 * cos + np.sin(g.gamma) / v_i - np.sin(g.gamma - g.phi) / v_f
    alpha = [one, -one, g1 / factor, zero, -g2 / factor * cos, zero, zero, zero, zero]
    beta = [-g.x1 / g.x0 * one, (1 + g.x1 / g.x0) * one, -f1, zero, sample, zero, 1.0 / v_f,
            zero, zero]
    return g.time_scale * np.stack(alpha, -1), g.time_scale * np.stack(beta, -1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _across(direction: np.ndarray, vertical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and upward unit vectors (n, 3) perpendicular to ``direction`` (n, 3)."""
    across = _unit(np.cross(vertical, direction))
    return across, np.cross(direction, across)


def direction_changes(*, geometry: DirectGeometry, n_i: np.ndarray, n_f: np.ndarray,
                      vertical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the changes of the unit vectors of k_i and k_f per unit of each variable (1/m).

    dn_i = (r_sample - r_aperture)_perp / (xa + x1), dn_f = (r_pixel - r_sample)_perp / x2,
    with _perp the part perpendicular to n_i or n_f.

    Parameters
    ----------
    geometry : DirectGeometry
    n_i, n_f : numpy.ndarray, shape (n, 3)
        Unit vectors along k_i and k_f.
    vertical : numpy.ndarray, shape (3,)
        Unit vector up (the goniometer axis), same frame.

    Returns
    -------
    dn_i, dn_f : numpy.ndarray, shape (n, 9, 3)
        1/m (zero for the time variables).
    """
    g = geometry
    across_i, up_i = _across(n_i, vertical)
    across_f, up_f = _across(n_f, vertical)
    zero = np.zeros_like(n_i)
    incident = g.xa + g.x1

    def perp_f(vectors):
        return vectors - np.sum(vectors * n_f, -1, keepdims=True) * n_f

    dn_i = [zero, zero, -across_i / incident, -up_i / incident, across_i / incident,
            up_i / incident, zero, zero, zero]
    dn_f = [zero, zero, zero, zero, -perp_f(across_i) / g.x2, -perp_f(up_i) / g.x2, zero,
            across_f / g.x2, up_f / g.x2]
    return np.stack(dn_i, 1), np.stack(dn_f, 1)


def jacobian(*, geometry: DirectGeometry, k_i: np.ndarray, k_f: np.ndarray,
             vertical: np.ndarray) -> np.ndarray:
    """d(Q, E) / du_j of every variable (:data:`VARIABLES`), Q = k_i - k_f.

    dE = 2 E_i v_i alpha / x0 - 2 E_f v_f beta / x2 (meV, = m (v_i dv_i - v_f dv_f)),
    dQ = k_i v_i alpha / x0 n_i - k_f v_f beta / x2 n_f + k_i dn_i - k_f dn_f (1/Angstrom).

    Parameters
    ----------
    geometry : DirectGeometry
    k_i, k_f : numpy.ndarray, shape (n, 3)
        Incident and final wavevectors, 1/Angstrom (any frame with ``vertical`` in it).
    vertical : numpy.ndarray, shape (3,)
        Unit vector up.

    Returns
    -------
    numpy.ndarray, shape (n, 9, 4)
        Columns Q_x, Q_y, Q_z (1/Angstrom) and E (meV) per unit variable (s or m).
    """
    g = geometry
    ki, kf = np.linalg.norm(k_i, axis=-1), np.linalg.norm(k_f, axis=-1)
    n_i, n_f = k_i / ki[:, None], k_f / kf[:, None]
    e_i, e_f = NEUTRON_E_PER_K2 * ki**2, NEUTRON_E_PER_K2 * kf**2
    v_i, v_f = NEUTRON_V_PER_SQRT_MEV * np.sqrt(e_i), NEUTRON_V_PER_SQRT_MEV * np.sqrt(e_f)
    alpha, beta = time_coefficients(geometry=g, v_i=v_i, v_f=v_f)
    rel_i, rel_f = alpha * (v_i / g.x0)[:, None], beta * (v_f / g.x2)[:, None]  # dv / v
    dn_i, dn_f = direction_changes(geometry=g, n_i=n_i, n_f=n_f, vertical=vertical)
    d_q = ((rel_i * ki[:, None])[..., None] * n_i[:, None]
           - (rel_f * kf[:, None])[..., None] * n_f[:, None]
           + ki[:, None, None] * dn_i - kf[:, None, None] * dn_f)
    d_e = 2 * e_i[:, None] * rel_i - 2 * e_f[:, None] * rel_f
    return np.concatenate([d_q, d_e[..., None]], -1)


def qe_covariance(*, geometry: DirectGeometry, k_i: np.ndarray, k_f: np.ndarray,
                  vertical: np.ndarray) -> np.ndarray:
    """4x4 covariance of (Q_x, Q_y, Q_z, E): Sigma = J diag(s^2) J^T (:func:`jacobian`).

    Parameters
    ----------
    geometry : DirectGeometry
    k_i, k_f : numpy.ndarray, shape (n, 3)
        Incident and final wavevectors, 1/Angstrom.
    vertical : numpy.ndarray, shape (3,)
        Unit vector up (the goniometer axis).

    Returns
    -------
    numpy.ndarray, shape (n, 4, 4)
        1/Angstrom^2 (QQ), meV/Angstrom (QE), meV^2 (EE).
    """
    jac = jacobian(geometry=geometry, k_i=k_i, k_f=k_f, vertical=vertical)
    energy = NEUTRON_E_PER_K2 * (np.sum(k_i**2, -1) - np.sum(k_f**2, -1))
    var = variances(geometry=geometry, energy=energy)
    return np.einsum("nja,nj,njb->nab", jac, var, jac)


def scattering_vectors(*, q: np.ndarray, energy: np.ndarray, ei: float,
                       vertical: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k_i (horizontal, |k_i| fixed by Ei) and k_f = k_i - Q that scatter at (Q, E).

    k_i . Q_h = (k_i^2 + Q^2 - k_f^2) / 2 with Q_h the part of Q perpendicular to
    ``vertical``: two mirror solutions k_i = k_i (cos(psi) e_1 +- sin(psi) e_2), e_1 along Q_h,
    e_2 = vertical x e_1, cos(psi) = (k_i^2 + Q^2 - k_f^2) / (2 k_i |Q_h|).

    Parameters
    ----------
    q : numpy.ndarray, shape (n, 3)
        Q in the sample frame, 1/Angstrom.
    energy : numpy.ndarray, shape (n,)
        Energy transfer, meV.
    ei : float
        Incident energy, meV.
    vertical : numpy.ndarray, shape (3,)
        Unit vector along the goniometer axis (up), same frame.

    Returns
    -------
    k_i, k_f : numpy.ndarray, shape (2, n, 3)
        1/Angstrom, for the +sin and -sin solutions (NaN where none).
    reachable : numpy.ndarray of bool, shape (n,)
        Where the two solutions exist (both or neither do).
    """
    ki = np.sqrt(ei / NEUTRON_E_PER_K2)
    kf2 = np.where(energy < ei, (ei - energy) / NEUTRON_E_PER_K2, np.nan)
    q_h = q - np.outer(q @ vertical, vertical)
    size = np.linalg.norm(q_h, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (ki**2 + np.sum(q * q, -1) - kf2) / (2 * ki * size)
        reachable = np.abs(cos) <= 1.0
        e_1 = q_h / size[:, None]
    e_2 = np.cross(vertical, e_1)
    sin = np.sqrt(np.clip(1.0 - cos**2, 0.0, None))
    k_i = ki * (cos[None, :, None] * e_1[None] + np.array([1.0, -1.0])[:, None, None]
                * sin[None, :, None] * e_2[None])
    k_i = np.where(reachable[None, :, None], k_i, np.nan)
    return k_i, k_i - q[None], reachable


def conditional_energy(*, covariance: np.ndarray,
                       dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy kernel given a Q offset drawn from the Q-marginal of a (Q, E) Gaussian.

    mean = Sigma_EQ Sigma_QQ^-1 dQ (meV), variance = Sigma_EE - Sigma_EQ Sigma_QQ^-1 Sigma_QE
    (meV^2).

    Parameters
    ----------
    covariance : numpy.ndarray, shape (n, 4, 4)
        :func:`qe_covariance`.
    dq : numpy.ndarray, shape (n, 3)
        Q offsets, 1/Angstrom.

    Returns
    -------
    mean, sigma : numpy.ndarray, shape (n,)
        meV.
    """
    coupling = np.linalg.solve(covariance[:, :3, :3], covariance[:, :3, 3:])[..., 0]  # (n, 3)
    mean = np.sum(coupling * dq, -1)
    var = covariance[:, 3, 3] - np.sum(coupling * covariance[:, :3, 3], -1)
    return mean, np.sqrt(np.clip(var, 0.0, None))
