import numpy as np
import pytest

from inslib.io.histogram_h5 import read_histogram_h5
from inslib.io.nexus_processed import NexusFormatError


def test_al_map_axes_and_variance(shared):
    import h5py

    path = shared / "powder_Al_ARCS_Ei80" / "Al-iqe.h5"
    hist = read_histogram_h5(path)
    assert hist.shape == (120, 149)
    q_axis, e_axis = hist.axes
    assert q_axis.unit == "MomentumTransfer"
    assert e_axis.unit == "DeltaE"
    assert q_axis.edges[0] == pytest.approx(0.0)
    assert q_axis.edges[-1] == pytest.approx(12.0)
    assert e_axis.edges[0] == pytest.approx(-40.0)
    assert e_axis.edges[-1] == pytest.approx(79.2)
    with h5py.File(path) as f:
        stored = f["iqe/errors"][()]
    # 'errors' in these files is the variance: kept as variance, sigma is its root
    np.testing.assert_array_equal(hist.variance[~hist.mask], stored[~hist.mask])
    np.testing.assert_allclose(hist.errors[~hist.mask] ** 2, stored[~hist.mask])
    assert hist.mask.any()
    assert (~hist.mask).sum() > 10000


def test_graphite_dos_is_one_spectrum(shared):
    hist = read_histogram_h5(shared / "powder_graphite_ARCS" / "mph_graphite-Ei_130-dos.h5")
    assert hist.shape == (1, 280)
    assert hist.axes[1].unit == "DeltaE"


def test_vanadium_map(shared):
    hist = read_histogram_h5(shared / "powder_V_ARCS_Ei120" / "V-iqe.h5")
    assert hist.shape == (300, 149)


def test_other_hdf5_is_refused(tmp_path):
    import h5py

    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=[1.0])
    with pytest.raises(NexusFormatError, match="not a multiphonon histogram"):
        read_histogram_h5(path)
