"""1D S(E) of indirect-geometry spectrometers (TOSCA, VISION).

Fixed final energy: each analyser bank sees one |Q|(E) trajectory.
The spectrum is the incoherent approximation with the total cross-section for every order (the
standard treatment of these instruments, OCLIMAX TASK=0): coherent effects average out over the
large |Q| of each trajectory. Energies in meV, S in mbarn/meV per atom.
"""

import math

import numpy as np

from inslib.axes import Axis, energy_axis, parse_binning
from inslib.histogram import Histogram, Log, Metadata
from inslib.instruments import load_instrument
from inslib.instruments.resolution import resolution_fwhm, resolved_settings
from inslib.scattering.broadening import FWHM_TO_SIGMA, bin_kernel
from inslib.scattering.incoherent import multiphonon_terms, order_weights
from inslib.simulate import (
    OVERSAMPLE,
    PowderRequest,
    SimulationError,
    cached_setup,
    setup_logs,
)
from inslib.units import to_mev, wavevector

DEFAULT_BINNING = "2,0.5,500"  # meV


def indirect_q(energy, efixed: float, angle_deg: float) -> np.ndarray:
    """|Q| (1/Angstrom) at energy transfers E (meV) for a bank at 2theta; NaN where E <= -Ef."""
    energy = np.asarray(energy, dtype=float)
    ki = wavevector(np.where(energy + efixed > 0, energy + efixed, np.nan))
    kf = wavevector(efixed)
    return np.sqrt(np.clip(ki**2 + kf**2 - 2 * ki * kf * math.cos(math.radians(angle_deg)),
                           0.0, None))


def bank_spectra(setup, temperature, max_order, e_edges, efixed, angles, fwhm,
                 creation_only: bool = False) -> np.ndarray:
    """Resolution-broadened n-phonon spectra per bank, bin-averaged.

    Parameters
    ----------
    setup : inslib.simulate.Setup
    e_edges : numpy.ndarray, shape (n_e + 1,)
        Energy-transfer bin edges, meV.
    angles : sequence of float
        Scattering angle of each bank, degrees.
    fwhm : callable
        Energy (meV, array) -> resolution FWHM (meV, array).
    creation_only : bool
        n >= 2 terms from phonon creation only (OCLIMAX's convention).

    Returns
    -------
    numpy.ndarray, shape (n_banks, max_order, n_e)
        mbarn/meV per atom.
    """
    crystal = setup.model.crystal
    sigma = (crystal.scattering["sigma_coh"] + crystal.scattering["sigma_inc"]) * 1000.0
    step = float(np.min(np.diff(e_edges))) / OVERSAMPLE
    e_limit = float(max(abs(e_edges[0]), abs(e_edges[-1])))
    terms = multiphonon_terms(setup.dos, crystal, temperature, max_order, e_limit, step,
                              creation_only)
    width = np.nan_to_num(fwhm(e_edges))
    pad = 5 * float(np.max(width, initial=0.0))
    near = (terms.energy > e_edges[0] - pad) & (terms.energy < e_edges[-1] + pad)
    energy, orders = terms.energy[near], terms.orders[..., near]
    kernel = bin_kernel(energy, np.nan_to_num(fwhm(energy)) * FWHM_TO_SIGMA, e_edges)
    result = []
    for angle in angles:
        q = np.nan_to_num(indirect_q(energy, efixed, angle))
        weights = order_weights(terms, q)  # (n_orders, n_atoms, n_e)
        sqe = np.einsum("k,oke,oke->oe", sigma / (4 * math.pi), weights,
                        orders) / crystal.n_atoms
        result.append(sqe * step @ kernel.T)
    return np.stack(result)


def simulate_indirect(request: PowderRequest, progress=None) -> Histogram:
    """S(E) per analyser bank of an indirect-geometry instrument (spectra = banks)."""
    report = progress or (lambda _fraction, _message: None)
    template = request.template
    instrument = load_instrument(template.instrument)
    if instrument.geometry != "indirect":
        msg = f"Instrument: {instrument.name} is not an indirect-geometry instrument"
        raise SimulationError(msg)
    temperature = template.temperature
    if temperature is None or temperature < 0:
        msg = f"Temperature: give the sample temperature in K (>= 0), got {temperature}"
        raise SimulationError(msg)
    efixed = template.efixed or instrument.final_energy
    e_edges = to_mev(parse_binning(template.e_binning or DEFAULT_BINNING, "EBinning",
                                   template.energy_unit), template.energy_unit)
    settings = resolved_settings(instrument, template.settings)

    def fwhm(energy):
        return resolution_fwhm(instrument, energy, ei=efixed, settings=settings)

    setup = cached_setup(request.force_constants, request.structure, temperature, request.grid,
                         request.device)
    report(0.5, "modes on the grid and DOS")
    angles = instrument.banks_deg.mean(axis=1)
    spectra = bank_spectra(setup, temperature, request.multiphonon_order, e_edges, efixed,
                           angles, fwhm, request.creation_only)
    report(1.0, "done")
    signal = spectra.sum(axis=1)
    meta = Metadata(
        instrument=instrument.name, emode="Indirect", efixed=efixed, temperature=temperature,
        title=f"Simulated {instrument.name} S(E), {temperature:g} K",
        provenance=[f"SimulatePowderSQE: incoherent approximation, total cross-section, "
                    f"multiphonon order {request.multiphonon_order} ("
                    f"{'creation only' if request.creation_only else 'complete'}), "
                    f"mesh {request.grid}^3, "
                    f"force constants {setup.source}"],
        logs={"MultiphononOrder": Log(float(request.multiphonon_order)), **setup_logs(setup),
              "ResolutionFWHM": Log(fwhm(0.5 * (e_edges[1:] + e_edges[:-1])), "meV")})
    axes = (Axis(angles, "Degrees", "2Theta", is_edges=False), energy_axis(e_edges))
    return Histogram(axes, signal, np.zeros(signal.shape), np.zeros(signal.shape, bool), meta,
                     y_unit_label="mbarn/meV per atom")
