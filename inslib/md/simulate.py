"""SimulateMDSQE's run: trajectory (read, or run here: EMT or NEP) -> S(Q,E) on harmonic templates.

Output PowderSQE: S(|Q|,E) with the template's bins, mask and metadata like
SimulatePowderSQE's; IndirectSE: S(E) per analyser bank like SimulatePowderSQE's TOSCA/VISION
result; QPath: S(q,E) on SimulateSingleCrystalSQE's path bins. All in mbarn/meV per atom; rows
(|Q| bins, path bins) or energies without a commensurate q-point are masked too (said in the
Warnings log, which the algorithm logs as a warning).
"""

import tempfile
from pathlib import Path

import numpy as np

from inslib.axes import Axis, energy_axis
from inslib.histogram import Histogram, Log, Metadata
from inslib.logs import (
    MD_BRAGG_Q_POINTS,
    MD_CORRELATION_WINDOW,
    MD_ENERGY_SPACING,
    MD_FRAMES,
    MD_Q_POINTS_PER_BIN,
    QUANTUM_CORRECTION,
    WARNINGS,
)
from inslib.md.correlation import correlate
from inslib.md.indirect import bank_rows
from inslib.md.qpoints import SamplingError
from inslib.md.request import (
    MDRequest,
    md_run,
    md_sampling,
    md_setting,
    md_temperature,
    md_window,
    require_valid_md,
    trajectory_info,
)
from inslib.md.run import run_md
from inslib.md.sampling import path_crystal
from inslib.md.spectrum import bin_average, broadened, corrected
from inslib.simulation.errors import raise_errors
from inslib.simulation.grid import cell_lattice
from inslib.simulation.qpath import path_histogram

ROWS = {"PowderSQE": "|Q| bin", "IndirectSE": "|Q| bin", "QPath": "path bin"}


def simulate_md(request: MDRequest, progress=None) -> Histogram:
    """S(Q,E) from MD of ``request.output`` on the template of ``request.template``.

    Returns
    -------
    Histogram
        Signal in mbarn/meV per atom (bin averages), NaN where masked; logs: q-points per
        row, correlation window, MD energy spacing, frames, quantum correction.
    """
    require_valid_md(request)
    report = progress or (lambda _fraction, _message: None)
    if request.trajectory:
        return _from_trajectory(request, request.trajectory, trajectory_info(request), report,
                                0.0)
    with tempfile.TemporaryDirectory() as folder:
        path = request.output_trajectory or str(Path(folder) / "md.traj")
        info = run_md(md_run(request), path, lambda f: report(0.5 * f, "MD"))
        return _from_trajectory(request, path, info, report, 0.5)


def _from_trajectory(request: MDRequest, path: str, info, report, start: float) -> Histogram:
    """S(Q,E) of the trajectory at ``path`` (``info``: what a scan of it finds)."""
    try:  # the cell of an MD run here may have changed (NPT) since the validation
        qpoints = md_sampling(request, info.cell)
    except SamplingError as err:
        raise_errors({err.prop: str(err)})
    window = md_window(request)[0]
    spectra = correlate(path, info, q_points=qpoints.q_points, frame_time=request.frame_time,
                        window=window, window_step=request.window_step or max(1, window // 4),
                        incoherent=request.incoherent, elastic=request.elastic,
                        total=not request.coherent,
                        report=lambda f: report(start + (0.95 - start) * f, "correlations"))
    temperature = md_temperature(request)
    energy, rows, counts = _rows(request, spectra, qpoints, temperature)
    result = _ASSEMBLE[request.output](request, energy, rows, counts, qpoints,
                                       spectra.taper_sigma)
    report(1.0, "done")
    logs = {MD_Q_POINTS_PER_BIN: Log(counts.astype(float)),
            MD_BRAGG_Q_POINTS: Log(float(np.count_nonzero(spectra.bragg))),
            MD_CORRELATION_WINDOW: Log(window * request.frame_time, "fs"),
            MD_ENERGY_SPACING: Log(float(spectra.energy[1]), "meV"),
            MD_FRAMES: Log(float(info.n_frames)),
            QUANTUM_CORRECTION: Log(request.correction)}
    return _finish(result, request, temperature, logs, (counts, spectra.n_windows))


def _rows(request: MDRequest, spectra, qpoints, temperature):
    """Quantum-corrected S(E) per row (|Q| bin or path bin) of the terms asked.

    Without the elastic line the coherent average leaves out the Bragg points (q = G): their
    inelastic part is that of q = 0 (no acoustic intensity; optical modes at Gamma, which the
    neighbouring q-points sample), and the noise of their huge static part would leak into it.

    Returns
    -------
    energy : numpy.ndarray, shape (n_full,)
        -E_max..E_max, meV.
    rows : numpy.ndarray, shape (n_rows, n_full)
        mbarn/meV per atom; NaN rows without q-points.
    counts : numpy.ndarray of int, shape (n_rows,)
        q-points averaged per row.
    """
    n_rows = len(qpoints.counts)
    keep = np.ones(len(qpoints.bins), bool) if request.elastic else ~spectra.bragg
    terms = []
    if request.coherent:
        terms.append(bin_average(values=spectra.coherent[keep], bins=qpoints.bins[keep],
                                 n_bins=n_rows))
    if request.incoherent:
        terms.append(bin_average(values=spectra.incoherent, bins=qpoints.bins, n_bins=n_rows))
    used = qpoints.bins[keep] if request.coherent else qpoints.bins
    energy, rows = corrected(energy=spectra.energy, rows=sum(terms),
                             temperature=temperature or 0.0, correction=request.correction)
    return energy, rows, np.bincount(used, minlength=n_rows)


def _broadened(request: MDRequest, energy, rows, taper_sigma: float) -> np.ndarray:
    """Rows (n_rows, n_full) on the output's energy bins, with its resolution: (n_rows, n_e)."""
    setting = md_setting(request)
    return broadened(energy=energy, rows=rows, e_edges=setting.e_edges,
                     resolution_sigma=setting.sigma, taper_sigma=taper_sigma)


def _powder(request, energy, rows, counts, _qpoints, taper_sigma) -> Histogram:
    template = md_setting(request).template
    signal = _broadened(request, energy, rows, taper_sigma)
    wanted = ~template.mask.all(axis=1)
    mask = template.mask | (wanted & (counts == 0))[:, None]
    return Histogram(template.axes, signal, np.zeros(signal.shape), mask, template.metadata,
                     y_unit_label="mbarn/meV per atom")


def _indirect(request, energy, rows, _counts, qpoints, taper_sigma) -> Histogram:
    setting = md_setting(request)
    banks = bank_rows(energy=energy, rows=rows, bank_bins=qpoints.bank_bins(energy))
    signal = _broadened(request, energy, banks, taper_sigma)
    centres = 0.5 * (setting.e_edges[1:] + setting.e_edges[:-1])
    hit = qpoints.bank_bins(centres)
    mask = (hit < 0) | ~np.isfinite(rows[np.maximum(hit, 0), 0])
    meta = Metadata(instrument=setting.instrument.name, emode="Indirect",
                    efixed=setting.fixed)
    axes = (Axis(qpoints.angles, "Degrees", "2Theta", is_edges=False),
            energy_axis(setting.e_edges))
    return Histogram(axes, signal, np.zeros(signal.shape), mask, meta,
                     y_unit_label="mbarn/meV per atom")


def _path(request, energy, rows, counts, qpoints, taper_sigma) -> Histogram:
    setting = md_setting(request)
    signal = _broadened(request, energy, rows, taper_sigma)
    result = path_histogram(qpoints.edges, qpoints.ticks, setting.e_edges, signal, 0.0)
    result.mask = np.broadcast_to((counts == 0)[:, None], signal.shape).copy()
    meta = result.metadata
    if setting.instrument is not None:
        meta.instrument, meta.emode, meta.ei = setting.instrument.name, "Direct", setting.fixed
    meta.lattice = cell_lattice(path_crystal(request).cell)
    return result


_ASSEMBLE = {"PowderSQE": _powder, "IndirectSE": _indirect, "QPath": _path}


def _finish(result: Histogram, request, temperature, logs, sampling) -> Histogram:
    """Title, provenance, logs and the Warnings of masked rows; NaN where masked."""
    counts, n_windows = sampling
    meta = result.metadata
    meta.temperature = temperature
    empty = int(np.count_nonzero(result.mask.all(axis=1)))
    row = ROWS[request.output]
    if request.output != "IndirectSE" and empty:
        logs[WARNINGS] = Log(f"{empty} of {len(counts)} {row}s hold no q-point of the MD "
                             "supercell (or are outside the instrument's reach) and are masked")
    if request.output == "IndirectSE" and result.mask.any():
        logs[WARNINGS] = Log(f"{int(result.mask.sum())} (bank, energy) bins cross a |Q| bin "
                             "without a q-point of the MD supercell and are masked")
    terms = (" + ".join(name for name, on in (("coherent", request.coherent),
                                              ("incoherent", request.incoherent)) if on)
             if request.coherent else "incoherent approximation (total cross-section)")
    source = (Path(request.trajectory).name if request.trajectory
              else f"MD run here ({Path(request.potential).name or 'EMT'})")
    meta.title = f"Simulated {request.output} from MD: {source}, {temperature or 0:g} K"
    covered = counts[counts > 0]
    meta.provenance = [*meta.provenance,
                       f"SimulateMDSQE: {request.output}, {terms} from {source} (dynasor), "
                       f"frames every {request.frame_time:g} fs, {n_windows} correlation "
                       f"windows, quantum correction {request.correction}, q-points per "
                       f"covered {row} {int(covered.min()) if covered.size else 0}-"
                       f"{int(covered.max(initial=0))}"]
    meta.logs.update(logs)
    result.signal = np.where(result.mask, np.nan, result.signal)
    return result
