"""Write scippneutron_v4_Ge_cut.sqw: a Horace format-4 file from an independent writer.

Run with scippneutron 26.7.0 (scipp 26.8.0) installed, from this folder:
``python make_scippneutron_v4.py``. The numbers it writes are the ones
tests/unit/io/test_horace.py checks.

A 1D cut of a cubic crystal (a = 5.6575 Angstrom) along [H,0,0]: scippneutron writes
projection type "aaa", so the image axes are in 1/Angstrom: u1 from 2 pi/a to 2 x 2 pi/a
(H = 1 to 2) in 4 bins, u2 and u3 integrated over +-0.1 1/Angstrom, energy 0-40 meV in 8 bins.
Two runs at psi = 10 and 20 degrees, Ei = 60 meV.
"""

from datetime import UTC, datetime

import numpy as np
import scipp as sc
from scippneutron.io import sqw

A = 5.6575  # Angstrom
NBINS = (4, 1, 1, 8)
UNITS = ("1/angstrom", "1/angstrom", "1/angstrom", "meV")


def image():
    """Signal, variance and npix of shape NBINS (C order over u1..u4)."""
    index = np.arange(int(np.prod(NBINS)), dtype=float).reshape(NBINS)
    signal = 1.0 + index
    variance = 0.25 + 0.01 * index
    counts = (index.astype(int) % 5).astype(np.int64)  # every 5th bin empty
    return signal, variance, counts


def metadata():
    q1 = 2 * np.pi / A
    ranges = [(q1, 2 * q1), (-0.1, 0.1), (-0.1, 0.1), (0.0, 40.0)]
    axes = sqw.SqwLineAxes(
        title="Ge [H,0,0] cut", label=["[H,0,0]", "[0,K,0]", "[0,0,L]", "E"],
        img_scales=[sc.scalar(1.0, unit=u) for u in UNITS],
        img_range=[sc.array(dims=["r"], values=r, unit=u)
                   for r, u in zip(ranges, UNITS, strict=True)],
        n_bins_all_dims=sc.array(dims=["axis"], values=[float(n) for n in NBINS], unit=None),
        single_bin_defines_iax=sc.array(dims=["axis"], values=[True] * 4),
        dax=sc.array(dims=["axis"], values=[0, 1], unit=None),
        offset=[sc.scalar(0.0, unit=u) for u in UNITS], changes_aspect_ratio=True)
    proj = sqw.SqwLineProj(
        lattice_spacing=sc.vector([A, A, A], unit="angstrom"),
        lattice_angle=sc.vector([90.0, 90.0, 90.0], unit="deg"),
        offset=[sc.scalar(0.0, unit=u) for u in UNITS], title="",
        label=["Q_h", "Q_k", "Q_l", "E"], u=sc.vector([1.0, 0.0, 0.0], unit="1/angstrom"),
        v=sc.vector([0.0, 1.0, 0.0], unit="1/angstrom"), w=None, non_orthogonal=False,
        type="aaa")
    return sqw.SqwDndMetadata(axes=axes, proj=proj, creation_date=datetime.now(tz=UTC))


def experiment(run: int, psi: float):
    return sqw.SqwIXExperiment(
        run_id=run, efix=sc.scalar(60.0, unit="meV"), emode=sqw.EnergyMode.direct,
        en=sc.linspace("energy_transfer", 0.0, 40.0, 9, unit="meV"),
        psi=sc.scalar(psi, unit="deg"), u=sc.vector([1.0, 0.0, 0.0], unit="1/angstrom"),
        v=sc.vector([0.0, 1.0, 0.0], unit="1/angstrom"), omega=sc.scalar(0.0, unit="deg"),
        dpsi=sc.scalar(0.5, unit="deg"), gl=sc.scalar(1.0, unit="deg"),
        gs=sc.scalar(-2.0, unit="deg"))


def main():
    signal, variance, counts = image()
    data = sc.array(dims=["u1", "u2", "u3", "u4"], values=signal, variances=variance)
    npix = sc.array(dims=["u1", "u2", "u3", "u4"], values=counts, unit=None)
    pixels = np.zeros((int(counts.sum()), 9), np.float32)
    pixels[:, 4] = 1  # run index
    (sqw.Sqw.build("scippneutron_v4_Ge_cut.sqw", title="Ge cut")
     .add_dnd_data(metadata(), data=data, counts=npix)
     .add_pixel_data(pixels, experiments=[experiment(0, 10.0), experiment(1, 20.0)])
     .add_empty_detector_params()
     .add_default_instrument(sqw.SqwIXNullInstrument(
         name="inst", source=sqw.SqwIXSource(name="ISIS", target_name="TS1",
                                             frequency=sc.scalar(50.0, unit="Hz"))))
     .add_default_sample(sqw.SqwIXSample(
         name="Ge", lattice_spacing=sc.vector([A, A, A], unit="angstrom"),
         lattice_angle=sc.vector([90.0, 90.0, 90.0], unit="deg")))
     .create())


if __name__ == "__main__":
    main()
