"""SimulateMDSQE's run: trajectory (read, or run here with EMT) -> powder S(|Q|,E) on a template.

The result has the template's bins, mask and metadata like SimulatePowderSQE's, in mbarn/meV
per atom; |Q| bins without a commensurate q-point are masked too (said in the Warnings log,
which the algorithm logs as a warning).
"""

import tempfile
from pathlib import Path

import numpy as np

from inslib.histogram import Histogram, Log
from inslib.instruments.templates import create_sqe_template
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
from inslib.md.qpoints import powder_qpoints
from inslib.md.request import (
    MDRequest,
    md_run,
    md_temperature,
    md_window,
    require_valid_md,
    trajectory_info,
)
from inslib.md.run import run_md
from inslib.md.spectrum import powder_map
from inslib.simulation.powder import template_resolution


def simulate_md(request: MDRequest, progress=None) -> Histogram:
    """Powder S(|Q|,E) from MD on the template of ``request.template``.

    Returns
    -------
    Histogram
        Signal in mbarn/meV per atom (bin averages), NaN where masked; logs: q-points per
        |Q| bin, correlation window, MD energy spacing, frames, quantum correction.
    """
    require_valid_md(request)
    report = progress or (lambda _fraction, _message: None)
    if request.trajectory:
        return _from_trajectory(request, request.trajectory, report, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        path = request.output_trajectory or str(Path(folder) / "md.traj")
        run_md(md_run(request), path, lambda f: report(0.5 * f, "MD (EMT)"))
        return _from_trajectory(request, path, report, 0.5)


def _from_trajectory(request: MDRequest, path: str, report, start: float) -> Histogram:
    template = create_sqe_template(request.template)
    q_edges = template.axes[0].edges
    info = trajectory_info(request, path)
    qpoints = powder_qpoints(cell=info.cell, q_edges=q_edges, wanted=~template.mask.all(axis=1),
                             max_per_bin=request.q_points_per_bin, seed=request.seed)
    window = md_window(request, template)[0]
    spectra = correlate(path, info, q_points=qpoints.q_points, frame_time=request.frame_time,
                        window=window, window_step=request.window_step or max(1, window // 4),
                        incoherent=request.incoherent, elastic=request.elastic,
                        report=lambda f: report(start + (0.95 - start) * f, "correlations"))
    temperature = md_temperature(request)
    signal, counts = _powder(request, template, spectra, qpoints, temperature)
    report(1.0, "done")
    logs = {MD_Q_POINTS_PER_BIN: Log(counts.astype(float)),
            MD_BRAGG_Q_POINTS: Log(float(np.count_nonzero(spectra.bragg))),
            MD_CORRELATION_WINDOW: Log(window * request.frame_time, "fs"),
            MD_ENERGY_SPACING: Log(float(spectra.energy[1]), "meV"),
            MD_FRAMES: Log(float(info.n_frames)),
            QUANTUM_CORRECTION: Log(request.correction)}
    return _result(template, signal, request, temperature, logs, (counts, spectra.n_windows))


def _powder(request: MDRequest, template: Histogram, spectra, qpoints, temperature):
    """(map (n_q, n_e) mbarn/meV per atom, q-points used per |Q| bin (n_q,)) of the terms asked.

    Without the elastic line the coherent average leaves out the Bragg points (q = G): their
    inelastic part is that of q = 0 (no acoustic intensity; optical modes at Gamma, which the
    neighbouring q-points sample), and the noise of their huge static part would leak into it.
    """
    resolution = template_resolution(request.template, template)
    n_bins = len(template.axes[0].edges) - 1

    def average(values, bins):
        return powder_map(
            energy=spectra.energy, spectra=values, bins=bins, n_bins=n_bins,
            e_edges=template.axes[1].edges,
            resolution_sigma=lambda e: np.interp(e, resolution.energy, resolution.sigma),
            taper_sigma=spectra.taper_sigma, temperature=temperature or 0.0,
            correction=request.correction)

    keep = np.ones(len(qpoints.bins), bool) if request.elastic else ~spectra.bragg
    terms = []
    if request.coherent:
        terms.append(average(spectra.coherent[keep], qpoints.bins[keep]))
    if request.incoherent:
        terms.append(average(spectra.incoherent, qpoints.bins))
    used = qpoints.bins[keep] if request.coherent else qpoints.bins
    return sum(terms), np.bincount(used, minlength=n_bins)


def _result(template, signal, request, temperature, logs, sampling) -> Histogram:
    counts, n_windows = sampling
    meta = template.metadata
    meta.temperature = temperature
    wanted = ~template.mask.all(axis=1)
    empty = wanted & (counts == 0)
    mask = template.mask | empty[:, None]
    if empty.any():
        logs[WARNINGS] = Log(f"{int(empty.sum())} of {int(wanted.sum())} |Q| bins hold no "
                             "q-point of the MD supercell and are masked")
    terms = " + ".join(name for name, on in (("coherent", request.coherent),
                                             ("incoherent", request.incoherent)) if on)
    source = Path(request.trajectory).name if request.trajectory else "EMT MD run here"
    meta.title = f"Simulated S(|Q|,E) from MD: {source}, {temperature or 0:g} K"
    meta.provenance = [*meta.provenance,
                       f"SimulateMDSQE: {terms} from {source} (dynasor), frames every "
                       f"{request.frame_time:g} fs, {n_windows} correlation windows, quantum "
                       f"correction {request.correction}, "
                       f"q-points per covered |Q| bin {int(counts[wanted].min(initial=0))}-"
                       f"{int(counts.max(initial=0))}"]
    meta.logs.update(logs)
    signal = np.where(mask, np.nan, signal)
    return Histogram(template.axes, signal, np.zeros(signal.shape), mask, meta,
                     y_unit_label="mbarn/meV per atom")
