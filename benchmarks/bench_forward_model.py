"""Forward-model speed against euphonic on the same work, in the same run (`make bench`).

Cases (issue figures, 2-core machine): Ge coherent powder map 200 |Q| x 198 E (OCLIMAX 3.0:
6.7 s; target <= 2 s), NaCl powder map 200 shells x 1000 points x 200 E (euphonic 13.6 s;
target <= 4 s), quartz at 200k q-points (euphonic 246 s; target <= 60 s), 4D NaCl grid
100 x 100 x 50 q x 200 E (target <= 15 s, < 4 GB). Each case runs in its own process so its
peak memory (ru_maxrss) is its own; euphonic runs after inslib in that process.

    python benchmarks/bench_forward_model.py            # all cases, euphonic on 10 % of quartz
    python benchmarks/bench_forward_model.py --full     # euphonic on all 200k quartz q-points
    python benchmarks/bench_forward_model.py --case ge  # one case
"""

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
EUPHONIC_REF = SHARED / "reference_outputs" / "euphonic" / "force_constants"
GE = SHARED / "force_constants" / "pathSQE_Ge_ARCS"
THREADS = 2


def say(text: str) -> None:
    """Print at once (each case runs in a child process whose stdout is a pipe)."""
    print(text, flush=True)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _euphonic_powder(fc, q_centres, npts, e_edges, temperature, mesh):
    """Run the euphonic powder average: Debye-Waller on an n^3 mesh once, one call per shell."""
    from euphonic import ureg
    from euphonic.powder import sample_sphere_structure_factor
    from euphonic.util import mp_grid

    dw = fc.calculate_qpoint_phonon_modes(mp_grid([mesh] * 3), n_threads=THREADS, use_c=True
                                          ).calculate_debye_waller(temperature * ureg("K"))
    for q in q_centres:
        sample_sphere_structure_factor(fc, q * ureg("1/angstrom"), dw=dw, temperature=temperature
                                       * ureg("K"), npts=npts, energy_bins=e_edges * ureg("meV"),
                                       n_threads=THREADS, use_c=True)


def case_ge():
    """Ge powder map, OCLIMAX's grid (ARCS, Ei = 50 meV, 5 K)."""
    from inslib.scattering.powder import PowderSampling
    from inslib.simulate import PowderRequest, cached_setup, simulate_powder
    from inslib.templates import TemplateRequest

    fc, poscar = str(GE / "FORCE_CONSTANTS"), str(GE / "POSCAR")
    cached_setup(fc, poscar, 5.0, 16)  # the 16^3 mesh, as OCLIMAX's (included below)
    request = PowderRequest(fc, poscar, TemplateRequest(
        instrument="ARCS", ei=50.0, temperature=5.0, q_binning="0.025,0.05,10.025",
        e_binning="0.4,0.2,40"), sampling=PowderSampling(1, 400))
    from inslib import simulate

    simulate._CACHE.clear()
    result, ours = _timed(lambda: simulate_powder(request))
    peak = _peak_gb()
    convergence = result.metadata.logs["PowderConvergence"].value
    say(f"Ge map {result.shape}: inslib {ours:.2f} s (mesh, DW, DOS, coherent + incoherent, "
          f"resolution, mask), PowderConvergence {convergence:.3f}, peak {peak:.2f} GB; "
          f"OCLIMAX 3.0 anchor 6.7 s -> {6.7 / ours:.1f}x")
    from inslib.phonons.force_constants import load_force_constants

    fcs = load_force_constants(fc, structure=poscar)
    theirs = _euphonic_from_ours(fcs)
    q_centres = result.axes[0].centres
    _, time_e = _timed(lambda: _euphonic_powder(theirs, q_centres, 400, result.axes[1].edges, 5.0,
                                                   16))
    say(f"         euphonic 2.1.1 same sampling (199 shells x 400 points): {time_e:.2f} s "
          f"-> inslib {time_e / ours:.1f}x faster")


def _euphonic_from_ours(fcs):
    """Build euphonic ForceConstants holding exactly our force constants (same input)."""
    from euphonic import Crystal, ForceConstants, ureg

    c = fcs.crystal
    crystal = Crystal(c.cell * ureg("angstrom"), c.positions, np.array(c.symbols),
                      c.masses * ureg("amu"))
    born = None if fcs.born is None else fcs.born * ureg("e")
    diel = None if fcs.dielectric is None else fcs.dielectric * ureg("e**2/(bohr*hartree)")
    return ForceConstants(crystal, fcs.fc * ureg("eV/angstrom**2"), fcs.sc_matrix,
                          fcs.cell_origins, born, diel)


def case_nacl_powder():
    """NaCl powder map: 200 |Q| shells x 1000 points x 200 energy bins."""
    import torch

    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.powder import PowderSampling, coherent_powder
    from inslib.scattering.thermal import debye_waller

    path = EUPHONIC_REF / "NaCl_force_constants.json"
    fcs = load_force_constants(path)
    q_edges = np.linspace(0.5, 10.5, 201)
    e_edges = np.linspace(0.0, 40.0, 201)

    def ours():
        model = PhononModel(to_primitive(fcs))
        dw = debye_waller(model, 300.0, (8, 8, 8))
        return coherent_powder(model, q_edges, e_edges, 300.0, dw, PowderSampling(1, 1000))

    torch.set_num_threads(THREADS)
    _, time_ours = _timed(ours)
    peak = _peak_gb()
    say(f"NaCl map 200 x 1000 x 200: inslib {time_ours:.2f} s (2-atom primitive cell reduced "
          f"from euphonic's 8-atom file), peak {peak:.2f} GB")
    from euphonic import ForceConstants

    theirs = ForceConstants.from_json_file(str(path))
    centres = 0.5 * (q_edges[1:] + q_edges[:-1])
    _, time_e = _timed(lambda: _euphonic_powder(theirs, centres, 1000, e_edges, 300.0, 8))
    say(f"         euphonic 2.1.1 (its 8-atom cell, C, {THREADS} threads): {time_e:.2f} s "
          f"-> inslib {time_e / time_ours:.1f}x faster (anchor 13.6 s on one thread)")


def case_quartz(full: bool):
    """Quartz (9 atoms, Born charges): modes and structure factors at 200k q-points."""
    from inslib.phonons.force_constants import load_force_constants
    from inslib.phonons.model import PhononModel
    from inslib.scattering.coherent import coherent_structure_factor

    path = EUPHONIC_REF / "quartz_force_constants.json"
    q = np.random.default_rng(0).uniform(-3, 3, size=(200_000, 3))
    model = PhononModel(load_force_constants(path), asr=False)

    def ours():
        for start in range(0, len(q), 10000):
            modes = model.modes(q[start:start + 10000])
            coherent_structure_factor(model, modes)

    _, time_ours = _timed(ours)
    peak = _peak_gb()
    say(f"quartz 200k q: inslib {time_ours:.1f} s (dipole Ewald sums), peak {peak:.2f} GB")
    from euphonic import ForceConstants

    theirs = ForceConstants.from_json_file(str(path))
    part = q if full else q[:20000]
    _, time_e = _timed(lambda: theirs.calculate_qpoint_phonon_modes(
        part, n_threads=THREADS, use_c=True).calculate_structure_factor())
    time_e *= len(q) / len(part)
    note = "" if full else " (timed on 20k q-points, x10)"
    say(f"         euphonic 2.1.1: {time_e:.1f} s{note} -> inslib {time_e / time_ours:.1f}x "
          f"faster (anchor 246 s on one thread)")


def case_grid():
    """4D NaCl grid 100 x 100 x 50 q x 200 E (stratified bin averages, resolution 0.5 meV)."""
    import torch

    from inslib.phonons.force_constants import load_force_constants, to_primitive
    from inslib.phonons.model import PhononModel
    from inslib.scattering.thermal import debye_waller
    from inslib.single_crystal import GridRequest, simulate_grid

    torch.set_num_threads(THREADS)
    fcs = load_force_constants(EUPHONIC_REF / "NaCl_force_constants.json")
    conventional = fcs.crystal.cell

    def ours():
        model = PhononModel(to_primitive(fcs))
        dw = debye_waller(model, 300.0, (8, 8, 8))
        request = GridRequest(np.eye(3), ["-2,0.04,2", "-2,0.04,2", "-1,0.04,1"], "0,0.15,30",
                              300.0, fwhm=0.5, hkl_cell=conventional)
        return simulate_grid(model, request, dw)

    result, time_ours = _timed(ours)
    say(f"NaCl 4D grid {result.shape}: inslib {time_ours:.1f} s, peak {_peak_gb():.2f} GB "
          f"(targets 15 s, 4 GB)")


CASES = {"ge": case_ge, "nacl": case_nacl_powder, "quartz": case_quartz, "grid": case_grid}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(THREADS)
        function = CASES[args.case]
        function(args.full) if args.case == "quartz" else function()
        return
    for name in CASES:
        command = [sys.executable, __file__, "--case", name, *(["--full"] if args.full else [])]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
