"""Graphite multiphonon at Ei = 300 meV, 300 K: ours vs OCLIMAX per order, and the anisotropy.

Prints (1) per-order sums above 205 meV and over E 10..290 meV, ours / OCLIMAX, each
normalised by the one-phonon sum at |Q| < 4 1/Angstrom (the stored references of
tests/reference/test_multiphonon_oclimax.py, whose grid, mask and resolution it reuses);
(2) the multiphonon above 205 meV of the exact direction average of the harmonic incoherent
terms (u^2 and T_1 along each direction of Q) against the isotropic average the library uses;
and draws docs/figures/multiphonon_graphite_oclimax.png (Q-summed profiles per order).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multiphonon_graphite.py
"""

import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "shared"
sys.path.insert(0, str(ROOT / "tests" / "reference"))

import test_multiphonon_oclimax as ref  # noqa: E402  (grid, mask, resolution of the test)

from inslib.scattering.dos import mesh_dos  # noqa: E402
from inslib.scattering.incoherent import (  # noqa: E402
    isotropic_msd,
    match_debye_region,
    multiphonon_orders,
    order_weights,
)
from inslib.scattering.thermal import mp_grid  # noqa: E402
from inslib.simulation.setup import cached_setup  # noqa: E402

FIGURE = ROOT / "docs" / "figures" / "multiphonon_graphite_oclimax.png"
N_POLAR = 32  # Gauss-Legendre nodes in cos(theta) over [-1, 1] (16 used: S is even in Q)


def graphite_setup(folder: Path):
    """Return the set-up of the shared graphite force constants (16^3 mesh, 300 K)."""
    with zipfile.ZipFile(DATA / "force_constants" / "snschops_Si_graphite" / "graphite.zip") as z:
        z.extractall(folder)
    return cached_setup(str(folder / "FORCE_CONSTANTS"), str(folder / "POSCAR"),
                        ref.TEMPERATURE, 16, "CPU")


def references() -> tuple[dict, np.ndarray]:
    """OCLIMAX key numbers (with the |Q| < 4 order sums) and the Q-summed profile (281, 12)."""
    base = DATA / "reference_outputs" / "oclimax_graphite"
    numbers = json.loads((base / "key_numbers.json").read_text())["ei300_inc"]
    low_q = json.loads((base / "derived_lowq_order_sums.json").read_text())["ei300_inc"]
    numbers["per_order_lowq"] = low_q["per_order_lowq"]
    profile = np.loadtxt(base / "derived_Eprofile_ei300_inc.csv", delimiter=",")
    return numbers, profile[(profile[:, 0] > 9.5) & (profile[:, 0] < 291)]


def order_table(maps: np.ndarray, numbers: dict) -> None:
    """Print ours / OCLIMAX per order, both normalised by their |Q| < 4 one-phonon sums."""
    ours_norm = maps[0, ref.Q_POINTS < ref.LOW_Q].sum()
    theirs_norm = numbers["per_order_lowq"][0]
    above = ref.above_cut(maps) / ours_norm
    window = maps.sum(axis=(1, 2)) / ours_norm
    print("order  above 205: ours/OCLIMAX   E 10..290: ours/OCLIMAX")
    for n in range(1, ref.ORDERS):
        hi = above[n] / (numbers["per_order_hi"][n] / theirs_norm)
        win = window[n] / (numbers["per_order_win"][n] / theirs_norm)
        print(f"{n + 1:5d}  {hi:22.3f}   {win:20.3f}")
    total = above[1:].sum() / (numbers["mp_hi"] / theirs_norm)
    print(f"multiphonon above 205 meV, ours/OCLIMAX: {total:.3f}")


def directional_maps(setup) -> np.ndarray:
    """Orders (ORDERS, n_q, n_e) of the exact direction average, masked like the test's maps.

    Hexagonal symmetry makes every second-rank tensor (W, the DOS tensor) uniaxial about c, so
    directions in one azimuthal plane, weighted by Gauss-Legendre in cos(theta), suffice.
    """
    mesh, crystal = setup.mesh, setup.model.crystal
    cos_theta, weight = np.polynomial.legendre.leggauss(N_POLAR)
    keep = cos_theta > 0
    cos_theta, weight = cos_theta[keep], weight[keep] / weight[keep].sum()
    directions = np.stack([np.sqrt(1 - cos_theta**2), 0 * cos_theta, cos_theta], axis=1)
    modes = setup.model.modes(mp_grid((16,) * 3))
    along = torch.einsum("sqmia,da->sqmid", modes.eigenvectors,
                         torch.as_tensor(directions).to(modes.eigenvectors.dtype))
    atom_weights = (along.real**2 + along.imag**2).reshape(*along.shape[:3], -1)
    partial, centres = mesh_dos(modes.frequencies, atom_weights, mesh.width, 16,
                                float(mesh.dos_energy[-1]))
    u2 = 2 * torch.einsum("da,kab,db->kd", torch.as_tensor(directions), mesh.dw[0],
                          torch.as_tensor(directions)).reshape(1, -1)
    partial = match_debye_region(3 * partial, centres, np.repeat(crystal.masses, len(weight)),
                                 ref.TEMPERATURE, u2, mesh.debye_cut)
    return _maps(partial, centres, u2, np.tile(weight, crystal.n_atoms) / crystal.n_atoms)


def _maps(partial, centres, u2, row_weight) -> np.ndarray:
    """Orders of rows (atom, direction) summed with ``row_weight`` (n_rows,), masked."""
    settings = ref.multiphonon()
    energy, near, kernel = settings.grid(float(centres[-1]))
    orders = multiphonon_orders(partial, centres, ref.TEMPERATURE, ref.ORDERS, energy)[..., near]
    weights = order_weights(u2, torch.as_tensor(ref.Q_POINTS), ref.ORDERS)
    maps = torch.einsum("a,soaq,soae->oqe", torch.as_tensor(row_weight), weights, orders)
    maps = (maps @ torch.as_tensor(kernel.T)).numpy() * 1000.0 / (4 * np.pi)
    return np.where(ref.arcs_point_mask(ref.Q_POINTS, ref.E_POINTS, ref.EI)[None], maps, 0.0)


def figure(maps: np.ndarray, numbers: dict, profile: np.ndarray) -> None:
    """Q-summed profiles of orders 1..4 and of all multiphonon, each over its |Q| < 4 norm."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    ours = maps.sum(axis=1) / maps[0, ref.Q_POINTS < ref.LOW_Q].sum()
    theirs = profile[:, 2:].T / numbers["per_order_lowq"][0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = [(f"order {n + 1}", ours[n], theirs[n]) for n in range(4)]
    curves.append(("orders 2-10", ours[1:].sum(axis=0), theirs[1:].sum(axis=0)))
    for (label, mine, other), colour in zip(curves, ["C0", "C1", "C2", "C3", "k"], strict=True):
        ax.semilogy(ref.E_POINTS, mine, color=colour, label=f"{label} (inslib)")
        ax.semilogy(ref.E_POINTS, other, color=colour, ls="--", lw=1)
    ax.axvline(ref.CUT, color="grey", lw=0.8)
    ax.set(xlabel="Energy transfer (meV)", ylabel="sum over |Q| / one-phonon at |Q| < 4",
           ylim=(1e-5, None), title="Graphite, ARCS Ei = 300 meV, 300 K (dashed: OCLIMAX 3.0)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=120)
    print(f"figure: {FIGURE.relative_to(ROOT)}")


def main() -> None:
    """Print both comparisons and draw the figure."""
    numbers, profile = references()
    with tempfile.TemporaryDirectory() as folder:
        setup = graphite_setup(Path(folder))
        maps = ref.order_maps(setup)
        order_table(maps, numbers)
        print("u^2 (mode sum):", np.round(isotropic_msd(setup.mesh.dw)[0].numpy(), 5))
        with torch.no_grad():
            exact = directional_maps(setup)
        low = ref.Q_POINTS < ref.LOW_Q
        share = [m[1:, :, ref.E_POINTS > ref.CUT].sum() / m[0, low].sum() for m in (maps, exact)]
        print(f"multiphonon above 205 / one-phonon at |Q| < 4: isotropic {share[0]:.3f}, "
              f"exact direction average {share[1]:.3f} (ratio {share[1] / share[0]:.3f})")
        figure(maps, numbers, profile)


if __name__ == "__main__":
    main()
