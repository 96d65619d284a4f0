"""Gradient inversion (InvertForceConstants, Method=Gradient) of Al: recovery, coverage, speed.

Su & Li's (2024) setting: Al (5 parameters, 2 shells: 1NN xx, 1NN zz, 1NN xy, 2NN xx, 2NN yy),
ARCS Ei = 50 meV, 101 |Q| (0-9.09 1/A) x 70 E (-7 to 49 meV) bins, 300 K. Synthetic maps are the
inversion's own forward model at true parameter sets drawn uniformly in 0.5-1.5 x the reference
(u = (p - reference) / |reference| uniform in [-0.5, 0.5]); the fits use the request's defaults
(3 starts from the reference, flat background, EMin 8 meV, EMax 0.95 Ei) without the resolution
factor (the maps have none). The true sets are dynamically stable ones (no imaginary mode on the
4^3 check mesh, as bench_path_inversion and the training-data engine draw; 230 of 256 Al draws;
``--include-unstable`` draws uniformly as before): in an unstable set
modes soften through 0 on the Debye-Waller mesh, where the Debye-Waller sum grows as 1/E^2 and
then leaves the mode out (below 0.01 meV), so the misfit has walls between minima (the one set
of the default 20 that no fit recovers, u = 0.43, 0.47, -0.49, 0.36, 0.48, has 634 imaginary
modes on the 8^3 mesh, down to -18 meV). Sections:

* always: the marginal Cramer-Rao sigma of each parameter at the reference (unit errors,
  scale and background marginalised); the four smallest are "the most influential".
* ``speed`` (run first, so that call 1 finds nothing cached): two InvertForceConstants calls
  (``invert`` with the algorithm's defaults: Method Gradient, 3 starts, 2 x 500 directions per
  |Q| bin, 16^3 mesh) on noisy maps (1e6 counts, background 0.1) of the reference file as
  SimulatePowderSQE computes it (every shell of the file, so the 2-shell fit has a model error),
  same crystal and template: call 1 builds the set-up, call 2 reuses it.
* ``noiseless``: R^2 per parameter (and pooled) of fits to clean maps.
* ``temperature``: maps at 100, 300, 600 K of force constants softened by 5 % steps (true =
  reference x (1 - 0.05 k)) with noise: the dominant parameter must follow the truth.
* ``noise``: a 5 x 5 grid of (constant background, total counts) as Sable et al. (2026) (the
  project's :func:`inslib.datagen.noise.poisson_noise`), the same true sets in every cell: R^2
  of the four most influential parameters per cell, and the 1-sigma coverage of the Laplace
  errors over every noisy fit (a line per fit as it ends).

Noisy maps: counts ~ Poisson(c x model + b) with c such that the covered bins hold ``counts``
signal counts and b = background x the mean signal counts per covered bin; signal = counts / c
(the model's unit), variance = max(counts, 1) / c^2 (sqrt(N) errors, floored at one count so that
empty bins keep a finite weight, as a reduction's errors do).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_inversion.py --threads 1
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from inslib.datagen.config import DEFAULT_BACKGROUNDS
from inslib.datagen.noise import counting_variance, poisson_noise
from inslib.histogram import Histogram
from inslib.instruments.templates import create_sqe_template
from inslib.inversion.build import build_problem
from inslib.inversion.gradient import fit_gradient
from inslib.inversion.metrics import r_squared
from inslib.inversion.objective import used_tensors
from inslib.inversion.request import InversionRequest
from inslib.inversion.run import invert
from inslib.inversion.weights import reweighted_fit
from inslib.scattering.powder import PowderSampling
from inslib.simulation.powder import simulate_powder
from inslib.simulation.requests import PowderRequest, TemplateRequest

ROOT = Path(__file__).resolve().parent.parent
AL = str(ROOT / "tests" / "data" / "Al_phonopy" / "phonopy.yaml")
Q_BINNING, E_BINNING = "0,0.09,9.09", "-7,0.8,49"  # Su & Li: 101 x 70 bins
COUNTS = (1e5, 3e5, 1e6, 3e6, 1e7)  # total signal counts per map (noise grid columns)
SECTIONS = ("speed", "noiseless", "temperature", "noise")
STEP = 1e-3  # central-difference step in u (influence)
TEMPERATURE_NOISE = (0.1, 1e6)  # (background, counts) of the temperature series
SOFTENING = 0.05  # fraction the force constants soften per step of the temperature series


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--shells-per-bin", type=int, default=1, help="synthetic fits' sampling")
    p.add_argument("--directions", type=int, default=50, help="synthetic fits' directions/shell")
    p.add_argument("--grid", type=int, default=8, help="synthetic fits' mesh n (n^3)")
    p.add_argument("--starts", type=int, default=InversionRequest.starts)
    p.add_argument("--noiseless", type=int, default=20, help="true sets of the noiseless R^2")
    p.add_argument("--sets-per-cell", type=int, default=4,
                   help="true sets per noise cell (the same in every cell)")
    p.add_argument("--backgrounds", type=float, nargs="+", default=list(DEFAULT_BACKGROUNDS))
    p.add_argument("--counts", type=float, nargs="+", default=list(COUNTS))
    p.add_argument("--temperatures", type=float, nargs="+", default=[100.0, 300.0, 600.0])
    p.add_argument("--softening-steps", type=int, default=4, help="k = 0 ... steps - 1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=("Gradient", "Hybrid"), default="Gradient",
                   help="Hybrid: start from the amortized networks trained for this template "
                        "(inslib train-inversion; refused when none is)")
    p.add_argument("--model", default="", help="Hybrid: a trained model's .pt (AmortizedModel; "
                                               "default: the cache's for the default settings)")
    p.add_argument("--error-model", choices=("Data", "Poisson"), default="Data",
                   help="noisy fits: the maps' sqrt(N) errors, or refit with the model's "
                        "Poisson variance (ErrorModel)")
    p.add_argument("--include-unstable", action="store_true",
                   help="draw true sets uniformly in the box, dynamically unstable ones too "
                        "(default: only stable ones, no imaginary mode on the 4^3 check mesh, "
                        "as bench_path_inversion and the training-data engine)")
    p.add_argument("--json", type=Path, help="write every figure here")
    return p.parse_args()


class Synthetic:
    """Synthetic measurements on one template and temperature, and their fit problems."""

    def __init__(self, args, temperature: float = 300.0):
        self.args = args
        self.template_request = TemplateRequest(instrument="ARCS", ei=50.0, q_binning=Q_BINNING,
                                                e_binning=E_BINNING, temperature=temperature)
        self.template = create_sqe_template(self.template_request)
        ones = np.ones(self.template.signal.shape)
        self.problem = self.problem_of(ones, ones)
        self.networks = self.trained() if args.method == "Hybrid" else None

    def measured(self, signal, variance) -> Histogram:
        """Return a measured map on the template (NaN where not covered)."""
        mask = self.template.mask
        return Histogram(self.template.axes, np.where(mask, np.nan, signal), variance,
                         mask.copy(), self.template.metadata)

    def problem_of(self, signal, variance):
        """Fit problem of a map (the forward model is built once per template, then cached)."""
        args = self.args
        template = replace(self.template_request, template=self.measured(signal, variance))
        simulation = PowderRequest(AL, template=template, grid=args.grid,
                                   sampling=PowderSampling(args.shells_per_bin, args.directions))
        return build_problem(InversionRequest(simulation, method="Gradient",
                                              fit_resolution=False))

    def trained(self):
        """Return the amortized networks trained for this template and temperature (Hybrid)."""
        from inslib.inversion.start import trained_model

        template = replace(self.template_request, template=self.measured(
            *[np.ones(self.template.signal.shape)] * 2))
        networks = trained_model(InversionRequest(PowderRequest(AL, template=template),
                                                  model_file=self.args.model))
        if networks is None:
            msg = ("--method Hybrid: no model is trained for this template: run `inslib "
                   "train-inversion` with docs/amortized.md's Al config")
            raise SystemExit(msg)
        return networks

    def clean(self, u: np.ndarray) -> np.ndarray:
        """Model maps of fit variables u (n, 5), shape (n, n_q, n_e)."""
        with torch.no_grad():
            return self.problem.spectra(torch.as_tensor(u)).numpy()

    def noisy(self, clean: np.ndarray, background: float, counts: float, generator):
        """Fit problem of a Poisson-noisy copy of one clean map (see the module docstring)."""
        mask = self.template.mask
        per_count = clean[~mask].sum() / counts  # model unit per count
        signal = poisson_noise(torch.as_tensor(clean[None]), counts, background, generator,
                               torch.as_tensor(mask))[0].numpy()
        variance = counting_variance(signal, per_count)
        return self.problem_of(signal, variance)

    def fit(self, problem, weights: str = "Data"):
        """Gradient fit of a problem with the benchmark's starts and seed (and ErrorModel)."""
        initial = None
        if self.networks is not None:
            from inslib.inversion.start import amortized_estimate, estimate_variables

            estimate = amortized_estimate(self.networks, problem, self.args.seed)
            initial = estimate_variables(problem, estimate)[0]
        fit = fit_gradient(problem, self.args.starts, initial, seed=self.args.seed)
        if weights == "Poisson":
            fit = reweighted_fit(problem, fit, True, lambda again, u: fit_gradient(again, 1, u))
        return fit


def influence(problem) -> np.ndarray:
    """Marginal Cramer-Rao sigma (u units, unit errors) of each parameter at the reference.

    Columns of the Jacobian: the parameters' derivatives, the model (scale) and 1 (background),
    so the nuisances are marginalised as in the fit's own covariance.
    """
    _, _, index = used_tensors(problem)
    n = problem.n_params
    steps = np.concatenate([np.eye(n), -np.eye(n), np.zeros((1, n))]) * STEP
    with torch.no_grad():
        maps = problem.spectra(torch.as_tensor(steps)).reshape(len(steps), -1)[:, index].numpy()
    slopes = (maps[:n] - maps[n:2 * n]) / (2 * STEP)
    jacobian = np.column_stack([slopes.T, maps[-1], np.ones(maps.shape[1])])
    return np.sqrt(np.diag(np.linalg.pinv(jacobian.T @ jacobian))[:n])


def speed(args) -> dict:
    """Time two invert() calls with the algorithm's defaults on the same crystal and template."""
    template = TemplateRequest(instrument="ARCS", ei=50.0, q_binning=Q_BINNING,
                               e_binning=E_BINNING, temperature=300.0)
    started = time.perf_counter()
    clean = simulate_powder(PowderRequest(AL, template=template))
    simulated = time.perf_counter() - started
    mask = clean.mask
    signal = np.where(mask, 0.0, np.nan_to_num(clean.signal))
    per_count = signal[~mask].sum() / 1e6
    generator = torch.Generator().manual_seed(args.seed)
    calls = []
    for _ in range(2):
        noisy = poisson_noise(torch.as_tensor(signal[None]), 1e6, 0.1, generator,
                              torch.as_tensor(mask))[0].numpy()
        variance = counting_variance(noisy, per_count)
        measured = Histogram(clean.axes, np.where(mask, np.nan, noisy), variance, mask.copy(),
                             clean.metadata)
        marks = {}
        started, cpu = time.perf_counter(), time.process_time()
        result = invert(InversionRequest(
            PowderRequest(AL, template=replace(template, template=measured)),
            method="Gradient"), progress=lambda f, _m, marks=marks, t0=started: marks.setdefault(
                "first_evaluation" if f > 0.02 else "start", time.perf_counter() - t0))
        total = time.perf_counter() - started
        calls.append({"total_s": total, "cpu_s": time.process_time() - cpu,
                      "first_evaluation_s": marks["first_evaluation"],
                      "evaluations": result.fit.evaluations, "starts": len(result.fit.start_chi2),
                      "max_abs_u": float(np.abs(result.fit.u[:result.fit.problem.n_params]).max()),
                      "reduced_chi2": result.fit.reduced_chi2})
    print(f"\nspeed: invert() defaults, Su & Li template, 1e6 counts, background 0.1 "
          f"(simulating the clean map: {simulated:.1f} s)")
    print(f"{'call':>4s} {'total s':>8s} {'CPU s':>6s} {'1st eval s':>10s} {'evals':>6s} "
          f"{'starts':>6s} {'max|u|':>7s} {'chi2/dof':>8s}")
    for k, c in enumerate(calls, 1):
        print(f"{k:4d} {c['total_s']:8.1f} {c['cpu_s']:6.1f} {c['first_evaluation_s']:10.2f} "
              f"{c['evaluations']:6d} {c['starts']:6d} {c['max_abs_u']:7.3f} "
              f"{c['reduced_chi2']:8.3f}")
    return {"calls": calls, "simulate_s": simulated}


def show_influence(synthetic) -> np.ndarray:
    sigma = influence(synthetic.problem)
    order = np.argsort(sigma)
    print("\ninfluence: marginal Cramer-Rao sigma at the reference (u units, unit errors)")
    for i in order:
        print(f"  {synthetic.problem.names[i]:8s} {sigma[i]:.3e}")
    return order


def noiseless(args, synthetic, truth) -> dict:
    fitted, seconds, chi2, evaluations = [], [], [], []
    for clean in synthetic.clean(truth):
        started = time.perf_counter()
        fit = synthetic.fit(synthetic.problem_of(clean, np.ones_like(clean)))
        seconds.append(time.perf_counter() - started)
        fitted.append(fit.u[:5])
        chi2.append(fit.chi2)
        evaluations.append(fit.evaluations)
    fitted = np.array(fitted)
    r2 = r_squared(fitted, truth)
    missed = np.abs(fitted - truth).max(axis=1) > 1e-3
    names = synthetic.problem.names
    print(f"\nnoiseless: {args.noiseless} true sets, {args.starts} starts")
    print("  R^2 " + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, r2, strict=True))
          + f"; pooled {r_squared(fitted.ravel(), truth.ravel()):.4f}")
    print(f"  sets not recovered (max |u - truth| > 1e-3): {int(missed.sum())}; their chi^2 "
          f"{np.round(np.array(chi2)[missed], 3).tolist()} (unit errors)")
    print(f"  time per fit {np.mean(seconds):.1f} s (min {np.min(seconds):.1f}, max "
          f"{np.max(seconds):.1f}), evaluations {np.mean(evaluations):.0f}")
    return {"r2": r2.tolist(), "not_recovered": int(missed.sum()), "seconds": seconds,
            "truth": truth.tolist(), "fitted": fitted.tolist()}


def noise_grid(args, synthetic, truth, top) -> dict:
    clean = synthetic.clean(truth)
    generator = torch.Generator().manual_seed(args.seed)
    shape = (len(args.backgrounds), len(args.counts), args.sets_per_cell)
    fitted, sigma = np.zeros((*shape, 5)), np.zeros((*shape, 5))
    bound, reduced, seconds = np.zeros((*shape, 5), bool), np.zeros(shape), []
    for i, background in enumerate(args.backgrounds):
        for j, counts in enumerate(args.counts):
            for k in range(args.sets_per_cell):
                started = time.perf_counter()
                fit = synthetic.fit(synthetic.noisy(clean[k], background, counts, generator),
                                    args.error_model)
                seconds.append(time.perf_counter() - started)
                fitted[i, j, k], sigma[i, j, k] = fit.u[:5], np.sqrt(np.diag(fit.covariance_u))[:5]
                bound[i, j, k], reduced[i, j, k] = fit.at_bound[:5], fit.reduced_chi2
                z = (fitted[i, j, k] - truth[k]) / sigma[i, j, k]
                print(f"  background {background:.2f} counts {counts:.0e} set {k}: chi^2/dof "
                      f"{fit.reduced_chi2:.3f}, (fit - truth) / sigma {np.round(z, 2).tolist()}, "
                      f"{seconds[-1]:.1f} s", flush=True)
    error = fitted - truth
    cell_r2 = np.array([[r_squared(fitted[i, j][:, top].ravel(), truth[:, top].ravel())
                         for j in range(shape[1])] for i in range(shape[0])])
    names = [synthetic.problem.names[t] for t in top]
    print(f"\nnoise grid: R^2 pooled over {', '.join(names)} and {args.sets_per_cell} true sets "
          f"per cell ({args.starts} starts)")
    print(f"{'bg / counts':>11s}" + "".join(f" {c:>8.0e}" for c in args.counts))
    for i, background in enumerate(args.backgrounds):
        print(f"{background:11.2f}" + "".join(f" {v:8.4f}" for v in cell_r2[i]))
    flat_fit, flat_truth = fitted.reshape(-1, 5), np.tile(truth, (shape[0] * shape[1], 1))
    r2 = r_squared(flat_fit, flat_truth)
    inside = np.abs(error) <= sigma
    free = ~bound.any(axis=-1)
    print("  R^2 over every noisy fit: " + ", ".join(
        f"{n} {v:.4f}" for n, v in zip(synthetic.problem.names, r2, strict=True)))
    print(f"  1-sigma coverage over {inside.reshape(-1, 5).shape[0]} noisy fits: " + ", ".join(
        f"{n} {v:.3f}" for n, v in zip(synthetic.problem.names, inside.reshape(-1, 5).mean(0),
                                        strict=True))
        + f"; pooled {inside.mean():.3f}")
    print(f"  without the {int((~free).sum())} fits with a parameter on a bound: pooled "
          f"{inside[free].mean():.3f}")
    print(f"  chi^2/dof median {np.median(reduced):.3f} (5-95 %: "
          f"{np.percentile(reduced, 5):.3f}-{np.percentile(reduced, 95):.3f}); time per fit "
          f"{np.mean(seconds):.1f} s (max {np.max(seconds):.1f})")
    return {"cell_r2": cell_r2.tolist(), "r2": r2.tolist(), "top": names,
            "coverage": inside.reshape(-1, 5).mean(0).tolist(), "coverage_pooled":
            float(inside.mean()), "coverage_free": float(inside[free].mean()),
            "reduced_chi2": reduced.ravel().tolist(), "seconds": seconds}


def temperature_series(args, dominant: int) -> dict:
    generator = torch.Generator().manual_seed(args.seed)
    steps = np.arange(args.softening_steps)
    rows = {}
    for temperature in args.temperatures:
        synthetic = Synthetic(args, temperature)
        problem = synthetic.problem
        truth = problem.reference[None] * (1 - SOFTENING * steps[:, None])
        u = (truth - problem.reference) / problem.unit
        fits = [synthetic.fit(synthetic.noisy(clean, *TEMPERATURE_NOISE, generator))
                for clean in synthetic.clean(u)]
        values = np.array([f.params[dominant] for f in fits])
        errors = np.array([f.sigma[dominant] for f in fits])
        order = np.sign(truth[1, dominant] - truth[0, dominant])
        rows[temperature] = {"truth": truth[:, dominant].tolist(), "fitted": values.tolist(),
                             "sigma": errors.tolist(),
                             "monotonic": bool(np.all(order * np.diff(values) > 0))}
    name = synthetic.problem.names[dominant]
    print(f"\ntemperature: {name} (eV/A^2) of reference x (1 - {SOFTENING} k), background "
          f"{TEMPERATURE_NOISE[0]}, {TEMPERATURE_NOISE[1]:.0e} counts")
    print(f"{'T K':>6s} {'k':>2s} {'truth':>9s} {'fitted':>9s} {'sigma':>8s}")
    for temperature, row in rows.items():
        for k in steps:
            print(f"{temperature:6.0f} {k:2d} {row['truth'][k]:9.5f} {row['fitted'][k]:9.5f} "
                  f"{row['sigma'][k]:8.5f}")
        print(f"{'':6s} follows the truth monotonically: {row['monotonic']}")
    return {str(t): row for t, row in rows.items()}


def true_sets(args, problem) -> tuple[np.ndarray, np.ndarray]:
    """Draw the true u of the noiseless fits (n_noiseless, 5) and of the grid (sets_per_cell, 5).

    Both are drawn whatever the sections run, so the grid's sets do not depend on them:
    the first dynamically stable draws in the +-50 % box (bench_path_inversion's
    :func:`draw_stable`, as the training-data engine draws), or with ``--include-unstable``
    every uniform draw.
    """
    rng = np.random.default_rng(args.seed)
    n = args.noiseless + args.sets_per_cell
    if not args.include_unstable:
        from bench_path_inversion import draw_stable

        u, drawn, stable = draw_stable(problem, rng, n, 0.5)
        print(f"true sets: the first {n} stable draws ({stable} of the {drawn} drawn are "
              "stable)")
    else:
        u = rng.uniform(-0.5, 0.5, (n, 5))
    return u[:args.noiseless], u[args.noiseless:]


def main():
    args = arguments()
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}; synthetic fits: {args.shells_per_bin} x "
          f"{args.directions} directions per |Q| bin, {args.grid}^3 mesh")
    out = {"args": {k: v for k, v in vars(args).items() if k != "json"}}
    if "speed" in args.sections:
        out["speed"] = speed(args)
    synthetic = Synthetic(args)
    print(f"\ntemplate {synthetic.template.signal.shape}, {synthetic.problem.data.n_used} bins "
          "fitted")
    top = show_influence(synthetic)
    out["influence"] = [synthetic.problem.names[i] for i in top]
    truth, grid_truth = true_sets(args, synthetic.problem)
    if "noiseless" in args.sections:
        out["noiseless"] = noiseless(args, synthetic, truth)
    if "temperature" in args.sections:
        out["temperature"] = temperature_series(args, top[0])
    if "noise" in args.sections:
        out["noise"] = noise_grid(args, synthetic, grid_truth, top[:4])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
