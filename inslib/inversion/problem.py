"""An inversion problem: a measured spectrum, the force-constant parameters and the forward model.

The parameters of the fit are dimensionless offsets ``u`` from the reference force constants:
``p = reference + unit * u`` (eV/Angstrom^2), with ``unit = |reference|`` floored at
:data:`UNIT_FLOOR` x the largest reference parameter, so that ``u`` in [-0.5, 0.5] is Su & Li's
box of 0.5-1.5 x the reference and a parameter that is nearly zero in the reference can still
move. The forward model is the simulation's own differentiable one (:mod:`inslib.simulation.
forward`): the inversion never computes physics of its own.
"""

import functools
from dataclasses import dataclass

import numpy as np

from inslib.datagen.engine import HEADROOM, MAX_CORNERS, box_corners, highest_mode
from inslib.simulation.forward import Thermal, dos_top

UNIT_FLOOR = 0.05  # smallest parameter unit, fraction of the largest reference parameter
EDGE_FRACTION = 0.95  # default top of the fitted range / Ei (the templates' default range)
MAX_EXTRA_VARIANCE = 1.0  # resolution width factor sqrt(1 + v) fitted in 1 - 1.41


@dataclass
class Measurement:
    """The measured values a fit uses.

    Attributes
    ----------
    signal : numpy.ndarray, shape map_shape
        Measured intensity (any unit; the fit's scale absorbs it); 0 where not used.
    errors : numpy.ndarray, shape map_shape
        One-sigma errors, same unit; 1 where not used or when ``weighted`` is False.
    use : numpy.ndarray of bool, shape map_shape
        Bins that enter the misfit: covered, finite, above the energy cut, error > 0.
    weighted : bool
        False when the workspace has no errors (every bin weighted alike).
    """

    signal: np.ndarray
    errors: np.ndarray
    use: np.ndarray
    weighted: bool

    @property
    def n_used(self) -> int:
        """Number of bins in the misfit."""
        return int(self.use.sum())


def measurement(signal, errors, covered, energy, e_min: float, e_max: float) -> Measurement:
    """Select the bins of a measured map that a fit can use.

    Parameters
    ----------
    signal, errors : numpy.ndarray, shape map_shape
        Measured values and one-sigma errors (errors all zero or None: unweighted).
    covered : numpy.ndarray of bool, shape map_shape
        True where the template covers the bin (not masked).
    energy : numpy.ndarray, shape (n_e,)
        Energy-transfer bin centres (meV) of the last axis.
    e_min, e_max : float
        Bins at or below ``e_min`` (elastic line, empty-can tails) and at or above ``e_max``
        (the edge at Ei, where final energies near 0 leave reduction artefacts) are left out,
        meV.
    """
    signal = np.asarray(signal, float)
    errors = np.zeros_like(signal) if errors is None else np.asarray(errors, float)
    weighted = bool(np.any(errors[np.isfinite(errors)] > 0))
    energy = np.asarray(energy)[None, ...]
    use = covered & np.isfinite(signal) & (energy > e_min) & (energy < e_max)
    if weighted:
        use &= np.isfinite(errors) & (errors > 0)
    return Measurement(np.where(use, signal, 0.0), np.where(use & weighted, errors, 1.0), use,
                       weighted)


@dataclass
class Problem:
    """What a fit needs: the variables, their scaling and bounds, the forward model, the data.

    The fit variables ``u`` are the force-constant variables (n_params) followed, when
    ``sigma`` is given, by the resolution variance fraction v (width factor sqrt(1 + v), see
    :func:`inslib.scattering.binning.extra_broadening`).

    Attributes
    ----------
    basis : inslib.phonons.parameters.ParameterBasis
    reference : numpy.ndarray, shape (n_params,)
        Reference parameters (the force constants given), eV/Angstrom^2.
    unit : numpy.ndarray, shape (n_params,)
        eV/Angstrom^2 per unit of a force-constant variable.
    bounds : numpy.ndarray, shape (n_vars, 2)
        Lower and upper bound of every fit variable (dimensionless).
    model : inslib.phonons.model.PhononModel
        Phonon model of the reference (its force constants are replaced per evaluation).
    forward : callable
        Force constants torch (n_sets, n_cells, 3N, 3N) -> spectra torch (n_sets, *map_shape)
        on every bin (the mask is applied here), the simulation's differentiable model.
    data : Measurement
    mask : numpy.ndarray of bool, shape map_shape
        True where the template does not cover a bin (model set to 0).
    e_centres : numpy.ndarray, shape (n_e,)
        Energy bin centres of the last axis, meV.
    sigma : numpy.ndarray or None, shape (n_e,)
        Model energy resolution (Gaussian sigma, meV) at the centres, when the width factor is
        fitted; None = the model's resolution as it is.
    tail : numpy.ndarray or None, shape map_shape
        Shape of the elastic-line tail whose amplitude is fitted with the scale and background
        (:func:`elastic_tail`); None = not fitted.
    """

    basis: object
    reference: np.ndarray
    unit: np.ndarray
    bounds: np.ndarray
    model: object
    forward: object
    data: Measurement
    mask: np.ndarray
    e_centres: np.ndarray
    sigma: np.ndarray | None = None
    tail: np.ndarray | None = None

    @property
    def names(self) -> list:
        """Parameter names ("1NN xx", ...)."""
        return self.basis.names

    @property
    def n_params(self) -> int:
        """Force-constant parameters (the first n_params fit variables)."""
        return len(self.reference)

    def params(self, u):
        """Parameters (eV/Angstrom^2) of fit variables ``u`` (numpy or torch, (..., n_vars))."""
        fc_u = u[..., :self.n_params]
        if hasattr(u, "new_tensor"):
            return u.new_tensor(self.reference) + u.new_tensor(self.unit) * fc_u
        return self.reference + self.unit * np.asarray(fc_u)

    def spectra(self, u):
        """Model spectra (n_sets, *map_shape), torch, of fit variables u (n_sets, n_vars)."""
        import torch

        from inslib.scattering.binning import extra_broadening

        maps = self.forward(self.basis.to_force_constants(self.params(u)))
        if self.sigma is not None:
            kernels = extra_broadening(self.e_centres, self.sigma, u[:, self.n_params],
                                       self._generator)
            maps = maps @ kernels.transpose(-1, -2)
        return torch.where(torch.as_tensor(self.mask), 0.0, maps)

    @functools.cached_property
    def _generator(self):
        """Broadening generator of the resolution (torch float64), computed once per problem."""
        import torch

        from inslib.scattering.binning import broadening_generator

        return torch.as_tensor(broadening_generator(self.e_centres, self.sigma))


def elastic_tail(shape: tuple, centres: np.ndarray, fwhm: float) -> np.ndarray:
    """Lorentzian tail of the elastic line, 1 / (1 + (2E / FWHM)^2), flat in |Q|.

    Parameters
    ----------
    shape : tuple
        Map shape (n_q, n_e).
    centres : numpy.ndarray, shape (n_e,)
        Energy bin centres, meV.
    fwhm : float
        Elastic-line FWHM of the instrument at this setting, meV.

    Returns
    -------
    numpy.ndarray, shape (n_q, n_e)
        Dimensionless, 1 at E = 0.
    """
    profile = 1.0 / (1.0 + (2.0 * np.asarray(centres) / fwhm) ** 2)
    return np.broadcast_to(profile, shape).copy()


def is_path_map(measured) -> bool:
    """Tell a q-path map (FoldBrillouinZone or SimulateSingleCrystalSQE q-path output)."""
    return measured is not None and measured.axes[0].unit == "Path"


def parameter_bounds(names: list, request) -> np.ndarray:
    """Return the bounds of u, shape (n_vars, 2), for an InversionRequest or PathRequest.

    +- ParameterRange for fitted parameters, (0, 0) for fixed ones, then the resolution
    variance fraction's (0, MAX_EXTRA_VARIANCE) when it is fitted.
    """
    r = request.parameter_range
    fitted = [not request.parameters or name in request.parameters for name in names]
    bounds = [(-r, r) if free else (0.0, 0.0) for free in fitted]
    if request.fit_resolution:
        bounds.append((0.0, MAX_EXTRA_VARIANCE))
    return np.array(bounds)


def energy_limit(e_max: float | None, ei: float | None) -> float:
    """Top of the fitted energy range, meV: EMax, else EDGE_FRACTION x Ei, else none (inf)."""
    if e_max is not None:
        return float(e_max)
    return EDGE_FRACTION * ei if ei else np.inf


def reference_parameters(force_constants: str, structure: str, supercell: str, shells: int):
    """Return the parameter basis, force constants, reference parameters and units of a file.

    Returns
    -------
    basis : ParameterBasis
        Up to ``shells`` neighbour shells (cached on content).
    fcs : ForceConstants
        As read (cached on the files).
    reference : numpy.ndarray, shape (n_params,)
        The force constants projected on the basis, eV/Angstrom^2.
    unit : numpy.ndarray, shape (n_params,)
        eV/Angstrom^2 per unit of a fit variable (:func:`parameter_units`).
    """
    from inslib.simulation.setup import read_force_constants, reference_basis

    basis = reference_basis(force_constants, shells, structure, supercell)
    fcs = read_force_constants(force_constants, structure, supercell)
    reference = basis.project(fcs)[0][0]
    return basis, fcs, reference, parameter_units(reference)


def parameter_units(reference: np.ndarray) -> np.ndarray:
    """Return the unit of each fit variable (eV/A^2): |reference|, floored (UNIT_FLOOR)."""
    reference = np.asarray(reference, float)
    return np.maximum(np.abs(reference), UNIT_FLOOR * np.abs(reference).max())


def box_thermal(model, basis, reference, unit, bounds, temperature: float,
                grid: int) -> Thermal:
    """Thermal settings whose DOS grid holds the modes of every set inside the bounds.

    The largest eigenvalue of D(q) is convex in the (linear) parameters, so its maximum over
    the box lies at a corner (as the training-data engine argues); beyond
    :data:`MAX_CORNERS` corners, sqrt(largest factor) x the reference's highest mode.

    Parameters
    ----------
    bounds : numpy.ndarray, shape (n_params, 2)
        Bounds of the fit variables ``u``.
    temperature : float
        K.
    grid : int
        Mesh n of n x n x n for Debye-Waller and DOS.
    """
    if 2 ** len(bounds) <= MAX_CORNERS:
        corners = np.asarray(reference) + np.asarray(unit) * box_corners(bounds)
        top = HEADROOM * highest_mode(model, basis, corners, 4)
    else:
        factor = 1.0 + np.max(np.abs(bounds) * unit[:, None] / np.abs(reference).max())
        top = dos_top(model, grid, HEADROOM * np.sqrt(factor))
    return Thermal(float(temperature), int(grid), top)
